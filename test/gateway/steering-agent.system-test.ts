import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
  DEFAULT_GATEWAY_PATHS,
  GATEWAY_METRICS_FILE,
  MESH_STATUS_FILE,
  STEERING_EXIT_API_ERROR,
  STEERING_EXIT_MESH_STALE,
  STEERING_EXIT_NOTHING_APPLIED,
  STEERING_EXIT_NO_TARGETS,
  STEERING_TARGETS_JQ,
  renderGatewayRuleset,
  renderSteeringAgentScript,
  type GatewayPaths,
  type SteeringTarget,
} from "../../infra/gateway";
import { requireTool, run, type RunResult } from "../../harness/commands";
import { FakeKubectl } from "../../harness/fake-kubectl";
import { addNetns, deleteNetns, nsExec, uniqueNetnsName } from "../../harness/netns";
import { startWireguardGo, stopWireguardGo } from "../../harness/processes";
import { generateKeyPair } from "../../infra/wireguard";
import { checkedMetricValues } from "../observability/support/promtool";
import { apiLists, envoyPod, healthyNodes, nodeKey, type ApiState, type WgPeer } from "./support/fixtures";
import { gatewayPlan, withInterfaceNames } from "./support/plan";
import { renderSteeringUpdate } from "./support/steering-oracle";

/*
 * The agent's `sync` run for real (bash, jq, nft, conntrack, wg) in a namespace holding the rendered ruleset and a
 * real (wireguard-go) Kilo interface whose peers the test sets as kgctl connect would, against a stand-in kubectl
 * that serves fixture API lists or fails like an unreachable API server.
 */

// Interface names are global to the machine for wireguard-go (its control socket), so this one is unique to the run.
const KILO_IFACE = `kst${process.pid % 100000}`;
const options = withInterfaceNames(gatewayPlan(), { kilo: KILO_IFACE });
const ns = uniqueNetnsName("agent");
let wireguardPid: number | undefined;
/** Nodes seen by Kilo just now: the agent checks Kilo's 60 s freshness against the real clock. */
const healthy = (count: number): ApiState => healthyNodes(count, Math.floor(Date.now() / 1000) - 5);

/** Sets the Kilo interface's peers to exactly `peers`, as kgctl connect's ConfigureDevice with ReplacePeers does. */
function setPeers(peers: readonly WgPeer[]): void {
  const current = nsExec(ns, "wg", ["show", KILO_IFACE, "peers"]).split("\n").filter(Boolean);
  for (const key of current) nsExec(ns, "wg", ["set", KILO_IFACE, "peer", key, "remove"]);
  for (const peer of peers) nsExec(ns, "wg", ["set", KILO_IFACE, "peer", peer.key, "allowed-ips", peer.allowedIps.join(",")]);
}
let work = "";
let paths: GatewayPaths = DEFAULT_GATEWAY_PATHS;
let agent = "";
/** The agent's kubectl: serves fixture API lists, or fails like an unreachable API server. */
let kubectl: FakeKubectl;

function serve(state: ApiState): void {
  setPeers(state.peers);
  kubectl.serve(apiLists(state));
}

function apiDown(): void {
  kubectl.down();
}

function sync(): RunResult {
  return run("ip", ["netns", "exec", ns, "bash", agent, "sync"]);
}

/** The map as bucket -> steering address, read back from the kernel. */
function loadedMap(): string[] {
  const text = nsExec(ns, "nft", ["list", "map", "ip", "iot_gateway_nat", "steer_buckets"]);
  const buckets: string[] = [];
  for (const match of text.matchAll(/(\d+) : (\d+\.\d+\.\d+\.\d+)/g)) buckets[Number(match[1])] = match[2];
  return buckets;
}

function steerChain(): string {
  return nsExec(ns, "nft", ["list", "chain", "ip", "iot_gateway_nat", "steer"]);
}

function insertFlow(device: string, target: string): void {
  nsExec(ns, "conntrack", [
    "-I", "-p", "udp", "-s", device, "-d", options.ingress.address, "--sport", "40000", "--dport", String(options.ingress.port),
    "-r", target, "-q", device, "--reply-port-src", String(options.ingress.port), "--reply-port-dst", "40000", "-t", "60",
  ]);
}

function flowTargets(): string[] {
  const listed = run("ip", ["netns", "exec", ns, "conntrack", "-L", "-p", "udp"]).stdout;
  return [...listed.matchAll(/\[UNREPLIED\] src=(\S+)|sport=40000 dport=\d+ src=(\S+)/g)].map((m) => m[1] ?? m[2]).sort();
}

const target = (i: number): SteeringTarget => ({ name: `ingress-${i}`, address: `100.64.${i}.1` });
const spread = (targets: readonly SteeringTarget[]): string[] =>
  renderSteeringUpdate(targets, { buckets: 256, seed: 0 }).match(/\d+ : [\d.]+/g)!.map((e) => e.split(" : ")[1]);
/** The agent's textfile metrics as `name{labels}` -> value. */
function metrics(): Map<string, number> {
  return checkedMetricValues(readFileSync(join(paths.textfileDir, GATEWAY_METRICS_FILE), "utf8"));
}
const meshStatus = (): { state: string; unroutedSince: Record<string, number> } =>
  JSON.parse(readFileSync(join(paths.steeringStateDir, MESH_STATUS_FILE), "utf8"));

beforeAll(async () => {
  for (const tool of ["ip", "nft", "conntrack", "jq", "bash", "wg", "wireguard-go"]) requireTool(tool);
  work = mkdtempSync(join(tmpdir(), "steering-agent-"));
  kubectl = new FakeKubectl(work);
  paths = {
    ...DEFAULT_GATEWAY_PATHS,
    kubectl: kubectl.path,
    kubeconfig: join(work, "kubeconfig"),
    steeringProgram: join(work, "steering-targets.jq"),
    steeringStateDir: join(work, "state"),
    steeringRunDir: join(work, "run"),
    nft: requireTool("nft"),
    conntrack: requireTool("conntrack"),
    jq: requireTool("jq"),
    wg: requireTool("wg"),
    // Never the machine's own node exporter directory.
    textfileDir: join(work, "textfile"),
  };
  writeFileSync(paths.steeringProgram, STEERING_TARGETS_JQ);
  agent = join(work, "iot-steering-agent");
  writeFileSync(agent, renderSteeringAgentScript(options, paths));
  addNetns(ns);
  const ruleset = join(work, "ruleset.nft");
  writeFileSync(ruleset, renderGatewayRuleset(options));
  nsExec(ns, "nft", ["-f", ruleset]);
  await startWireguardGo(ns, KILO_IFACE, (pid) => (wireguardPid = pid));
  const key = join(work, "kilo.key");
  writeFileSync(key, generateKeyPair().privateKey);
  nsExec(ns, "wg", ["set", KILO_IFACE, "private-key", key]);
});

afterAll(() => {
  stopWireguardGo(wireguardPid, KILO_IFACE);
  deleteNetns(ns);
  if (work !== "") rmSync(work, { recursive: true, force: true });
});

describe("steering agent sync", () => {
  it("exits 4 and applies nothing when the API is down and nothing was ever applied", () => {
    apiDown();
    const result = sync();
    expect(result.status).toBe(STEERING_EXIT_NOTHING_APPLIED);
    expect(result.stderr).toContain("cannot read the Kubernetes API");
    expect(steerChain()).not.toContain("jhash");
  });

  it("applies the map for the healthy ingress nodes, querying the configured objects", () => {
    kubectl.clearLog();
    serve(healthy(2));
    const result = sync();
    expect(result.stderr).toBe("applied steering to: ingress-1=100.64.1.1 ingress-2=100.64.2.1\n");
    expect(result.status).toBe(0);
    expect(steerChain()).toContain("dnat to jhash ip saddr mod 256 seed 0x0 map @steer_buckets");
    expect(loadedMap()).toEqual(spread([target(1), target(2)]));
    expect(readFileSync(join(paths.steeringRunDir, "applied.nft"), "utf8")).toBe(
      renderSteeringUpdate([target(1), target(2)], { buckets: 256, seed: 0 }),
    );
    expect(meshStatus()).toMatchObject({ state: "synced", unroutedSince: {} });
    const m = metrics();
    expect(m.get("iot_gateway_steering_targets")).toBe(2);
    expect(m.get("iot_gateway_steering_qualified_targets")).toBe(2);
    expect(m.get("iot_gateway_steering_last_exit_code")).toBe(0);
    expect(m.get('iot_gateway_steering_buckets{node="ingress-1",address="100.64.1.1"}')! + m.get('iot_gateway_steering_buckets{node="ingress-2",address="100.64.2.1"}')!).toBe(256);
    expect(m.get("iot_gateway_steering_last_success_timestamp_seconds")).toBe(m.get("iot_gateway_steering_last_run_timestamp_seconds"));
    expect(m.get("iot_gateway_steering_last_change_timestamp_seconds")).toBe(m.get("iot_gateway_steering_last_run_timestamp_seconds"));
    expect(m.get("iot_gateway_mesh_stale")).toBe(0);
    expect(m.get('iot_gateway_forward_dropped_packets_total{reason="from_uplink"}')).toBe(0);
    expect(m.get("iot_gateway_steered_datagrams_total")).toBe(0);
    expect(m.get("iot_gateway_conntrack_max")).toBeGreaterThan(0);
    // One handshake series per Kilo peer, and never a key of the gateway's own.
    const handshakes = [...m.keys()].filter((key) => key.startsWith("iot_gateway_wireguard_latest_handshake_timestamp_seconds{"));
    expect(handshakes).toHaveLength(healthy(2).peers.length);
    expect(readFileSync(join(paths.textfileDir, GATEWAY_METRICS_FILE), "utf8")).not.toContain(readFileSync(join(work, "kilo.key"), "utf8").trim());
    const config = paths.kubeconfig;
    expect(kubectl.log()).toBe(
      [
        `--kubeconfig ${config} --cache-dir /var/cache/iot-steering --request-timeout=5s get nodes -o json`,
        `--kubeconfig ${config} --cache-dir /var/cache/iot-steering --request-timeout=5s get pods --namespace iot-ingress --selector app.kubernetes.io/name=envoy-udp-ingress -o json`,
        `--kubeconfig ${config} --cache-dir /var/cache/iot-steering --request-timeout=5s get endpointslices.discovery.k8s.io --namespace iot-decoder --selector kubernetes.io/service-name=decoder -o json`,
        "",
      ].join("\n"),
    );
  });

  it("does nothing when the decision did not change", () => {
    const result = sync();
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("keeps the last good map when the API is down (fail-static)", () => {
    const before = loadedMap();
    apiDown();
    const lastSuccess = metrics().get("iot_gateway_steering_last_success_timestamp_seconds");
    const result = sync();
    expect(result.status).toBe(STEERING_EXIT_API_ERROR);
    expect(loadedMap()).toEqual(before);
    const m = metrics();
    expect(m.get("iot_gateway_steering_last_exit_code")).toBe(STEERING_EXIT_API_ERROR);
    expect(m.get("iot_gateway_steering_last_api_error_timestamp_seconds")).toBe(m.get("iot_gateway_steering_last_run_timestamp_seconds"));
    // Unknown while the API is down: absent, not 0 (which would read as "no node qualifies").
    expect(m.has("iot_gateway_steering_qualified_targets")).toBe(false);
    expect(m.get("iot_gateway_steering_targets")).toBe(2);
    expect(m.get("iot_gateway_steering_last_success_timestamp_seconds")).toBe(lastSuccess);
  });

  it("treats an error object instead of a list as an API failure", () => {
    serve(healthy(2));
    kubectl.answer("pods", { kind: "Status", status: "Failure", code: 403 });
    const before = loadedMap();
    expect(sync().status).toBe(STEERING_EXIT_API_ERROR);
    expect(loadedMap()).toEqual(before);
  });

  it("keeps the last good map when no node qualifies, instead of dropping every device", () => {
    const before = loadedMap();
    serve({ ...healthy(2), envoyPods: [envoyPod("ingress-1", false), envoyPod("ingress-2", false)] });
    const result = sync();
    expect(result.status).toBe(STEERING_EXIT_NO_TARGETS);
    expect(result.stderr).toContain("no ingress node");
    expect(loadedMap()).toEqual(before);
    expect(metrics().get("iot_gateway_steering_qualified_targets")).toBe(0);
    expect(metrics().get("iot_gateway_steering_targets")).toBe(2);
  });

  it("keeps the last good map when the Kilo interface cannot be read", () => {
    serve(healthy(2));
    expect(sync().status).toBe(0);
    const before = loadedMap();
    const missing = join(work, "agent-missing-iface");
    const other = withInterfaceNames(gatewayPlan(), { kilo: "nosuchkilo0" });
    writeFileSync(missing, renderSteeringAgentScript(other, paths));
    const result = run("ip", ["netns", "exec", ns, "bash", missing, "sync"]);
    expect(result.stderr).toContain("error: cannot read the WireGuard peers of nosuchkilo0; keeping the last good steering map\n");
    expect(result.status).toBe(STEERING_EXIT_API_ERROR);
    expect(loadedMap()).toEqual(before);
  });

  it("steers only to nodes the Kilo interface routes, and reports a node left unrouted for too long", () => {
    const state = healthy(2);
    serve({ ...state, peers: state.peers.filter((peer) => peer.key !== nodeKey("ingress-2")) });
    const pending = sync();
    expect(pending.stderr).toBe("applied steering to: ingress-1=100.64.1.1\n");
    expect(pending.status).toBe(0);
    expect(loadedMap()).toEqual(Array(256).fill("100.64.1.1"));
    const status = meshStatus();
    expect(status.state).toBe("pending");
    // As if ingress-2 had been unrouted for 200 s (the limit is 90 s: three kgctl resync periods).
    const file = join(paths.steeringStateDir, MESH_STATUS_FILE);
    writeFileSync(file, JSON.stringify({ ...status, unroutedSince: { "ingress-2": status.unroutedSince["ingress-2"] - 200 } }));
    const stale = sync();
    expect(stale.stderr).toMatch(
      new RegExp(`^warning: stale mesh config: nodes ingress-2 are not routed by ${KILO_IFACE} \\(for 20[0-9] s; every node was routed at \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\); ready ingress nodes left out of steering: ingress-2\n$`),
    );
    expect(stale.status).toBe(STEERING_EXIT_MESH_STALE);
    expect(meshStatus().state).toBe("stale");
    // kgctl catches up: the node is routed and steered to again, and the agent says so.
    serve(state);
    const recovered = sync();
    expect(recovered.stderr).toBe(
      `mesh config in sync again: ${KILO_IFACE} routes every node Kilo counts\napplied steering to: ingress-1=100.64.1.1 ingress-2=100.64.2.1\n`,
    );
    expect(recovered.status).toBe(0);
    expect(loadedMap()).toEqual(spread([target(1), target(2)]));
  });

  it("moves a leaving node's buckets and forgets the flows steered to it", () => {
    insertFlow("10.128.0.1", "100.64.1.1");
    insertFlow("10.128.0.2", "100.64.2.1");
    expect(flowTargets()).toEqual(["100.64.1.1", "100.64.2.1"]);
    const state = healthy(2);
    serve({ ...state, envoyPods: [envoyPod("ingress-1", false), envoyPod("ingress-2")] });
    const result = sync();
    expect(result.stderr).toBe("applied steering to: ingress-2=100.64.2.1\n");
    expect(result.status).toBe(0);
    expect(loadedMap()).toEqual(Array(256).fill("100.64.2.1"));
    expect(flowTargets()).toEqual(["100.64.2.1"]);
  });

  it("restores the last good map after the ruleset was reloaded, even with the API down", () => {
    const ruleset = join(work, "ruleset.nft");
    nsExec(ns, "nft", ["-f", ruleset]);
    expect(steerChain()).not.toContain("jhash");
    apiDown();
    const result = sync();
    expect(result.status).toBe(STEERING_EXIT_API_ERROR);
    expect(steerChain()).toContain("jhash");
    expect(loadedMap()).toEqual(Array(256).fill("100.64.2.1"));
    expect(existsSync(join(paths.steeringStateDir, "decision.json"))).toBe(true);
  });

  it("rejects an unknown mode", () => {
    const result = run("bash", [agent, "bogus"]);
    expect(result.status).toBe(64);
    expect(result.stderr).toContain("usage");
  });
});
