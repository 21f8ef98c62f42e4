import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import {
  DEFAULT_GATEWAY_PATHS,
  STEERING_EXIT_API_ERROR,
  STEERING_EXIT_NOTHING_APPLIED,
  STEERING_EXIT_NO_TARGETS,
  STEERING_TARGETS_JQ,
  renderGatewayRuleset,
  renderSteeringAgentScript,
  renderSteeringUpdate,
  resolveGatewayOptions,
  type GatewayPaths,
} from "../../infra/gateway";
import { apiLists, envoyPod, healthyNodes, type ApiState } from "./support/fixtures";
import { addNetns, deleteNetns, nsExec, uniqueNetnsName } from "./support/netns";
import { gatewayOptions } from "./support/options";
import { requireTool, run, type RunResult } from "./support/tools";

/*
 * The agent's `sync` run for real (bash, jq, nft, conntrack) in a namespace holding the rendered ruleset, against a
 * stand-in kubectl that serves fixture API lists or fails like an unreachable API server.
 */

const options = resolveGatewayOptions(gatewayOptions());
const ns = uniqueNetnsName("agent");
let work = "";
let paths: GatewayPaths = DEFAULT_GATEWAY_PATHS;
let agent = "";

function serve(state: ApiState): void {
  const lists = apiLists(state);
  writeFileSync(join(work, "api/nodes.json"), JSON.stringify(lists.nodes));
  writeFileSync(join(work, "api/pods.json"), JSON.stringify(lists.pods));
  writeFileSync(join(work, "api/slices.json"), JSON.stringify(lists.slices));
  rmSync(join(work, "api/down"), { force: true });
}

function apiDown(): void {
  writeFileSync(join(work, "api/down"), "");
}

function sync(): RunResult {
  return run("ip", ["netns", "exec", ns, "bash", agent, "sync"]);
}

/** The map as bucket -> Kilo IP, read back from the kernel. */
function loadedMap(): string[] {
  const text = nsExec(ns, "nft", ["list", "map", "ip", "iot_gateway_nat", "steer_buckets"]);
  const buckets: string[] = [];
  for (const match of text.matchAll(/(\d+) : (\d+\.\d+\.\d+\.\d+)/g)) buckets[Number(match[1])] = match[2];
  return buckets;
}

function steerChain(): string {
  return nsExec(ns, "nft", ["list", "chain", "ip", "iot_gateway_nat", "steer"]);
}

function insertFlow(device: string, kiloIp: string): void {
  nsExec(ns, "conntrack", [
    "-I", "-p", "udp", "-s", device, "-d", options.ingress.address, "--sport", "40000", "--dport", String(options.ingress.port),
    "-r", kiloIp, "-q", device, "--reply-port-src", String(options.ingress.port), "--reply-port-dst", "40000", "-t", "60",
  ]);
}

function flowTargets(): string[] {
  const listed = run("ip", ["netns", "exec", ns, "conntrack", "-L", "-p", "udp"]).stdout;
  return [...listed.matchAll(/\[UNREPLIED\] src=(\S+)|sport=40000 dport=\d+ src=(\S+)/g)].map((m) => m[1] ?? m[2]).sort();
}

const spread = (ips: readonly string[]): string[] => renderSteeringUpdate(ips, { buckets: 256, seed: 0 }).match(/\d+ : [\d.]+/g)!.map((e) => e.split(" : ")[1]);

beforeAll(() => {
  for (const tool of ["ip", "nft", "conntrack", "jq", "bash"]) requireTool(tool);
  work = mkdtempSync(join(tmpdir(), "steering-agent-"));
  mkdirSync(join(work, "api"));
  const kubectl = join(work, "kubectl");
  writeFileSync(
    kubectl,
    `#!/bin/sh
# Stand-in for kubectl: serves the fixture lists, or fails like an unreachable API server.
printf '%s\\n' "$*" >>'${work}/kubectl.log'
if [ -e '${work}/api/down' ]; then echo 'The connection to the server was refused' >&2; exit 1; fi
case " $* " in
  *" get nodes "*) cat '${work}/api/nodes.json' ;;
  *" get pods "*) cat '${work}/api/pods.json' ;;
  *" get endpointslices.discovery.k8s.io "*) cat '${work}/api/slices.json' ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`,
  );
  chmodSync(kubectl, 0o755);
  paths = {
    ...DEFAULT_GATEWAY_PATHS,
    kubectl,
    kubeconfig: join(work, "kubeconfig"),
    steeringProgram: join(work, "steering-targets.jq"),
    steeringStateDir: join(work, "state"),
    steeringRunDir: join(work, "run"),
    nft: run("sh", ["-c", "command -v nft"]).stdout.trim(),
    conntrack: run("sh", ["-c", "command -v conntrack"]).stdout.trim(),
    jq: run("sh", ["-c", "command -v jq"]).stdout.trim(),
  };
  writeFileSync(paths.steeringProgram, STEERING_TARGETS_JQ);
  agent = join(work, "iot-steering-agent");
  writeFileSync(agent, renderSteeringAgentScript(options, paths));
  addNetns(ns);
  const ruleset = join(work, "ruleset.nft");
  writeFileSync(ruleset, renderGatewayRuleset(options));
  nsExec(ns, "nft", ["-f", ruleset]);
});

afterAll(() => {
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
    rmSync(join(work, "kubectl.log"), { force: true });
    serve(healthyNodes(2));
    const result = sync();
    expect(result.stderr).toBe("applied steering to: 10.4.0.1 10.4.0.2\n");
    expect(result.status).toBe(0);
    expect(steerChain()).toContain("dnat to jhash ip saddr mod 256 seed 0x0 map @steer_buckets");
    expect(loadedMap()).toEqual(spread(["10.4.0.1", "10.4.0.2"]));
    expect(readFileSync(join(paths.steeringRunDir, "applied.nft"), "utf8")).toBe(
      renderSteeringUpdate(["10.4.0.1", "10.4.0.2"], { buckets: 256, seed: 0 }),
    );
    const config = paths.kubeconfig;
    expect(readFileSync(join(work, "kubectl.log"), "utf8")).toBe(
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
    const result = sync();
    expect(result.status).toBe(STEERING_EXIT_API_ERROR);
    expect(loadedMap()).toEqual(before);
  });

  it("treats an error object instead of a list as an API failure", () => {
    serve(healthyNodes(2));
    writeFileSync(join(work, "api/pods.json"), JSON.stringify({ kind: "Status", status: "Failure", code: 403 }));
    const before = loadedMap();
    expect(sync().status).toBe(STEERING_EXIT_API_ERROR);
    expect(loadedMap()).toEqual(before);
  });

  it("keeps the last good map when no node qualifies, instead of dropping every device", () => {
    const before = loadedMap();
    serve({ ...healthyNodes(2), envoyPods: [envoyPod("ingress-1", false), envoyPod("ingress-2", false)] });
    const result = sync();
    expect(result.status).toBe(STEERING_EXIT_NO_TARGETS);
    expect(result.stderr).toContain("no ingress node");
    expect(loadedMap()).toEqual(before);
  });

  it("moves a leaving node's buckets and forgets the flows steered to it", () => {
    insertFlow("10.128.0.1", "10.4.0.1");
    insertFlow("10.128.0.2", "10.4.0.2");
    expect(flowTargets()).toEqual(["10.4.0.1", "10.4.0.2"]);
    const state = healthyNodes(2);
    serve({ ...state, envoyPods: [envoyPod("ingress-1", false), envoyPod("ingress-2")] });
    const result = sync();
    expect(result.stderr).toBe("applied steering to: 10.4.0.2\n");
    expect(result.status).toBe(0);
    expect(loadedMap()).toEqual(Array(256).fill("10.4.0.2"));
    expect(flowTargets()).toEqual(["10.4.0.2"]);
  });

  it("restores the last good map after the ruleset was reloaded, even with the API down", () => {
    const ruleset = join(work, "ruleset.nft");
    nsExec(ns, "nft", ["-f", ruleset]);
    expect(steerChain()).not.toContain("jhash");
    apiDown();
    const result = sync();
    expect(result.status).toBe(STEERING_EXIT_API_ERROR);
    expect(steerChain()).toContain("jhash");
    expect(loadedMap()).toEqual(Array(256).fill("10.4.0.2"));
    expect(existsSync(join(paths.steeringStateDir, "decision.json"))).toBe(true);
  });

  it("rejects an unknown mode", () => {
    const result = run("bash", [agent, "bogus"]);
    expect(result.status).toBe(64);
    expect(result.stderr).toContain("usage");
  });
});
