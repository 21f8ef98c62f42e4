import { spawnSync } from "node:child_process";
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
  edsSidecarFilePaths,
  edsSidecarStartupProbeCommand,
} from "../../infra/envoy";
import { sidecarProgramPerTest, writesEdsFileScenario } from "./support/sidecar-program";

// Envoy's own API judges the file the program writes in sidecar-files.system-test.ts.

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
  const program = sidecarProgramPerTest();

  it("exits 2 naming the missing configuration", async () => {
    const started = program.run({});
    const { code, stderr } = await started.exited;
    expect(code).toBe(2);
    expect(stderr).toContain("eds-sidecar configuration: NODE_NAME must be set;");
  });

  it("writes the EDS file from the API and exits 0 on SIGTERM", async () => {
    await writesEdsFileScenario(program);
  });
});
