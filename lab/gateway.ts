import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { join } from "path";
import {
  DEFAULT_GATEWAY_PATHS,
  FILTER_TABLE,
  GATEWAY_METRICS_FILE,
  NAT_TABLE,
  STEERING_TARGETS_JQ,
  gatewaySysctls,
  renderGatewayRuleset,
  renderNodeExporterDefaults,
  renderSteeringAgentScript,
  renderUplinkConfig,
  resolveGatewayPlan,
  type GatewayPaths,
  type GatewayPlan,
  type GatewayPlanInput,
} from "../infra/gateway";
import { type WireguardConfig, type WireguardKeyPair } from "../infra/wireguard";
import { type ApiState, type KiloAnnotations } from "./api-state";
import { type LabCluster } from "./cluster-api";
import { CONCENTRATOR_PUBLIC_IP, CONCENTRATOR_WIREGUARD_PORT, DEVICE_PORT, DEVICE_PORTS, DEVICE_SUBNET, GATEWAY_TUNNEL_IP, IF, INGRESS_PORT, NS, UPLINK_GATEWAY_IP, WIREGUARD_PORT } from "./plan";
import { killPid, STATE_DIR, type ProcessRegistry } from "./processes";
import { runOk } from "../harness/commands";
import { ipBatch, nsExec } from "../harness/netns";
import { newKeys, type KiloMember } from "./topology";
import { applyWgQuick, applyWireguard, reconfigureWireguard, wgQuickAddresses, wgQuickAllowedIps } from "./wg";

export const ENVOY_NAMESPACE = "iot-ingress";

/** A gateway's namespace, its WireGuard interface names (wireguard-go's sockets are shared by all namespaces) and state directory. */
export interface GatewaySite {
  readonly ns: string;
  readonly kiloInterface: string;
  readonly uplinkInterface: string;
  readonly dirName: string;
  /** The pair's shared WireGuard keys; absent: new ones. */
  readonly keys?: { readonly kilo: WireguardKeyPair; readonly uplink: WireguardKeyPair };
}

export const PRIMARY_GATEWAY_SITE: GatewaySite = { ns: NS.gateway, kiloInterface: IF.gatewayKiloWg, uplinkInterface: IF.gatewayUplinkWg, dirName: "gateway" };
export const DECODER_NAMESPACE = "iot-decoder";
export const DECODER_SERVICE = "decoder";
/** The Kilo Peer's persistentKeepalive, which kgctl writes into the gateway's peer sections. */
const PEER_KEEPALIVE = 25;

/**
 * The gateway namespace, configured by executing the artifacts of infra/gateway: the sysctls,
 * the nftables ruleset (`nft -f`), the uplink wg-quick file, and the steering agent script
 * itself (real jq, nft, conntrack and kubectl) reading a local Kubernetes API server that holds the lab's state
 * (cluster-api.ts), with the gateway's own ServiceAccount token.
 * The Kilo interface is what `kgctl connect` would configure; the lab plays kgctl's part
 * from the same node list Kilo uses for the nodes.
 */
export class LabGateway {
  readonly kiloKeys: WireguardKeyPair;
  readonly uplinkKeys: WireguardKeyPair;
  readonly skippedSysctls: string[] = [];
  private readonly pids: number[] = [];
  private readonly dir: string;
  readonly paths: GatewayPaths;
  private downlinkSourceRewrite = false;

  constructor(
    private readonly registry: ProcessRegistry,
    /** The API server the steering agent reads, and the gateway's kubeconfig for it. */
    private readonly cluster: { readonly api: LabCluster; readonly kubeconfig: string },
    /** The mesh members kgctl sees now (scenario h adds and removes one). */
    private readonly members: () => readonly KiloMember[],
    readonly concentratorPublicKey: string,
    private readonly devices: number,
    private readonly log: (s: string) => void,
    /** Where this gateway runs; the standby of the pair shares the active's keys. Default: the lab's one gateway. */
    readonly site: GatewaySite = PRIMARY_GATEWAY_SITE,
  ) {
    this.dir = join(STATE_DIR, site.dirName);
    this.kiloKeys = site.keys?.kilo ?? newKeys();
    this.uplinkKeys = site.keys?.uplink ?? newKeys();
    this.paths = {
      ...DEFAULT_GATEWAY_PATHS,
      kubeconfig: join(this.dir, "kubeconfig"),
      kiloPrivateKey: join(this.dir, "kilo.key"),
      wireguardDir: join(this.dir, "wireguard"),
      nftablesConf: join(this.dir, "nftables.conf"),
      sysctlConf: join(this.dir, "sysctl.conf"),
      kubectl: cluster.api.kubectl,
      nft: runOk("bash", ["-c", "command -v nft"]).trim(),
      conntrack: runOk("bash", ["-c", "command -v conntrack || echo /usr/sbin/conntrack"]).trim(),
      jq: runOk("bash", ["-c", "command -v jq || echo /usr/bin/jq"]).trim(),
      steeringAgentScript: join(this.dir, "iot-steering-agent"),
      steeringProgram: join(this.dir, "steering-targets.jq"),
      steeringStateDir: join(this.dir, "state"),
      steeringRunDir: join(this.dir, "run"),
      // The host's own node exporter directory is not the lab's to write.
      textfileDir: join(this.dir, "node-exporter"),
    };
  }

  planInput(): GatewayPlanInput {
    const sha = "0".repeat(64); // tool downloads are not part of the data path; never fetched here
    return {
      peerName: "iot-gateway-lab",
      tunnelAddress: GATEWAY_TUNNEL_IP,
      kiloListenPort: WIREGUARD_PORT,
      deviceSubnets: [DEVICE_SUBNET],
      cluster: { podCidr: "100.64.0.0/16" },
      uplink: {
        address: UPLINK_GATEWAY_IP,
        concentrators: [{ name: "lab-concentrator", publicKey: this.concentratorPublicKey, endpoint: `${CONCENTRATOR_PUBLIC_IP}:${CONCENTRATOR_WIREGUARD_PORT}`, sourceCidrs: [`${CONCENTRATOR_PUBLIC_IP}/32`] }],
      },
      ingress: { port: INGRESS_PORT },
      downlinkSourceRewrite: this.downlinkSourceRewrite,
      // The devices' own ports (plan.ts: DEVICE_PORTS ports from DEVICE_PORT), where decoders send downlinks.
      downlinkPorts: Array.from({ length: DEVICE_PORTS }, (_, i) => DEVICE_PORT + i),
      devices: { expectedCount: this.devices, reportIntervalSeconds: 60 },
      steering: { envoyNamespace: ENVOY_NAMESPACE, decoderNamespace: DECODER_NAMESPACE, decoderServiceName: DECODER_SERVICE },
      tools: { kgctl: { version: "0.7.0", sha256: sha }, kubectl: { version: "v1.34.2", sha256: sha } },
    };
  }

  /**
   * The gateway's plan, with the lab's interface names: wireguard-go's control sockets (/var/run/wireguard/<name>.sock)
   * are shared by every namespace, so the lab's interfaces carry its prefix.
   */
  get options(): GatewayPlan {
    const plan = resolveGatewayPlan(this.planInput());
    return {
      ...plan,
      kilo: { ...plan.kilo, interfaceName: this.site.kiloInterface },
      uplink: { ...plan.uplink, interfaceName: this.site.uplinkInterface },
    };
  }

  /** The steering agent's textfile for the node exporter (what Prometheus would scrape from the gateway). */
  get metricsFile(): string {
    return join(this.paths.textfileDir, GATEWAY_METRICS_FILE);
  }

  /** prometheus-node-exporter's arguments, parsed from the ARGS cloud-init writes for Debian's unit (with the lab's textfile directory). */
  get nodeExporterArgs(): string[] {
    const defaults = renderNodeExporterDefaults(this.options, this.paths);
    const args = /^ARGS="([^"]*)"$/m.exec(defaults);
    if (args === null) throw new Error(`no ARGS="..." line in the rendered node exporter defaults:\n${defaults}`);
    return args[1].split(/\s+/).filter(Boolean);
  }

  get ingressAddress(): string {
    return this.options.ingress.address;
  }
  get ingressPort(): number {
    return this.options.ingress.port;
  }
  get uplinkPort(): number {
    return this.options.uplink.listenPort;
  }

  /** Brings the gateway up from its artifacts (also after `stop`: the steering agent's state survives, as on disk). */
  async start(state: ApiState): Promise<void> {
    const o = this.options;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.applySysctls(o);
    this.applyRuleset(o);
    const uplink = renderUplinkConfig(o, this.uplinkKeys.privateKey);
    this.pids.push(await applyWgQuick(this.registry, this.site.ns, o.uplink.interfaceName, uplink));
    // What wg-quick does besides setconf and Address: MTU, and a route per AllowedIPs entry.
    ipBatch(this.site.ns, [`link set ${o.uplink.interfaceName} mtu ${o.uplink.mtu}`, ...wgQuickAllowedIps(uplink).map((c) => `route replace ${c} dev ${o.uplink.interfaceName}`)]);
    this.pids.push(await applyWireguard(this.registry, this.site.ns, o.kilo.interfaceName, this.kgctlConnectConfig(o)));
    ipBatch(this.site.ns, [`link set ${o.kilo.interfaceName} mtu ${o.kilo.mtu}`]);
    this.routeKilo(o);
    this.writeAgent(o);
    await this.steer(state);
  }

  /** kgctl connect's resync after a topology change: the whole peer config replaced, routes for the new topology. */
  kgctlSync(): void {
    const o = this.options;
    reconfigureWireguard(this.site.ns, o.kilo.interfaceName, this.kgctlConnectConfig(o));
    this.routeKilo(o);
  }

  /**
   * This gateway's two WireGuard interfaces as wg-quick (uplink) and kgctl connect (Kilo) bring them up: the
   * addresses on each, and what they add once it is up (MTU, routes), as `ip -batch` lines. The lab pair's role hook
   * re-creates them from these when a gateway becomes active, as the VM's hook starts their systemd units.
   */
  wireguardInterfaces(): Array<{ name: string; addresses: string[]; afterUp: string[] }> {
    const o = this.options;
    const uplink = renderUplinkConfig(o, this.uplinkKeys.privateKey);
    return [
      {
        name: o.uplink.interfaceName,
        addresses: wgQuickAddresses(uplink),
        afterUp: [`link set ${o.uplink.interfaceName} mtu ${o.uplink.mtu}`, ...wgQuickAllowedIps(uplink).map((c) => `route replace ${c} dev ${o.uplink.interfaceName}`)],
      },
      { name: o.kilo.interfaceName, addresses: [`${o.tunnelAddress}/32`], afterUp: [`link set ${o.kilo.interfaceName} mtu ${o.kilo.mtu}`, ...this.kiloRoutes(o)] },
    ];
  }

  // kgctl connect's PeerRoutes (pkg/mesh/routes.go): every segment's pod CIDR via its WireGuard IP, and that IP itself,
  // through the interface. Routes of members that left stay: the lab only ever adds (kgctl's route table would remove
  // them, but a stale route on a WireGuard interface without a peer for it just drops).
  private routeKilo(o: GatewayPlan): void {
    ipBatch(this.site.ns, this.kiloRoutes(o));
  }

  private kiloRoutes(o: GatewayPlan): string[] {
    return this.members().flatMap((n) => [`route replace ${n.node.podCidr} via ${n.node.kiloIp} dev ${o.kilo.interfaceName} onlink`, `route replace ${n.node.kiloIp}/32 dev ${o.kilo.interfaceName}`]);
  }

  /** The annotations kg would publish for each member now. */
  private kiloAnnotations(): Map<string, KiloAnnotations> {
    return new Map(this.members().map((m) => [m.node.name, { key: m.keys.publicKey, kiloIp: m.node.kiloIp }]));
  }

  /** Tears WireGuard and the rules down, as a gateway reboot or crash would (connection tracking stays). */
  stop(): void {
    for (const p of this.pids.splice(0)) killPid(p);
    for (const i of [this.site.uplinkInterface, this.site.kiloInterface]) rmSync(`/var/run/wireguard/${i}.sock`, { force: true });
    for (const t of [`inet ${FILTER_TABLE}`, `ip ${NAT_TABLE}`]) {
      try {
        nsExec(this.site.ns, "nft", ["delete", "table", ...t.split(" ")]);
      } catch {
        /* already gone */
      }
    }
    // /run does not survive a reboot; the agent's /var/lib state does.
    rmSync(this.paths.steeringRunDir, { recursive: true, force: true });
  }

  /** Re-renders and reloads the ruleset with or without the downlink source rewrite, then lets the agent restore steering. */
  async setDownlinkSourceRewrite(on: boolean, state: ApiState): Promise<void> {
    this.downlinkSourceRewrite = on;
    this.applyRuleset(this.options);
    await this.steer(state);
  }

  /** Makes the API server hold `state`, then runs the steering agent once; returns the decision's targets. */
  async steer(state: ApiState): Promise<string[]> {
    await this.cluster.api.hold(state, this.kiloAnnotations());
    let stderr = "";
    try {
      stderr = runOk("ip", ["netns", "exec", this.site.ns, "bash", "-c", `${this.paths.steeringAgentScript} sync 2>&1`]);
    } catch (error) {
      throw new Error(`steering agent failed: ${(error as Error).message}`);
    }
    const decision = JSON.parse(readFileSync(join(this.paths.steeringStateDir, "decision.json"), "utf8")) as { targets: Array<{ name: string; address: string }> };
    if (stderr.trim()) this.log(`steering agent: ${stderr.trim()}`);
    return decision.targets.map((t) => `${t.name}=${t.address}`);
  }

  private applySysctls(o: GatewayPlan): void {
    this.skippedSysctls.length = 0;
    for (const s of gatewaySysctls(o)) {
      // net.core buffers and nf_conntrack_max belong to the host: inside a namespace they are
      // absent or read-only, and the host's settings are not the lab's to change.
      let applied = false;
      try {
        nsExec(this.site.ns, "sysctl", ["-q", "-w", `${s.key}=${s.value}`]);
        applied = nsExec(this.site.ns, "sysctl", ["-n", s.key]).trim() === String(s.value);
      } catch {
        applied = false;
      }
      if (!applied) this.skippedSysctls.push(s.key);
    }
  }

  private applyRuleset(o: GatewayPlan): void {
    writeFileSync(this.paths.nftablesConf, renderGatewayRuleset(o));
    nsExec(this.site.ns, "nft", ["-f", this.paths.nftablesConf]);
  }

  private writeAgent(o: GatewayPlan): void {
    writeFileSync(this.paths.kubeconfig, this.cluster.kubeconfig, { mode: 0o600 });
    writeFileSync(this.paths.steeringProgram, STEERING_TARGETS_JQ);
    writeFileSync(this.paths.steeringAgentScript, renderSteeringAgentScript(o, this.paths));
    chmodSync(this.paths.steeringAgentScript, 0o755);
  }

  /**
   * kgctl connect's device configuration for a Peer on a Kosmos mesh: its key and port, the
   * `--allowed-ip` (tunnel address) on the interface, and one peer per segment (each node
   * its own) with AllowedIPs = pod CIDR + Kilo IP /32 and the Peer's keepalive.
   */
  private kgctlConnectConfig(o: GatewayPlan): WireguardConfig {
    return {
      interface: { privateKey: this.kiloKeys.privateKey, addresses: [`${o.tunnelAddress}/32`], listenPort: o.kilo.listenPort, table: "off" },
      peers: this.members().map((n) => ({
        name: n.node.name,
        publicKey: n.keys.publicKey,
        allowedIps: [n.node.podCidr, `${n.node.kiloIp}/32`],
        endpoint: { host: n.node.publicIp, port: WIREGUARD_PORT },
        persistentKeepalive: PEER_KEEPALIVE,
      })),
    };
  }
}
