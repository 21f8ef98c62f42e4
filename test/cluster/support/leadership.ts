import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import {
  LEADERSHIP_METRICS_FILE,
  LEADERSHIP_STATE_FILE,
  renderLeadershipAgentScript,
  type GatewayLeadershipOptions,
} from "../../../infra/gateway";
import { renderTokenKubeconfig } from "../../../infra/kubernetes";
import { requireTool } from "../../../harness/commands";
import { clusterEnv, eventually, getJson } from "./cluster";

/*
 * One gateway of a pair as leadership.cluster-test.ts runs it: the rendered leadership agent in a directory of its own
 * (state, textfile metrics, kubectl cache), with hooks that write what forwarding would do to a role file and a hook
 * log, and the way a test stops the VM (nothing forwards there any more) and brings it back.
 */

/** What a step leaves in the agent's state file (the fields the tests read). */
export interface LeadershipState {
  role: "active" | "standby";
  holder: string;
  renewTime: string | null;
  acquireTime: string | null;
  transitions: number | null;
  leaseDurationSeconds: number | null;
  observed: { record: Record<string, unknown>; time: string; timeMicros: number } | null;
  lastRenew: string | null;
  lastRenewMicros: number;
  step: { time: string; timeMicros: number; outcome: string; exit: number };
  errorsTotal: number;
  conflictsTotal: number;
  lastError: { time: string; timeMicros: number; message: string } | null;
}

export interface StepResult {
  gateway: string;
  status: number | null;
  stderr: string;
  /** Date.now() before the step was started and after it ended. */
  startedAt: number;
  endedAt: number;
  /** What the hooks left: the role this gateway forwards in after the step. */
  role: string;
  state: LeadershipState;
}

/** One line of a gateway's hook log: the role it took, at that local time in milliseconds. */
export interface HookEvent {
  at: number;
  role: "active" | "standby" | "down";
}

export class PairGateway {
  readonly stateDir: string;
  readonly textfileDir: string;
  readonly cacheDir: string;
  private readonly roleFile: string;
  private readonly hookLog: string;
  private script = "";

  constructor(
    readonly identity: string,
    readonly dir: string,
  ) {
    this.stateDir = path.join(dir, "state");
    this.textfileDir = path.join(dir, "textfile");
    this.cacheDir = path.join(dir, "cache");
    this.roleFile = path.join(dir, "role");
    this.hookLog = path.join(dir, "hooks.log");
    fs.mkdirSync(dir, { recursive: true });
  }

  /** The hooks: like a forwarding unit started or stopped, they leave the role in a file and log when they ran. */
  hooks(): Pick<GatewayLeadershipOptions, "onActive" | "onStandby"> {
    const bash = requireTool("bash");
    const hook = (role: string) => [bash, "-c", `echo ${role} >"$0/role"; echo "\${EPOCHREALTIME/./} ${role} $LEADERSHIP_CHANGED" >>"$0/hooks.log"`, this.dir];
    return { onActive: hook("active"), onStandby: hook("standby") };
  }

  /** Renders the agent with these options (hooks and identity are the gateway's) and this kubeconfig and kubectl. */
  render(options: Omit<GatewayLeadershipOptions, "identity" | "onActive" | "onStandby">, kubeconfig: string, kubectl: string, transform = (text: string) => text): string {
    this.script = path.join(this.dir, "iot-gateway-leadership");
    const text = renderLeadershipAgentScript(
      { ...options, identity: this.identity, ...this.hooks() },
      { kubectl, kubeconfig, jq: requireTool("jq"), textfileDir: this.textfileDir, leadershipStateDir: this.stateDir },
    );
    fs.writeFileSync(this.script, transform(text), { mode: 0o755 });
    return this.script;
  }

  /**
   * Fills kubectl's discovery cache, as a gateway has it after its first step: that step's discovery is not what the
   * tests time, and it would not fit one retry period's budget on a busy machine.
   */
  warm(kubeconfig: string, kubectl: string): Promise<void> {
    return new Promise((resolve) => execFile(kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", this.cacheDir, "api-resources"], () => resolve()));
  }

  /** One step, as the timer runs it (its own environment, systemd's CACHE_DIRECTORY). */
  step(): Promise<StepResult> {
    const startedAt = Date.now();
    return new Promise((resolve) => {
      const child = spawn("bash", [this.script, "step"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: this.dir, CACHE_DIRECTORY: this.cacheDir, LC_ALL: "C" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("close", (status) =>
        resolve({ gateway: this.identity, status, stderr, startedAt, endedAt: Date.now(), role: this.role(), state: this.state() }),
      );
    });
  }

  role(): string {
    return fs.existsSync(this.roleFile) ? fs.readFileSync(this.roleFile, "utf8").trim() : "";
  }

  state(): LeadershipState {
    return JSON.parse(fs.readFileSync(path.join(this.stateDir, LEADERSHIP_STATE_FILE), "utf8")) as LeadershipState;
  }

  metricsText(): string {
    return fs.readFileSync(path.join(this.textfileDir, LEADERSHIP_METRICS_FILE), "utf8");
  }

  /** The VM stops: nothing forwards there any more, and its agent runs no step until `up`. */
  down(): void {
    fs.writeFileSync(this.roleFile, "down\n");
    fs.appendFileSync(this.hookLog, `${Date.now() * 1000} down -\n`);
  }

  /** The VM boots again: forwarding is off until a hook says otherwise; the agent's state directory persisted. */
  up(): void {
    fs.rmSync(this.roleFile, { force: true });
  }

  hookEvents(): HookEvent[] {
    if (!fs.existsSync(this.hookLog)) return [];
    return fs
      .readFileSync(this.hookLog, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [micros, role] = line.split(" ");
        return { at: Number(micros) / 1000, role: role as HookEvent["role"] };
      });
  }
}

/** The spans [from, to) in which a gateway forwarded: from an `active` hook to the next `standby` or `down`. */
export function activeSpans(events: readonly HookEvent[], until: number): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let from: number | undefined;
  for (const event of events) {
    if (event.role === "active" && from === undefined) from = event.at;
    if (event.role !== "active" && from !== undefined) {
      spans.push([from, event.at]);
      from = undefined;
    }
  }
  if (from !== undefined) spans.push([from, until]);
  return spans;
}

/** Where two gateways' active spans overlap (split brain), as [from, to) spans. */
export function overlaps(a: ReadonlyArray<[number, number]>, b: ReadonlyArray<[number, number]>): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  for (const [aFrom, aTo] of a) {
    for (const [bFrom, bTo] of b) {
      const from = Math.max(aFrom, bFrom);
      const to = Math.min(aTo, bTo);
      if (from < to) found.push([from, to]);
    }
  }
  return found;
}

/**
 * kubectl for a race between gateways: each `get lease` goes to the real kubectl, then waits until `readers` gateways
 * have read, so they all act on the same read (the same resourceVersion); writes then go through one at a time, so
 * which one loses is not left to the scheduler. Everything else is the real kubectl.
 */
export class RaceKubectl {
  readonly path: string;

  constructor(
    private readonly dir: string,
    realKubectl: string,
    readers: number,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.path = path.join(dir, "kubectl");
    fs.writeFileSync(
      this.path,
      `#!/bin/bash
# kubectl for a race: every gateway reads the Lease before any of them writes it; writes one at a time.
case " $* " in
  *" get lease "*)
    status=0
    '${realKubectl}' "$@" || status=$?
    : >'${dir}'/read.$$
    for _ in $(seq 200); do
      reads=('${dir}'/read.*)
      [ "\${#reads[@]}" -ge ${readers} ] && break
      sleep 0.01
    done
    exit "$status" ;;
  *" replace "* | *" create "*)
    exec 8>'${dir}'/write.lock
    flock 8
    status=0
    '${realKubectl}' "$@" || status=$?
    echo "$status" >>'${dir}'/writes.log
    exit "$status" ;;
  *) exec '${realKubectl}' "$@" ;;
esac
`,
      { mode: 0o755 },
    );
  }

  /** Forgets the reads of the last race, and its writes. */
  reset(): void {
    for (const name of fs.readdirSync(this.dir)) if (name.startsWith("read.") || name === "writes.log") fs.rmSync(path.join(this.dir, name));
  }

  /** The exit status of each write of the last race, in the order they went through. */
  writes(): number[] {
    const file = path.join(this.dir, "writes.log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number) : [];
  }
}

/** A kubeconfig with a ServiceAccount's token, for the local cluster's API server or `server`. */
export function tokenKubeconfig(token: string, user: string, server: string = clusterEnv().server): string {
  const env = clusterEnv();
  return renderTokenKubeconfig({ clusterName: "leadership-test", server, caCertificate: fs.readFileSync(env.caFile).toString("base64"), token, user });
}

/** Waits for the token controller to fill a ServiceAccount token Secret; returns the token and how long it took. */
export async function serviceAccountToken(namespace: string, secret: string): Promise<{ token: string; ms: number }> {
  const { value, ms } = await eventually(`the token controller to fill ${namespace}/${secret}`, async () => {
    const data = (await getJson<{ data?: { token?: string } }>(["-n", namespace, "get", "secret", secret])).data;
    return data?.token ? Buffer.from(data.token, "base64").toString("utf8") : undefined;
  });
  return { token: value, ms };
}

/** A local TCP port that nothing listens on (bound, then closed): an API server that is down. */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** RFC3339 micro time (as the API server writes metav1.MicroTime) in milliseconds since the epoch. */
export function microTimeMs(value: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})Z$/.exec(value);
  if (!match) throw new Error(`not an RFC3339 micro time: ${value}`);
  return Date.parse(`${match[1]}Z`) + Number(match[2]) / 1000;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
