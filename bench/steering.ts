/**
 * Part 2: the steering agent's work as the fleet grows. The real decision program and the real agent, rendered from
 * the plan, on synthetic API lists (bench/api-lists.ts), with the gateway's ruleset loaded in a namespace so that
 * the agent's transaction is applied for real.
 */
import { chmodSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_GATEWAY_PATHS, gatewayScriptPath, renderGatewayRuleset, renderSteeringAgentScript, type GatewayPaths, type GatewayPlan } from "../infra/gateway";
import { steeringApiState, type ApiFiles } from "./api-lists";
import { benchPlan } from "./plan";
import type { Cleanup } from "../harness/cleanup";
import { requireTool, run, runOk } from "../harness/commands";
import { nsExec } from "../harness/netns";
import { requireGnuTime, timed } from "../harness/timed";
import { spread, type SteeringRow, type SteeringSize } from "./tables";

interface Files {
  readonly nodes: string;
  readonly pods: string;
  readonly slices: string;
  readonly routes: string;
  readonly combined: string;
}

function writeApiFiles(state: ApiFiles, dir: string): Files {
  mkdirSync(dir, { recursive: true });
  const files = {
    nodes: join(dir, "nodes.json"),
    pods: join(dir, "pods.json"),
    slices: join(dir, "slices.json"),
    routes: join(dir, "routes.txt"),
    combined: join(dir, "input.json"),
  };
  writeFileSync(files.nodes, state.nodes);
  writeFileSync(files.pods, state.pods);
  writeFileSync(files.slices, state.slices);
  writeFileSync(files.routes, state.routes);
  // The object the agent builds from the three lists (steering-agent.sh `decide`), built the same way, written by jq
  // itself (tens of MB at the largest sizes).
  runOk("sh", ["-c", 'out="$1"; shift; exec jq "$@" > "$out"', "sh", files.combined,
    "-n",
    "--slurpfile", "nodes", files.nodes,
    "--slurpfile", "pods", files.pods,
    "--slurpfile", "slices", files.slices,
    "{nodes: $nodes[0], envoyPods: $pods[0], decoderSlices: $slices[0]}",
  ]);
  return files;
}

/** The decision program's arguments, as the agent passes them (steering-agent.sh `decide`). */
function decisionArgs(plan: GatewayPlan, files: Files, now: number): string[] {
  const s = plan.steering;
  return [
    "-c",
    "--arg", "labelKey", s.ingressNodeLabel.key,
    "--arg", "labelValue", s.ingressNodeLabel.value,
    "--arg", "decoderService", s.decoderServiceName,
    "--argjson", "buckets", String(s.buckets),
    "--rawfile", "routes", files.routes,
    "--argjson", "now", String(now),
    "-f", gatewayScriptPath("steering-targets.jq"),
  ];
}

/** One decision of the real program on `state` (used by part 1 to fill its map). */
export function runDecisionProgram(state: ApiFiles, buckets: number, now: number, work: string): string {
  const files = writeApiFiles(state, join(work, `decision-api-${buckets}`));
  const out = timed("jq", decisionArgs(benchPlan(buckets), files, now), { stdinFile: files.combined });
  return out.stdout;
}

export interface SteeringBenchOptions {
  readonly repetitions: number;
  readonly sizes: readonly SteeringSize[];
  readonly log: (line: string) => void;
}

export async function steeringBench(cleanup: Cleanup, options: SteeringBenchOptions): Promise<SteeringRow[]> {
  for (const tool of ["jq", "nft", "conntrack", "bash", "flock"]) requireTool(tool);
  requireGnuTime();
  const ns = cleanup.netns("agt");
  const work = cleanup.tempDir("steering");
  const api = join(work, "api");
  mkdirSync(api);
  const kubectl = join(work, "kubectl");
  writeFileSync(
    kubectl,
    `#!/bin/sh
# Stand-in for kubectl: prints the prepared lists.
case " $* " in
  *" get nodes "*) exec cat '${api}/nodes.json' ;;
  *" get pods "*) exec cat '${api}/pods.json' ;;
  *" get endpointslices.discovery.k8s.io "*) exec cat '${api}/slices.json' ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`,
  );
  const wg = join(work, "wg");
  writeFileSync(
    wg,
    `#!/bin/sh
# Stand-in for wg: the Kilo interface's peers as kgctl connect would set them; no uplink peers.
case "$3" in
  allowed-ips) exec cat '${api}/routes.txt' ;;
  *) exit 0 ;;
esac
`,
  );
  chmodSync(kubectl, 0o755);
  chmodSync(wg, 0o755);
  const paths: GatewayPaths = {
    ...DEFAULT_GATEWAY_PATHS,
    kubectl,
    wg,
    kubeconfig: join(work, "kubeconfig"),
    jq: requireTool("jq"),
    nft: requireTool("nft"),
    conntrack: requireTool("conntrack"),
    steeringProgram: gatewayScriptPath("steering-targets.jq"),
    steeringStateDir: join(work, "state"),
    steeringRunDir: join(work, "run"),
    textfileDir: join(work, "textfile"),
  };
  writeFileSync(paths.kubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\n");
  const env = { ...process.env, CACHE_DIRECTORY: join(work, "cache") };

  const rows: SteeringRow[] = [];
  let loadedBuckets: number | undefined;
  for (const size of options.sizes) {
    const plan = benchPlan(size.buckets);
    const agent = join(work, `agent-${size.buckets}`);
    if (loadedBuckets !== size.buckets) {
      const ruleset = join(work, `ruleset-${size.buckets}.nft`);
      writeFileSync(ruleset, renderGatewayRuleset(plan));
      nsExec(ns, "nft", ["-f", ruleset]);
      writeFileSync(agent, renderSteeringAgentScript(plan, paths));
      loadedBuckets = size.buckets;
    }
    const now = Math.floor(Date.now() / 1000);
    // Kilo's freshness is 60 s against the agent's clock; the nodes stay fresh for the whole size.
    const state = steeringApiState(size.nodes, size.perNode, now + 3600);
    const files = writeApiFiles(state, api);
    const listsMb = (statSync(files.nodes).size + statSync(files.pods).size + statSync(files.slices).size) / 2 ** 20;
    const label = `${size.nodes} nodes x ${size.perNode} endpoints, ${size.buckets} buckets`;
    options.log(`steering: ${label} (${listsMb.toFixed(2)} MB of lists)`);

    const parse: number[] = [];
    for (let rep = 0; rep < options.repetitions; rep++) parse.push(timed("jq", ["-c", "length"], { stdinFile: files.combined }).ms);
    const decision = { ms: [] as number[], mb: [] as number[] };
    let output = "";
    for (let rep = 0; rep < options.repetitions; rep++) {
      const t = timed("jq", decisionArgs(plan, files, now), { stdinFile: files.combined });
      decision.ms.push(t.ms);
      decision.mb.push(t.peakMb);
      output = t.stdout;
    }
    const parsed = JSON.parse(output) as { targets: unknown[]; buckets: unknown[] };
    if (parsed.targets.length !== size.nodes || parsed.buckets.length !== size.buckets) {
      throw new Error(`${label}: the decision has ${parsed.targets.length} targets and ${parsed.buckets.length} buckets`);
    }
    options.log(`    decision program: ${decision.ms.map((ms) => ms.toFixed(0)).join(", ")} ms`);

    const agentRun = { ms: [] as number[], mb: [] as number[] };
    for (let rep = 0; rep < options.repetitions; rep++) {
      // Without the last applied transaction the agent rewrites the map, as it does when the decision changed.
      rmSync(join(paths.steeringRunDir, "applied.nft"), { force: true });
      const t = timed("bash", [agent, "sync"], { ns, env });
      agentRun.ms.push(t.ms);
      agentRun.mb.push(t.peakMb);
    }
    const loaded = nsExec(ns, "nft", ["list", "chain", "ip", "iot_gateway_nat", "steer"]);
    if (!loaded.includes(`mod ${size.buckets}`)) throw new Error(`${label}: the agent did not apply its map:\n${loaded}`);
    options.log(`    agent run: ${agentRun.ms.map((ms) => ms.toFixed(0)).join(", ")} ms`);

    const transaction = join(work, "steer.nft");
    writeFileSync(transaction, runOk("bash", [agent, "render"], output));
    const apply: number[] = [];
    for (let rep = 0; rep < options.repetitions; rep++) {
      const timedApply = run("ip", ["netns", "exec", ns, "bash", "-c", 'TIMEFORMAT=%3R; time "$1" -f "$2"', "bash", paths.nft, transaction], undefined, { timeoutMs: 600_000 });
      if (timedApply.status !== 0) throw new Error(`nft -f: ${timedApply.stderr}`);
      apply.push(Number(timedApply.stderr.trim().split("\n").pop()) * 1000);
    }
    options.log(`    nft apply: ${apply.map((ms) => ms.toFixed(1)).join(", ")} ms`);

    rows.push({
      ...size,
      listsMb,
      parseMs: spread(parse),
      decisionMs: spread(decision.ms),
      decisionMb: spread(decision.mb),
      agentMs: spread(agentRun.ms),
      agentMb: spread(agentRun.mb),
      applyMs: spread(apply),
    });
  }
  return rows;
}
