import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import {
  EDS_SIDECAR_DIR,
  EDS_SIDECAR_ENV,
  EDS_SIDECAR_FILES,
  EDS_SIDECAR_MAIN,
  EDS_SIDECAR_REQUIRED_ENV,
  EndpointSlice,
  edsSidecarFilePaths,
  edsSidecarStartupProbeCommand,
  renderEdsFile,
} from "../../infra/envoy";
import { ENVOY_API_BUILD_TIMEOUT_MS, envoyApiChecker, envoyApiFileProblems } from "./support/envoy-api";
import { FakeKubeApi } from "./support/fake-kube-api";

function requiresOf(source: string): string[] {
  return [...source.matchAll(/require\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
}

describe("EDS sidecar files", () => {
  it("lists exactly the files of the sidecar directory", () => {
    expect([...EDS_SIDECAR_FILES].sort()).toStrictEqual(fs.readdirSync(EDS_SIDECAR_DIR).sort());
    expect(EDS_SIDECAR_FILES).toContain(EDS_SIDECAR_MAIN);
    expect(edsSidecarFilePaths()).toStrictEqual({
      "endpoints.js": path.join(EDS_SIDECAR_DIR, "endpoints.js"),
      "eds-file.js": path.join(EDS_SIDECAR_DIR, "eds-file.js"),
      "kube-api.js": path.join(EDS_SIDECAR_DIR, "kube-api.js"),
      "sidecar.js": path.join(EDS_SIDECAR_DIR, "sidecar.js"),
    });
  });

  it.each(EDS_SIDECAR_FILES.map((f) => [f]))("%s requires only Node.js builtins and sibling sidecar files", (file) => {
    const required = requiresOf(fs.readFileSync(path.join(EDS_SIDECAR_DIR, file), "utf8"));
    const builtins = new Set(builtinModules);
    const offending = required.filter((name) => {
      if (name.startsWith("node:")) return !builtins.has(name.slice(5));
      if (name.startsWith("./")) return !(EDS_SIDECAR_FILES as readonly string[]).includes(name.slice(2));
      return true;
    });
    expect(offending).toStrictEqual([]);
    expect(fs.readFileSync(path.join(EDS_SIDECAR_DIR, file), "utf8")).toMatch(/^\/\/ @ts-check\n"use strict";/);
  });

  it("exports the environment variable names it reads", () => {
    expect(EDS_SIDECAR_ENV).toStrictEqual({
      nodeName: "NODE_NAME",
      namespace: "NAMESPACE",
      serviceName: "SERVICE_NAME",
      clusterName: "CLUSTER_NAME",
      portName: "PORT_NAME",
      edsPath: "EDS_PATH",
      apiUrl: "KUBERNETES_API_URL",
      serviceHost: "KUBERNETES_SERVICE_HOST",
      servicePort: "KUBERNETES_SERVICE_PORT",
      serviceAccountDir: "SERVICE_ACCOUNT_DIR",
      backoffInitialMs: "BACKOFF_INITIAL_MS",
      backoffMaxMs: "BACKOFF_MAX_MS",
      watchTimeoutSeconds: "WATCH_TIMEOUT_SECONDS",
    });
    expect(EDS_SIDECAR_REQUIRED_ENV).toStrictEqual(["NODE_NAME", "NAMESPACE", "SERVICE_NAME", "CLUSTER_NAME", "PORT_NAME", "EDS_PATH"]);
  });
});

describe("edsSidecarStartupProbeCommand", () => {
  it("is a node one-liner that succeeds only once the file exists", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eds-probe-"));
    try {
      const file = path.join(dir, "endpoints.json");
      const command = edsSidecarStartupProbeCommand(file);
      expect(command).toStrictEqual(["node", "-e", `require("node:fs").accessSync(${JSON.stringify(file)})`]);
      const probe = () => spawnSync(process.execPath, command.slice(1)).status;
      expect(probe()).toBe(1);
      fs.writeFileSync(file, "{}");
      expect(probe()).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the sidecar as a program, copied flat into a directory without node_modules (as from a ConfigMap)", () => {
  let dir: string;
  let child: ChildProcess | undefined;
  const api = new FakeKubeApi();

  beforeAll(() => {
    envoyApiChecker();
  }, ENVOY_API_BUILD_TIMEOUT_MS);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "eds-sidecar-program-"));
    for (const file of EDS_SIDECAR_FILES) fs.copyFileSync(path.join(EDS_SIDECAR_DIR, file), path.join(dir, file));
  });

  afterEach(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function run(env: Record<string, string>): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
    const proc = spawn(process.execPath, [path.join(dir, EDS_SIDECAR_MAIN)], { cwd: dir, env: { PATH: process.env.PATH ?? "", ...env } });
    let stderr = "";
    proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => proc.on("exit", (code) => resolve({ code, stderr })));
    return { child: proc, exited };
  }

  it("exits 2 naming the missing configuration", async () => {
    const started = run({});
    child = started.child;
    const { code, stderr } = await started.exited;
    expect(code).toBe(2);
    expect(stderr).toContain("eds-sidecar configuration: NODE_NAME must be set;");
  });

  it("writes the EDS file from the API and exits 0 on SIGTERM", async () => {
    const baseUrl = await api.start();
    try {
      const slice: EndpointSlice = {
        metadata: { name: "decoder-a", resourceVersion: "7" },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.1.0.5"], nodeName: "ingress-1", conditions: { ready: true } }],
        ports: [{ name: "coap", port: 5683, protocol: "UDP" }],
      };
      api.list = { items: [slice], resourceVersion: "7" };
      fs.writeFileSync(path.join(dir, "token"), "program-token");
      const edsPath = path.join(dir, "endpoints.json");
      const started = run({
        NODE_NAME: "ingress-1",
        NAMESPACE: "iot",
        SERVICE_NAME: "decoder",
        CLUSTER_NAME: "decoder",
        PORT_NAME: "coap",
        EDS_PATH: edsPath,
        KUBERNETES_API_URL: baseUrl,
        SERVICE_ACCOUNT_DIR: dir,
      });
      child = started.child;
      const watch = await api.nextWatch(5000);
      expect(watch.request.authorization).toBe("Bearer program-token");
      expect(fs.readFileSync(edsPath, "utf8")).toBe(renderEdsFile([slice], { nodeName: "ingress-1", clusterName: "decoder", portName: "coap" }));
      expect(envoyApiFileProblems("eds", edsPath)).toStrictEqual([]);
      child.kill("SIGTERM");
      const { code } = await started.exited;
      expect(code).toBe(0);
    } finally {
      await api.stop();
    }
  });
});
