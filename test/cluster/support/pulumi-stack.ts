import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";

const REPO = path.resolve(__dirname, "../../..");

/** What one `pulumi` command did. */
export interface PulumiResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** The pinned toolchain (tools/pulumi/build.sh builds it on first use): the directory holding `pulumi`, and its PULUMI_HOME. */
function toolchain(): { bin: string; pulumiHome: string } {
  const output = execFileSync("bash", [path.join(REPO, "tools/pulumi/build.sh")], {
    encoding: "utf8",
    env: { ...process.env, TOOLCHAIN_BUILD: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [bin, home] = output.trim().split("\n");
  return { bin, pulumiHome: home.replace(/^PULUMI_HOME=/, "") };
}

/**
 * A stack of this project with its own file backend and passphrase in a scratch directory, run with the real engine,
 * language host and providers of the offline toolchain. Nothing ambient is used: no Pulumi login, no $KUBECONFIG
 * (it points at a file that does not exist, so a provider that fell back to it would fail), no plugin download.
 */
export class ScratchStack {
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    readonly stack: string,
    readonly dir: string,
    readonly configFile: string,
    tools: { bin: string; pulumiHome: string },
  ) {
    this.env = {
      ...process.env,
      PATH: `${tools.bin}:${process.env.PATH ?? ""}`,
      PULUMI_HOME: tools.pulumiHome,
      PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: "cluster-test-throwaway",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
      KUBECONFIG: path.join(dir, "no-ambient-kubeconfig"),
      // No Scaleway resource is planned on an existing cluster with an external gateway; if one were, its API calls
      // would fail at once on this closed port.
      SCW_API_URL: "http://127.0.0.1:9",
      SCW_ACCESS_KEY: "SCWXXXXXXXXXXXXXXXXX",
      SCW_SECRET_KEY: "00000000-0000-4000-8000-000000000000",
      SCW_DEFAULT_PROJECT_ID: "00000000-0000-4000-8000-000000000001",
    };
  }

  /**
   * Creates the stack with `sections` as its project config (`iot-udp-ingress:<section>`) and `secrets` set with
   * `pulumi config set --secret --path` (key paths under the project namespace), so they are stored encrypted.
   */
  static async create(stack: string, sections: Record<string, unknown>, secrets: Record<string, string>): Promise<ScratchStack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `iot-udp-ingress-${stack}-`));
    fs.mkdirSync(path.join(dir, "state"));
    const configFile = path.join(dir, `Pulumi.${stack}.yaml`);
    const scratch = new ScratchStack(stack, dir, configFile, toolchain());
    // `stack init` writes the stack's encryption salt into Pulumi.<stack>.yaml next to the project file; run it in
    // a copy of the project file so the salt lands here, not in the repository.
    const initDir = path.join(dir, "init");
    fs.mkdirSync(initDir);
    fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(initDir, "Pulumi.yaml"));
    await scratch.mustRun(["stack", "init"], initDir);
    const salt = fs.readFileSync(path.join(initDir, `Pulumi.${stack}.yaml`), "utf8");
    const config = Object.fromEntries(Object.entries(sections).map(([key, value]) => [`iot-udp-ingress:${key}`, value]));
    fs.writeFileSync(configFile, `${salt.trim()}\n${stringify({ config })}`);
    for (const [keyPath, value] of Object.entries(secrets)) await scratch.setSecret(keyPath, value);
    return scratch;
  }

  /**
   * Sets a project config value (key path under the project namespace) as a secret. The value goes in on stdin, so it
   * never shows in a process list; `--raw` keeps it byte for byte.
   */
  async setSecret(keyPath: string, value: string): Promise<void> {
    await this.mustRun(["config", "set", "--secret", "--raw", "--path", `iot-udp-ingress:${keyPath}`], REPO, value);
  }

  /** Runs `pulumi <args>` on this stack from the repository (the project's program); never throws. */
  run(args: string[], cwd = REPO, input?: string): Promise<PulumiResult> {
    const started = Date.now();
    // The commands that read the stack's config take its file; `stack export` and `stack output` refuse the flag.
    const readsConfig = cwd === REPO && ["up", "preview", "destroy", "refresh", "config"].includes(args[0]);
    const full = [...args, "--stack", this.stack, "--non-interactive", ...(readsConfig ? ["--config-file", this.configFile] : [])];
    return new Promise((resolve) => {
      const child = execFile("pulumi", full, { cwd, env: this.env, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - started });
      });
      child.stdin?.end(input ?? "");
    });
  }

  /** `run` that must succeed. */
  async mustRun(args: string[], cwd = REPO, input?: string): Promise<PulumiResult> {
    const result = await this.run(args, cwd, input);
    if (result.code !== 0) {
      throw new Error(`pulumi ${args.slice(0, 2).join(" ")} (${this.stack}) failed with ${result.code}:\n${result.stderr}\n${result.stdout.slice(-8000)}`);
    }
    return result;
  }

  /** The stack's outputs, secrets revealed. */
  async outputs(): Promise<Record<string, unknown>> {
    return JSON.parse((await this.mustRun(["stack", "output", "--json", "--show-secrets"])).stdout) as Record<string, unknown>;
  }

  /** Removes the scratch directory (the stack's state with it). */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The resource changes (operation -> count) of a `--json` run: `pulumi up --json` and `destroy --json` stream engine
 * events one a line and end with a `summaryEvent` (pulumi pkg/backend/display/json.go, ShowJSONEvents).
 */
export function resourceChanges(result: PulumiResult): Record<string, number> {
  for (const line of result.stdout.trim().split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    const event = JSON.parse(line) as { summaryEvent?: { resourceChanges?: Record<string, number> } };
    if (event.summaryEvent !== undefined) return event.summaryEvent.resourceChanges ?? {};
  }
  throw new Error(`no summaryEvent in the output of the ${result.code === 0 ? "successful" : "failed"} run:\n${result.stdout.slice(-2000)}`);
}

/** The error diagnostics a `--json` run streamed. */
export function errorDiagnostics(result: PulumiResult): string[] {
  return result.stdout
    .trim()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { diagnosticEvent?: { severity: string; message: string } })
    .filter((event) => event.diagnosticEvent?.severity === "error")
    .map((event) => event.diagnosticEvent?.message ?? "");
}
