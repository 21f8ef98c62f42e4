// PROVISIONAL: replaced by execution of infra/gateway artifacts once they exist.
import { mkdirSync, writeFileSync } from "fs";
import { join } from "path";
import { type WireguardKeyPair } from "../../infra/wireguard";
import { DEVICE_SUBNET, GATEWAY_TUNNEL_IP, IF, INGRESS_PORT, NS, UPLINK_CONCENTRATOR_IP, UPLINK_GATEWAY_IP, UPLINK_PORT, WIREGUARD_PORT, type LabNode } from "./plan";
import { killPid, STATE_DIR, type ProcessRegistry } from "./processes";
import { inNs, ipBatch, run, sysctl } from "./shell";
import { applyWireguard } from "./wg";
import { type ApiState } from "./api-state";
import { rmSync } from "fs";

export interface LabGateway {
  readonly keys: WireguardKeyPair;
  readonly ingressAddress: string;
  readonly ingressPort: number;
  readonly uplinkPort: number;
  readonly concentratorTunnelCidr: string;
  /** What the concentrator routes into the uplink tunnel. */
  readonly routedToGateway: readonly string[];
  start(): Promise<void>;
  stop(): void;
  /** Runs the steering decision over an API state and applies the map update; returns the chosen node IPs. */
  steer(state: ApiState): string[];
}

export function provisionalGateway(registry: ProcessRegistry, nodes: ReadonlyArray<{ node: LabNode; keys: WireguardKeyPair }>, concentratorPublicKey: string): LabGateway {
  const keys: WireguardKeyPair = require("../../infra/wireguard").generateKeyPair();
  const pids: number[] = [];
  return {
    keys,
    ingressAddress: UPLINK_GATEWAY_IP,
    ingressPort: INGRESS_PORT,
    uplinkPort: UPLINK_PORT,
    concentratorTunnelCidr: `${UPLINK_CONCENTRATOR_IP}/30`,
    routedToGateway: [`${UPLINK_GATEWAY_IP}/32`],
    async start() {
      sysctl(NS.gateway, { "net.ipv4.ip_forward": 1 });
      pids.push(
        await applyWireguard(registry, NS.gateway, IF.gatewayUplinkWg, {
          interface: { privateKey: keys.privateKey, addresses: [`${UPLINK_GATEWAY_IP}/30`], listenPort: UPLINK_PORT, table: "off" },
          peers: [{ publicKey: concentratorPublicKey, allowedIps: [`${UPLINK_CONCENTRATOR_IP}/32`, DEVICE_SUBNET] }],
        }),
      );
      pids.push(
        await applyWireguard(registry, NS.gateway, IF.gatewayKiloWg, {
          interface: { privateKey: keys.privateKey, addresses: [`${GATEWAY_TUNNEL_IP}/32`], listenPort: WIREGUARD_PORT, table: "off" },
          peers: nodes.map((n) => ({ publicKey: n.keys.publicKey, allowedIps: [`${n.node.kiloIp}/32`, n.node.podCidr], endpoint: { host: n.node.publicIp, port: WIREGUARD_PORT } })),
        }),
      );
      ipBatch(NS.gateway, [`route add ${DEVICE_SUBNET} dev ${IF.gatewayUplinkWg}`, ...nodes.flatMap((n) => [`route add ${n.node.kiloIp}/32 dev ${IF.gatewayKiloWg}`, `route add ${n.node.podCidr} dev ${IF.gatewayKiloWg}`])]);
    },
    stop() {
      for (const p of pids.splice(0)) killPid(p);
      for (const i of [IF.gatewayUplinkWg, IF.gatewayKiloWg]) rmSync(`/var/run/wireguard/${i}.sock`, { force: true });
      run("ip", ["netns", "exec", NS.gateway, "nft", "flush", "ruleset"]);
    },
    steer(state) {
      const ready = state.nodes.items.filter((n) => state.pods.items.some((p) => p.spec.nodeName === n.metadata.name && p.metadata.name.startsWith("envoy")));
      const ips = ready.map((n) => n.metadata.annotations["kilo.squat.ai/wireguard-ip"].split("/")[0]);
      const dir = join(STATE_DIR, "nft");
      mkdirSync(dir, { recursive: true });
      const f = join(dir, "steer.nft");
      writeFileSync(
        f,
        `table ip labgw\ndelete table ip labgw\ntable ip labgw {\n map steer { typeof numgen inc mod ${ips.length} : ip daddr; elements = { ${ips.map((ip, i) => `${i} : ${ip}`).join(", ")} };\n }\n chain pre { type nat hook prerouting priority dstnat; ip daddr ${UPLINK_GATEWAY_IP} udp dport ${INGRESS_PORT} dnat to jhash ip saddr mod ${ips.length} map @steer;\n }\n}\n`,
      );
      inNs(NS.gateway, "nft", ["-f", f]);
      return ips;
    },
  };
}
