/**
 * The EDS sidecar as a program: copied flat into a directory without node_modules (as from a ConfigMap) and run by
 * Node against a fake Kubernetes API (harness/fake-kube-api.ts). sidecar-files.test.ts and sidecar-files.system-test.ts
 * (which has Envoy's API judge the file written) share it.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FakeKubeApi } from "../../../harness/fake-kube-api";
import { EDS_SIDECAR_DIR, EDS_SIDECAR_FILES, EDS_SIDECAR_MAIN, renderEdsFile, type EndpointSlice } from "../../../infra/envoy";

export interface SidecarProgram {
  /** Starts the program with exactly `env` (and PATH); resolves `exited` when it exits. */
  run(env: Record<string, string>): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> };
  /** The directory the program runs in. */
  dir(): string;
}

/** A fresh copy of the sidecar per test, its process killed and its directory removed after each. Call inside a describe. */
export function sidecarProgramPerTest(): SidecarProgram {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "eds-sidecar-program-"));
    for (const file of EDS_SIDECAR_FILES) fs.copyFileSync(path.join(EDS_SIDECAR_DIR, file), path.join(dir, file));
  });

  afterEach(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  return {
    dir: () => dir,
    run(env) {
      const proc = spawn(process.execPath, [path.join(dir, EDS_SIDECAR_MAIN)], { cwd: dir, env: { PATH: process.env.PATH ?? "", ...env } });
      child = proc;
      let stderr = "";
      proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => proc.on("exit", (code) => resolve({ code, stderr })));
      return { child: proc, exited };
    },
  };
}

/**
 * The program lists one slice from the fake API, writes the EDS file (handed to `checkFile` while it runs) and exits 0
 * on SIGTERM.
 */
export async function writesEdsFileScenario(program: SidecarProgram, checkFile: (edsPath: string) => void = () => undefined): Promise<void> {
  const api = new FakeKubeApi();
  const baseUrl = await api.start();
  try {
    const slice: EndpointSlice = {
      metadata: { name: "decoder-a", resourceVersion: "7" },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.1.0.5"], nodeName: "ingress-1", conditions: { ready: true } }],
      ports: [{ name: "coap", port: 5683, protocol: "UDP" }],
    };
    api.list = { items: [slice], resourceVersion: "7" };
    fs.writeFileSync(path.join(program.dir(), "token"), "program-token");
    const edsPath = path.join(program.dir(), "endpoints.json");
    const started = program.run({
      NODE_NAME: "ingress-1",
      NAMESPACE: "iot",
      SERVICE_NAME: "decoder",
      CLUSTER_NAME: "decoder",
      PORT_NAME: "coap",
      EDS_PATH: edsPath,
      KUBERNETES_API_URL: baseUrl,
      SERVICE_ACCOUNT_DIR: program.dir(),
    });
    const watch = await api.nextWatch(5000);
    expect(watch.request.authorization).toBe("Bearer program-token");
    expect(fs.readFileSync(edsPath, "utf8")).toBe(renderEdsFile([slice], { nodeName: "ingress-1", clusterName: "decoder", portName: "coap" }));
    checkFile(edsPath);
    started.child.kill("SIGTERM");
    const { code } = await started.exited;
    expect(code).toBe(0);
  } finally {
    await api.stop();
  }
}
