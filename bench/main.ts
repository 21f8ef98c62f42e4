/**
 * What this project's own parts cost as the fleet grows, and how the path recovers and holds its budget:
 *
 *   npm run bench                      # every part, the whole matrix, 3 repetitions; writes bench/results.md
 *   npm run bench -- --parts 2,3       # some parts only (printed, not written)
 *   npm run bench -- --quick           # small sizes, one repetition, for trying changes (printed, not written)
 *   npm run bench -- --reps 5          # more repetitions
 *
 * Part 4 builds the lab (lab/lab.ts: wireguard-go, the local Kubernetes control plane, the stand-ins) and so takes the lab's
 * run lock, waiting while another lab run holds it.
 *
 * Needs root (network namespaces), iproute2, nftables, conntrack, jq, GNU time and Go; part 4 also the lab's tools. Prints one table per part
 * (bench/tables.ts) and, for a full run, writes the same to bench/results.md. Every namespace is named
 * `bnch-<pid>-...` and removed on exit, on failure and on SIGINT/SIGTERM.
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { edsBench } from "./eds";
import { recoveryBench } from "./recovery";
import { sessionBudgetBench } from "./session-budget";
import { buildStandins } from "../lab/gobuild";
import { gatewayBench } from "./gateway";
import { steeringBench } from "./steering";
import { Cleanup } from "../harness/cleanup";
import { requireTool, runOk } from "../harness/commands";
import { goVersion } from "../harness/gobuild";
import { requireGnuTime } from "../harness/timed";
import {
  EDS_SIZES,
  GATEWAY_CASES,
  renderResultsFile,
  renderTables,
  STEERING_SIZES,
  type BenchResults,
  type BudgetResults,
  type EdsRow,
  type RecoveryResults,
  type GatewayRow,
  type MachineInfo,
  type SteeringRow,
} from "./tables";

interface Options {
  parts: Set<number>;
  repetitions: number;
  quick: boolean;
  out: string | undefined;
  args: string[];
}

const ALL_PARTS = [1, 2, 3, 4, 5];
const USAGE = "usage: npm run bench -- [--parts 1,2,3,4,5] [--reps N] [--quick] [--out FILE]";

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { parts: new Set(ALL_PARTS), repetitions: 3, quick: false, out: undefined, args: [...argv] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--parts") {
      const parts = (argv[++i] ?? "").split(",").map(Number);
      if (parts.length === 0 || parts.some((p) => !ALL_PARTS.includes(p))) throw new Error(`--parts takes a list of ${ALL_PARTS.join(", ")} (${USAGE})`);
      options.parts = new Set(parts);
    } else if (arg === "--reps") {
      const reps = Number(argv[++i]);
      if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw new Error(`--reps takes an integer from 1 to 20 (${USAGE})`);
      options.repetitions = reps;
    } else if (arg === "--quick") {
      options.quick = true;
    } else if (arg === "--out") {
      options.out = argv[++i];
      if (options.out === undefined) throw new Error(USAGE);
    } else if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${arg} (${USAGE})`);
    }
  }
  if (options.quick && !process.argv.includes("--reps")) options.repetitions = 1;
  return options;
}

function machineInfo(): MachineInfo {
  const model = /^model name\s*:\s*(.+)$/m.exec(runOk("cat", ["/proc/cpuinfo"]))?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
  return {
    cpus: Number(runOk("nproc", []).trim()),
    cpuModel: model.replace(/\s+/g, " "),
    kernel: release(),
    tmpFs: runOk("findmnt", ["-no", "FSTYPE", "-T", tmpdir()]).trim().split("\n")[0] || "unknown",
    loadAverage: loadavg()[0],
    node: process.version,
    jq: runOk("jq", ["--version"]).trim(),
    nft: /v[\d.]+/.exec(runOk("nft", ["--version"]))?.[0] ?? "unknown",
    go: goVersion("build the bench's UDP sender"),
  };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("the bench needs root (network namespaces, nftables, conntrack)");
  for (const tool of ["ip", "nft", "conntrack", "jq", "bash", "flock"]) requireTool(tool);
  requireGnuTime();
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
  const machine = machineInfo();

  // Every namespace is `bnch-<pid>-<role>`, every directory `iot-bench-<pid>-...`: leftovers of a killed run are recognisable.
  const cleanup = new Cleanup({ netnsPrefix: "bnch", tempPrefix: "iot-bench" });
  // Part 4's lab has its own clean-up (its fixed `iuil` names, its control plane, its run lock).
  const extra: Array<() => void> = [];
  const runExtra = () => {
    for (const fn of extra.splice(0).reverse()) {
      try {
        fn();
      } catch (error) {
        process.stderr.write(`clean-up: ${(error as Error).message}\n`);
      }
    }
  };
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal (tsx passes on the one the terminal sent) must not find the default handler and kill the
    // process half-way through clean-up.
    if (signalled) return;
    signalled = true;
    process.stderr.write(`\n${signal}: removing the bench's namespaces and processes\n`);
    cleanup.run();
    runExtra();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.once("exit", () => {
    cleanup.run();
    runExtra();
  });
  cleanup.removeLeftovers();

  const gatewayCases = options.quick ? GATEWAY_CASES.filter((c) => c.id === "repeat-256" || c.id === "new-256") : GATEWAY_CASES;
  const steeringSizes = options.quick ? STEERING_SIZES.filter((s) => s.nodes <= 30 && s.perNode <= 10) : STEERING_SIZES;
  const edsSizes = options.quick ? EDS_SIZES.filter((s) => s.endpoints <= 1000) : EDS_SIZES;

  let gateway: GatewayRow[] = [];
  let steering: SteeringRow[] = [];
  let eds: EdsRow[] = [];
  let recovery: RecoveryResults | undefined;
  let budget: BudgetResults | undefined;
  try {
    if (options.parts.has(1)) gateway = await gatewayBench(cleanup, { repetitions: options.repetitions, cases: gatewayCases, log });
    if (options.parts.has(2)) steering = await steeringBench(cleanup, { repetitions: options.repetitions, sizes: steeringSizes, log });
    if (options.parts.has(3)) eds = await edsBench(cleanup, { repetitions: options.repetitions, sizes: edsSizes, log });
    if (options.parts.has(4)) recovery = await recoveryBench(cleanup, { repetitions: options.repetitions, log, onCleanup: (fn) => extra.push(fn) });
    if (options.parts.has(5)) budget = await sessionBudgetBench(cleanup, { repetitions: options.repetitions, binary: buildStandins(), log });
  } finally {
    cleanup.run();
    runExtra();
  }

  const results: BenchResults = {
    machine,
    run: {
      command: ["npm run bench", ...(options.args.length > 0 ? ["--", ...options.args] : [])].join(" "),
      date: new Date(started).toISOString().slice(0, 10),
      minutes: (Date.now() - started) / 60_000,
      repetitions: options.repetitions,
    },
    gateway,
    steering,
    eds,
    ...(recovery === undefined ? {} : { recovery }),
    ...(budget === undefined ? {} : { budget }),
  };
  process.stdout.write(`${renderTables(results)}\n`);
  const full = !options.quick && options.parts.size === ALL_PARTS.length;
  const out = options.out ?? (full ? join(__dirname, "results.md") : undefined);
  if (out !== undefined) {
    writeFileSync(out, renderResultsFile(results));
    log(`written to ${out}`);
  } else {
    log("a partial run: bench/results.md is left as it was");
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
