/**
 * The gateway pair in the lab: a second gateway namespace rendered from the same plan with the first one's WireGuard
 * keys, both running the leadership agent (infra/gateway/leadership.ts) on its timer against the lab's API server,
 * with the role hook (infra/gateway/role.ts) as its hooks. The hook moves the flexible IP through the Instance API
 * stand-in (standins/scwapi.go), which routes the address the way Scaleway routes a flexible IP: from the move on,
 * every namespace on the "internet" sends its packets to the new holder. Each gateway has an address of its own
 * besides the shared one, as each VM has its own routed IP.
 */
import { randomUUID } from "node:crypto";
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  DEFAULT_GATEWAY_PATHS,
  gatewayPairLeadershipOptions,
  gatewayPairRoleOptions,
  leadershipRbacRules,
  renderGatewayRoleScript,
  renderLeadershipAgentScript,
  resolveGatewayLeadership,
  type GatewayPairMember,
} from "../infra/gateway";
import { run, runOk } from "../harness/commands";
import { ipBatch, nsExec } from "../harness/netns";
import { LineProcess } from "../harness/processes";
import { WIRING } from "../test/cluster/support/component-objects";
import { LabGateway, PRIMARY_GATEWAY_SITE, type GatewaySite } from "./gateway";
import { type Lab } from "./lab";
import { GATEWAY_PUBLIC_IP, IF, NS, PREFIX, UNDERLAY_PREFIX } from "./plan";
import { STATE_DIR, type ProcessRegistry } from "./processes";
import { addNamespace, veth } from "./topology";
import { setconfFile } from "./wg";

/** Each gateway's own address (its VM's own routed IP), and the Instance API stand-in's, on the lab's internet. */
const OWN_ADDRESS = { a: "198.51.100.4", b: "198.51.100.3" } as const;
const API_ADDRESS = "198.51.100.250";
const API_PORT = 8080;
const ZONE = "fr-par-1";
/** The ServiceAccount the WireguardGateway component gives the gateway (test/cluster/support/component-objects.ts wiring). */
const GATEWAY_ACCOUNT = { name: `${WIRING.gatewayName}-gateway`, namespace: WIRING.ingressNamespace };
export const PAIR_LEASE = { name: "iot-gateway-lab-leader", namespace: GATEWAY_ACCOUNT.namespace } as const;

export const SECOND_GATEWAY_SITE: Omit<GatewaySite, "keys"> = { ns: `${PREFIX}-gw2`, kiloInterface: `${PREFIX}hk`, uplinkInterface: `${PREFIX}hu`, dirName: "gateway-b" };

export interface PairMember {
  readonly name: "gw-a" | "gw-b";
  readonly gateway: LabGateway;
  /** What the VM's cloud-init renders this member's leadership agent and role hook from (infra/gateway/cloud-init.ts). */
  readonly member: GatewayPairMember;
  readonly serverId: string;
  readonly dir: string;
  loop?: number;
}

export interface LeadershipState {
  role: "active" | "standby";
  holder: string;
  transitions: number | null;
}

function macOf(ns: string): string {
  return nsExec(ns, "cat", ["/sys/class/net/up0/address"]).trim();
}

/** Ends a wireguard-go interface in a namespace, as stopping its unit does on a VM. */
function stopInterface(ns: string, name: string): void {
  run("ip", ["netns", "exec", ns, "pkill", "-f", `^wireguard-go -f ${name}$`]);
  run("ip", ["-n", ns, "link", "del", name]);
  rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
}

/** Namespaces on the internet that send to the gateway's public address: the concentrator and the nodes. */
function gatewayClients(lab: Lab): string[] {
  return [NS.concentrator, ...lab.nodes.map((n) => n.ns)];
}

export class LabPair {
  readonly members: readonly [PairMember, PairMember];
  private constructor(
    private readonly registry: ProcessRegistry,
    readonly api: LineProcess,
    a: PairMember,
    b: PairMember,
    private readonly log: (s: string) => void,
  ) {
    this.members = [a, b];
  }

  /**
   * Turns the lab's gateway into the active half of a pair and adds the standby: the standby comes up from the same
   * artifacts with its WireGuard interfaces down, so that it never sends with the pair's keys while standing by.
   */
  static async build(lab: Lab, registry: ProcessRegistry, binary: string, log: (s: string) => void): Promise<LabPair> {
    const token = randomUUID();
    // The lab's gateway moves its own address to a /32 of the shared one beside an address of its own.
    ipBatch(NS.gateway, ["address flush dev up0", `address add ${OWN_ADDRESS.a}/${UNDERLAY_PREFIX} dev up0`, `address add ${GATEWAY_PUBLIC_IP}/32 dev up0`]);
    const siteB: GatewaySite = { ...SECOND_GATEWAY_SITE, keys: { kilo: lab.gateway.kiloKeys, uplink: lab.gateway.uplinkKeys } };
    addNamespace(siteB.ns);
    veth(NS.internet, `${PREFIX}ugw2`, siteB.ns, "up0");
    ipBatch(NS.internet, [`link set ${PREFIX}ugw2 master ${IF.bridge}`, `link set ${PREFIX}ugw2 up`, `address add ${API_ADDRESS}/${UNDERLAY_PREFIX} dev ${IF.bridge}`]);
    // Down while the standby comes up: its WireGuard interfaces start up and would send with the pair's keys.
    ipBatch(siteB.ns, [`address add ${OWN_ADDRESS.b}/${UNDERLAY_PREFIX} dev up0`]);
    const kubeconfigB = await lab.cluster.gatewayKubeconfig(siteB.ns);
    const gatewayB = new LabGateway(registry, { api: lab.cluster, kubeconfig: kubeconfigB }, () => lab.members, lab.gateway.concentratorPublicKey, lab.devices, log, siteB);
    await gatewayB.start(lab.api);
    for (const i of gatewayB.wireguardInterfaces()) stopInterface(siteB.ns, i.name);
    ipBatch(siteB.ns, ["link set up0 up"]);

    const ipId = randomUUID();
    const member = (identity: PairMember["name"]): GatewayPairMember => ({
      identity,
      leaseName: PAIR_LEASE.name,
      leaseNamespace: PAIR_LEASE.namespace,
      zone: ZONE,
      sharedIpId: ipId,
      sharedAddress: GATEWAY_PUBLIC_IP,
      publicInterface: "up0",
    });
    const a: PairMember = { name: "gw-a", member: member("gw-a"), gateway: lab.gateway, serverId: randomUUID(), dir: join(STATE_DIR, PRIMARY_GATEWAY_SITE.dirName, "pair") };
    const b: PairMember = { name: "gw-b", member: member("gw-b"), gateway: gatewayB, serverId: randomUUID(), dir: join(STATE_DIR, siteB.dirName, "pair") };
    const api = new LineProcess("scw-api(stand-in)", NS.internet, binary, [
      "scw-api",
      "-listen", `${API_ADDRESS}:${API_PORT}`,
      "-token", token,
      "-zone", ZONE,
      "-ip-id", ipId,
      "-address", GATEWAY_PUBLIC_IP,
      "-servers", [a, b].map((m) => `${m.serverId}=${m.name}/${m.gateway.site.ns}/${macOf(m.gateway.site.ns)}`).join(","),
      "-neighbors", gatewayClients(lab).join(","),
      "-holder", a.serverId,
    ], (pid) => registry.add(pid));
    await api.call("state");

    // The Lease's RBAC, as the WireguardGateway component grants it to the gateway's ServiceAccount in a pair.
    const rules = leadershipRbacRules(gatewayPairLeadershipOptions(a.member));
    const roleName = "iot-gateway-lab-leadership";
    lab.cluster.apply([
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: roleName, namespace: PAIR_LEASE.namespace }, rules },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: roleName, namespace: PAIR_LEASE.namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: roleName },
        subjects: [{ kind: "ServiceAccount", ...GATEWAY_ACCOUNT }],
      },
    ]);
    for (const m of [a, b]) writeMemberFiles(m, token);
    return new LabPair(registry, api, a, b, log);
  }

  /** Starts a member's leadership agent on its timer (a loop, no systemd in a namespace); its steps go to a log file. */
  startAgent(m: PairMember): void {
    const period = resolveGatewayLeadership(gatewayPairLeadershipOptions(m.member)).retryPeriodSeconds;
    const agent = join(m.dir, "iot-gateway-leadership");
    // OnUnitActiveSec: the next step is due a period after the last one started.
    const loop =
      `while :; do s=\${EPOCHREALTIME/./}; ${agent} step; echo "exit $? at $s"; n=\${EPOCHREALTIME/./}; d=$((s + ${period} * 1000000 - n)); ` +
      `if ((d > 0)); then sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"; fi; done`;
    const out = openSync(join(m.dir, "agent.log"), "a");
    const child = spawn("ip", ["netns", "exec", m.gateway.site.ns, "bash", "-c", loop, `${m.dir}/loop`], { stdio: ["ignore", out, out] });
    if (child.pid === undefined) throw new Error(`cannot start ${m.name}'s leadership agent`);
    m.loop = child.pid;
    this.registry.add(child.pid);
    child.unref();
  }

  stopAgent(m: PairMember): void {
    if (m.loop === undefined) return;
    try {
      runOk("pkill", ["-KILL", "-P", String(m.loop)]);
    } catch {
      /* no step running */
    }
    try {
      process.kill(m.loop, "SIGKILL");
    } catch {
      /* gone */
    }
    m.loop = undefined;
  }

  /** What the member's last leadership step decided (its state file). */
  state(m: PairMember): LeadershipState | undefined {
    const file = join(m.dir, "state", "leadership.json");
    if (!existsSync(file)) return undefined;
    try {
      return JSON.parse(readFileSync(file, "utf8")) as LeadershipState;
    } catch {
      return undefined; // mid-rename
    }
  }

  /** Deletes the member's conntrack entries of device flows to the ingress address; returns how many there were. */
  forgetFlows(m: PairMember): number {
    const o = m.gateway.options;
    const flows = run("ip", ["netns", "exec", m.gateway.site.ns, "conntrack", "-D", "-p", "udp", "--orig-dst", o.ingress.address, "--dport", String(o.ingress.port)]);
    return Number(/(\d+) flow entries have been deleted/.exec(flows.stderr)?.[1] ?? 0);
  }

  /** When the member's last leadership step started (unix milliseconds), from its state file. */
  stepAt(m: PairMember): number | undefined {
    const micros = (this.state(m) as { step?: { timeMicros?: number } } | undefined)?.step?.timeMicros;
    return micros === undefined ? undefined : micros / 1000;
  }

  /** Whether the member has a WireGuard interface up (what forwarding means here). */
  forwarding(m: PairMember): boolean {
    return m.gateway.wireguardInterfaces().some((i) => /[<,]UP[,>]/.test(run("ip", ["-n", m.gateway.site.ns, "-o", "link", "show", i.name]).stdout));
  }

  /** Bytes the member's uplink interface received since it was created (0 without one). */
  uplinkReceived(m: PairMember): number {
    const shown = run("ip", ["netns", "exec", m.gateway.site.ns, "wg", "show", m.gateway.options.uplink.interfaceName, "transfer"]);
    const text = shown.status === 0 ? shown.stdout.trim() : "";
    return text === "" ? 0 : text.split("\n").reduce((sum, l) => sum + Number(l.split("\t")[1] ?? 0), 0);
  }

  /** A host failure: the member's network goes (nothing in or out) and its agent with it. */
  crash(m: PairMember): void {
    this.stopAgent(m);
    ipBatch(m.gateway.site.ns, ["link set up0 down"]);
    for (const i of m.gateway.wireguardInterfaces()) stopInterface(m.gateway.site.ns, i.name);
    this.log(`pair: ${m.name} crashed (its network and its leadership agent gone)`);
  }

  /**
   * A reboot of a crashed member: as the VM boots, its WireGuard interfaces are not up (the leadership agent starts
   * them, and only on the active), then its network comes back and its agent starts on its timer.
   */
  reboot(m: PairMember): void {
    ipBatch(m.gateway.site.ns, ["link set up0 up"]);
    this.startAgent(m);
    this.log(`pair: ${m.name} rebooted (WireGuard down, leadership agent on its timer)`);
  }

  async apiState(): Promise<{ holder: string; moves: Array<{ atMs: number; from: string; to: string }>; requests: number; refused: number }> {
    return this.api.call("state");
  }

  /**
   * Stops both agents (the pair's namespace and files go with the lab's) and keeps their step logs next to the lab's
   * state, where a failed run can be read: `~/.cache/iot-udp-ingress/lab/pair-gw-a.log` and `pair-gw-b.log`.
   */
  stop(): void {
    for (const m of this.members) {
      this.stopAgent(m);
      const log = join(m.dir, "agent.log");
      if (existsSync(log)) copyFileSync(log, join(STATE_DIR, "..", `pair-${m.name}.log`));
    }
  }
}

/**
 * What `systemctl start|stop` of the uplink's wg-quick unit and kilo-connect does on a VM, for the lab's wireguard-go
 * interfaces: up creates each interface that is not there (wireguard-go, its peers from the file `wg setconf` reads,
 * its addresses, then MTU and routes); down ends them, so a standby has no interface that could send with the pair's
 * keys. Both are idempotent, as the role hook needs.
 */
function forwardingScript(gateway: LabGateway, dir: string): string {
  const interfaces = gateway.wireguardInterfaces();
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ["#!/bin/bash", "set -euo pipefail", 'case "${1:-}" in', "  up)"];
  interfaces.forEach((i, index) => {
    const batch = join(dir, `after-up-${index}.batch`);
    writeFileSync(batch, [...i.addresses.map((a) => `address replace ${a} dev ${i.name}`), `link set ${i.name} up`, ...i.afterUp].join("\n") + "\n");
    lines.push(
      `    if ! ip link show ${q(i.name)} >/dev/null 2>&1; then`,
      `      rm -f /var/run/wireguard/${i.name}.sock`,
      `      setsid wireguard-go -f ${q(i.name)} </dev/null >/dev/null 2>&1 &`,
      `      for _ in $(seq 100); do [[ -S /var/run/wireguard/${i.name}.sock ]] && break; sleep 0.02; done`,
      `      wg setconf ${q(i.name)} ${q(setconfFile(i.name))}`,
      "    fi",
      `    ip -batch ${q(batch)}`,
    );
  });
  lines.push("    ;;", "  down)");
  for (const i of interfaces) {
    lines.push(`    pkill -f ${q(`^wireguard-go -f ${i.name}$`)} || true`, `    ip link del ${q(i.name)} 2>/dev/null || true`, `    rm -f /var/run/wireguard/${i.name}.sock`);
  }
  lines.push("    ;;", '  *) echo "usage: $0 up|down" >&2; exit 64 ;;', "esac", "");
  return lines.join("\n");
}

/** The member's agent, role hook, forwarding commands, server ID and API key, in its own directory. */
function writeMemberFiles(m: PairMember, token: string): void {
  mkdirSync(m.dir, { recursive: true, mode: 0o700 });
  const forwarding = join(m.dir, "forwarding");
  writeFileSync(forwarding, forwardingScript(m.gateway, m.dir));
  chmodSync(forwarding, 0o755);
  writeFileSync(join(m.dir, "instance-id"), `${m.serverId}\n`);
  writeFileSync(join(m.dir, "secret-key"), token, { mode: 0o600 });
  const ip = runOk("bash", ["-c", "command -v ip"]).trim();
  const role = join(m.dir, "iot-gateway-role");
  writeFileSync(
    role,
    renderGatewayRoleScript(
      // The VM's role options, but for the forwarding commands and the API's address.
      { ...gatewayPairRoleOptions(m.gateway.options, m.member), startForwarding: [forwarding, "up"], stopForwarding: [forwarding, "down"], apiUrl: `http://${API_ADDRESS}:${API_PORT}` },
      {
        curl: runOk("bash", ["-c", "command -v curl"]).trim(),
        ip,
        jq: m.gateway.paths.jq,
        serverIdFile: join(m.dir, "instance-id"),
        secretKeyFile: join(m.dir, "secret-key"),
        runDir: join(m.dir, "role-run"),
      },
    ),
  );
  chmodSync(role, 0o755);
  const agent = join(m.dir, "iot-gateway-leadership");
  writeFileSync(
    agent,
    renderLeadershipAgentScript(gatewayPairLeadershipOptions(m.member, { ...DEFAULT_GATEWAY_PATHS, roleScript: role }), {
      kubectl: m.gateway.paths.kubectl,
      kubeconfig: m.gateway.paths.kubeconfig,
      jq: m.gateway.paths.jq,
      textfileDir: m.gateway.paths.textfileDir,
      leadershipStateDir: join(m.dir, "state"),
    }),
  );
  chmodSync(agent, 0o755);
}
