import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { renderGatewayRuleset, renderSteeringAgentScript, type GatewayPlan } from "../../infra/gateway";
import { requireTool, run } from "../../harness/commands";
import { addNetns, deleteNetns, nsExec, uniqueNetnsName } from "../../harness/netns";
import { disableChecksumOffload, exchange, tcpProbe, writeUdpHelper, type Datagram, type Send } from "../../harness/udp";
import { healthyNodes } from "./support/fixtures";
import { runDecision } from "./support/jq-programs";
import { gatewayPlan } from "./support/plan";

/*
 * The real rendered ruleset and a steering map rendered by the agent, loaded in a "gateway" namespace between a
 * "device side" namespace (on the gateway's uplink interface, owning the device subnet 10.128.0.0/14 and an
 * outside range 192.168.77.0/24), a second device-side namespace (10.200.0.0/16) and a "cluster side" namespace
 * (on the gateway's kilo0, owning two ingress nodes' steering addresses, the first addresses of their pod CIDRs,
 * a node's Kilo IP and a pod IP). Plain veth routing stands in for WireGuard. The gateway's interfaces carry the
 * rendered names, so the ruleset's iifname/oifname rules apply.
 */

const TARGETS = ["100.64.1.1", "100.64.2.1"];
const KILO_IP = "10.4.0.1";
const POD = "100.64.1.10";
const DOWNLINK_PORT = 40000;
const INGRESS = "10.5.1.1:5683";

const gw = uniqueNetnsName("gw");
const devices = uniqueNetnsName("dev");
const devicesB = uniqueNetnsName("devb");
const cluster = uniqueNetnsName("clu");
const namespaces = [gw, devices, devicesB, cluster];
let work = "";
let helper = "";

function ip(ns: string, ...args: string[]): void {
  nsExec(ns, "ip", args);
}

function loadGateway(options: GatewayPlan): void {
  const ruleset = join(work, "ruleset.nft");
  writeFileSync(ruleset, renderGatewayRuleset(options));
  nsExec(gw, "nft", ["-f", ruleset]);
  // The map comes from the agent's own rendering of a decision made by the decision program.
  const agent = join(work, "agent");
  writeFileSync(agent, renderSteeringAgentScript(options));
  const decision = runDecision(healthyNodes(2), options.steering.buckets);
  expect(decision.targets.map((target) => target.address)).toEqual(TARGETS);
  const rendered = run("bash", [agent, "render"], JSON.stringify(decision));
  if (rendered.status !== 0) throw new Error(rendered.stderr);
  const update = join(work, "steer.nft");
  writeFileSync(update, rendered.stdout);
  nsExec(gw, "nft", ["-f", update]);
  nsExec(gw, "conntrack", ["-F"]);
}

function unload(): void {
  nsExec(gw, "nft", ["flush", "ruleset"]);
  nsExec(gw, "conntrack", ["-F"]);
}

const uplinkSends = (count: number, port: number): Send[] =>
  Array.from({ length: count }, (_, i) => ({ from: `10.128.${i}.${i + 1}:${port}`, to: INGRESS, data: `device-${i}` }));

const kiloEndpoints = TARGETS.map((address) => `${address}:5683`);

beforeAll(() => {
  for (const tool of ["ip", "nft", "conntrack", "python3", "jq", "bash"]) requireTool(tool);
  work = mkdtempSync(join(tmpdir(), "datapath-"));
  helper = join(work, "udp.py");
  writeUdpHelper(helper);
  namespaces.forEach((name) => addNetns(name));

  ip(gw, "link", "add", "wg-uplink", "type", "veth", "peer", "name", "dev0", "netns", devices);
  ip(gw, "link", "add", "uplink-b", "type", "veth", "peer", "name", "dev0", "netns", devicesB);
  ip(gw, "link", "add", "kilo0", "type", "veth", "peer", "name", "clu0", "netns", cluster);

  ip(gw, "addr", "add", "172.31.1.1/30", "dev", "wg-uplink");
  ip(gw, "addr", "add", "10.5.1.1/32", "dev", "wg-uplink");
  ip(gw, "addr", "add", "172.31.3.1/30", "dev", "uplink-b");
  ip(gw, "addr", "add", "172.31.2.1/30", "dev", "kilo0");
  for (const link of ["wg-uplink", "uplink-b", "kilo0"]) ip(gw, "link", "set", link, "up");
  ip(gw, "route", "add", "10.128.0.0/14", "via", "172.31.1.2");
  ip(gw, "route", "add", "192.168.77.0/24", "via", "172.31.1.2");
  ip(gw, "route", "add", "10.200.0.0/16", "via", "172.31.3.2");
  ip(gw, "route", "add", "10.4.0.0/16", "via", "172.31.2.2");
  ip(gw, "route", "add", "100.64.0.0/15", "via", "172.31.2.2");
  // The rendered forwarding and reverse-path settings (only these are per-namespace and safe to set here).
  nsExec(gw, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.rp_filter=2"]);

  ip(devices, "addr", "add", "172.31.1.2/30", "dev", "dev0");
  ip(devices, "link", "set", "dev0", "up");
  ip(devices, "route", "add", "local", "10.128.0.0/14", "dev", "lo");
  ip(devices, "route", "add", "local", "192.168.77.0/24", "dev", "lo");
  ip(devices, "route", "add", "default", "via", "172.31.1.1");

  ip(devicesB, "addr", "add", "172.31.3.2/30", "dev", "dev0");
  ip(devicesB, "link", "set", "dev0", "up");
  ip(devicesB, "route", "add", "local", "10.200.0.0/16", "dev", "lo");
  ip(devicesB, "route", "add", "default", "via", "172.31.3.1");

  ip(cluster, "addr", "add", "172.31.2.2/30", "dev", "clu0");
  ip(cluster, "link", "set", "clu0", "up");
  for (const address of [...TARGETS, KILO_IP, POD]) ip(cluster, "addr", "add", `${address}/32`, "dev", "lo");
  ip(cluster, "route", "add", "default", "via", "172.31.2.1");

  // Full checksums on the way to the devices, and checked on arrival: a bad rewrite would be dropped.
  disableChecksumOffload(helper, cluster, "clu0");
  disableChecksumOffload(helper, devices, "dev0");
});

afterAll(() => {
  namespaces.forEach(deleteNetns);
  if (work !== "") rmSync(work, { recursive: true, force: true });
});

describe("without the ruleset (control: the topology itself forwards everything)", () => {
  it("forwards device to device and outside sources to the cluster", async () => {
    unload();
    const toDevice = await exchange(helper, devicesB, ["10.200.0.9:6000"], devices, [{ from: "10.128.0.50:40000", to: "10.200.0.9:6000", data: "d2d" }]);
    expect(toDevice.map((d) => d.from)).toEqual(["10.128.0.50:40000"]);
    const outside = await exchange(helper, cluster, [`${KILO_IP}:5683`], devices, [{ from: "192.168.77.5:40000", to: `${KILO_IP}:5683`, data: "outside" }]);
    expect(outside.map((d) => d.from)).toEqual(["192.168.77.5:40000"]);
  });

  it("forwards TCP and UDP from a device straight to a pod, and a pod's datagram to any device port", async () => {
    expect((await tcpProbe(helper, cluster, [`${POD}:8080`], devices, "10.128.0.9:41000", `${POD}:8080`)).connect).toBe("connected");
    const direct = await exchange(helper, cluster, [`${POD}:5683`], devices, [{ from: "10.128.0.9:40000", to: `${POD}:5683`, data: "direct" }]);
    expect(direct.map((d) => d.data)).toEqual(["direct"]);
    const otherPort = await exchange(helper, devices, ["10.128.7.8:6000"], cluster, [{ from: `${POD}:5683`, to: "10.128.7.8:6000", data: "other" }]);
    expect(otherPort.map((d) => d.data)).toEqual(["other"]);
  });
});

describe.each([false, true])("with the rendered ruleset (downlinkSourceRewrite %s)", (rewrite) => {
  const options = gatewayPlan({ downlinkSourceRewrite: rewrite, downlinkPorts: [DOWNLINK_PORT] });

  beforeAll(() => loadGateway(options));

  it("steers device datagrams to the ingress address to a node's steering address, source unchanged, the same node per device", async () => {
    const first = await exchange(helper, cluster, kiloEndpoints, devices, uplinkSends(24, 40000));
    expect(first).toHaveLength(24);
    const nodeOf = new Map<string, string>();
    for (const datagram of first) {
      const index = Number(datagram.data.split("-")[1]);
      expect(datagram.from).toBe(`10.128.${index}.${index + 1}:40000`);
      expect(kiloEndpoints).toContain(datagram.to);
      nodeOf.set(datagram.from.split(":")[0], datagram.to);
    }
    // Both nodes get devices.
    expect(new Set(nodeOf.values()).size).toBe(2);
    // New flows (other source ports) of the same devices land on the same nodes: the hash is of the address.
    const again = await exchange(helper, cluster, kiloEndpoints, devices, uplinkSends(24, 41000));
    expect(again).toHaveLength(24);
    for (const datagram of again) expect(datagram.to).toBe(nodeOf.get(datagram.from.split(":")[0]));
  });

  it("drops device to device, outside sources, and direct access to the cluster from outside", async () => {
    const toDevice = await exchange(helper, devicesB, ["10.200.0.9:6000"], devices, [{ from: "10.128.0.50:40000", to: "10.200.0.9:6000", data: "d2d" }]);
    expect(toDevice).toEqual([]);
    const outside = await exchange(helper, cluster, kiloEndpoints, devices, [
      { from: "192.168.77.5:40000", to: INGRESS, data: "outside-ingress" },
      { from: "192.168.77.5:40001", to: `${KILO_IP}:5683`, data: "outside-direct" },
    ]);
    expect(outside).toEqual([]);
  });

  it("drops TCP from a device address to a pod and to a node's Kilo IP", async () => {
    for (const to of [`${POD}:8080`, `${KILO_IP}:10250`, `${TARGETS[0]}:10250`]) {
      const probe = await tcpProbe(helper, cluster, [to], devices, "10.128.0.9:41001", to);
      expect({ to, ...probe }).toEqual({ to, connect: "timeout", accepted: [] });
    }
  });

  it("drops UDP from a device straight to a pod, a node's Kilo IP or a steering address", async () => {
    const direct = await exchange(helper, cluster, [`${POD}:5683`, `${KILO_IP}:5683`, `${TARGETS[1]}:5683`], devices, [
      { from: "10.128.0.9:40000", to: `${POD}:5683`, data: "to-pod" },
      { from: "10.128.0.9:40000", to: `${KILO_IP}:5683`, data: "to-kilo-ip" },
      { from: "10.128.0.9:40000", to: `${TARGETS[1]}:5683`, data: "to-steering-address" },
    ]);
    expect(direct).toEqual([]);
  });

  it("drops cluster -> device traffic other than downlinks: other ports, TCP, non-pod sources", async () => {
    const udp = await exchange(helper, devices, ["10.128.7.8:6000", `10.128.7.8:${DOWNLINK_PORT}`], cluster, [
      { from: `${POD}:5683`, to: "10.128.7.8:6000", data: "not-a-downlink-port" },
      { from: `${KILO_IP}:5683`, to: `10.128.7.8:${DOWNLINK_PORT}`, data: "from-a-kilo-ip" },
    ]);
    expect(udp).toEqual([]);
    const tcp = await tcpProbe(helper, devices, [`10.128.7.8:${DOWNLINK_PORT}`], cluster, `${POD}:41002`, `10.128.7.8:${DOWNLINK_PORT}`);
    expect(tcp).toEqual({ connect: "timeout", accepted: [] });
  });

  it(`delivers a downlink from a pod with ${rewrite ? "the ingress address and port" : "the pod address"} as source`, async () => {
    const received: Datagram[] = await exchange(helper, devices, [`10.128.7.8:${DOWNLINK_PORT}`], cluster, [
      { from: `${POD}:5683`, to: `10.128.7.8:${DOWNLINK_PORT}`, data: "downlink" },
    ]);
    expect(received).toEqual([{ to: `10.128.7.8:${DOWNLINK_PORT}`, from: rewrite ? INGRESS : `${POD}:5683`, data: "downlink" }]);
  });

  it("never rewrites the device side of a reply's flow: the uplink still carries the device source", async () => {
    const received = await exchange(helper, cluster, kiloEndpoints, devices, [{ from: "10.128.7.8:40000", to: INGRESS, data: "after-downlink" }]);
    expect(received.map((d) => d.from)).toEqual(["10.128.7.8:40000"]);
  });
});
