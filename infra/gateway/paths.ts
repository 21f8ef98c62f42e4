/** Where each file lives on the gateway VM. Tests render with other paths to run the artifacts in a sandbox. */
export interface GatewayPaths {
  readonly kubeconfig: string;
  readonly kiloPrivateKey: string;
  readonly wireguardDir: string;
  readonly nftablesConf: string;
  readonly sysctlConf: string;
  readonly modprobeConf: string;
  readonly modulesLoadConf: string;
  readonly kgctl: string;
  readonly kubectl: string;
  readonly nft: string;
  readonly conntrack: string;
  readonly jq: string;
  /** wireguard-tools' `wg`, to read the Kilo interface's peers. */
  readonly wg: string;
  /** iproute2's `ip`: a gateway of a pair takes the Kilo interface down when kgctl stops. */
  readonly ip: string;
  /** A gateway of a pair starts and stops its WireGuard units with it. */
  readonly systemctl: string;
  readonly bootstrapScript: string;
  readonly steeringAgentScript: string;
  /** A gateway of a pair: the leadership agent (infra/gateway/leadership.ts) and its role hook (infra/gateway/role.ts). */
  readonly leadershipAgentScript: string;
  readonly roleScript: string;
  /** The leadership agent's persistent state (LeadershipPaths.leadershipStateDir). */
  readonly leadershipStateDir: string;
  readonly steeringProgram: string;
  readonly steeringStateDir: string;
  readonly steeringRunDir: string;
  readonly systemdUnitDir: string;
  /** prometheus-node-exporter's textfile collector directory; the steering agent writes its metrics file there. */
  readonly textfileDir: string;
  /** The node exporter's environment file (its ARGS), as Debian's unit reads it. */
  readonly nodeExporterDefaults: string;
  /** Where the kernel shows nf_conntrack_count and nf_conntrack_max. */
  readonly conntrackProcDir: string;
}

export const DEFAULT_GATEWAY_PATHS: GatewayPaths = {
  kubeconfig: "/etc/iot-gateway/kubeconfig",
  kiloPrivateKey: "/etc/iot-gateway/kilo.key",
  wireguardDir: "/etc/wireguard",
  nftablesConf: "/etc/nftables.conf",
  sysctlConf: "/etc/sysctl.d/90-iot-gateway.conf",
  modprobeConf: "/etc/modprobe.d/iot-gateway-conntrack.conf",
  modulesLoadConf: "/etc/modules-load.d/iot-gateway.conf",
  kgctl: "/usr/local/bin/kgctl",
  kubectl: "/usr/local/bin/kubectl",
  nft: "/usr/sbin/nft",
  conntrack: "/usr/sbin/conntrack",
  jq: "/usr/bin/jq",
  wg: "/usr/bin/wg",
  ip: "/usr/sbin/ip",
  systemctl: "/usr/bin/systemctl",
  bootstrapScript: "/usr/local/sbin/iot-gateway-bootstrap",
  steeringAgentScript: "/usr/local/sbin/iot-steering-agent",
  leadershipAgentScript: "/usr/local/sbin/iot-gateway-leadership",
  roleScript: "/usr/local/sbin/iot-gateway-role",
  // DEFAULT_LEADERSHIP_PATHS' (infra/gateway/leadership.ts imports this module, so the value is written here too).
  leadershipStateDir: "/var/lib/iot-gateway-leadership",
  steeringProgram: "/usr/local/lib/iot-gateway/steering-targets.jq",
  steeringStateDir: "/var/lib/iot-steering",
  steeringRunDir: "/run/iot-steering",
  systemdUnitDir: "/etc/systemd/system",
  // Debian's own textfile directory (prometheus-node-exporter-collectors writes there too).
  textfileDir: "/var/lib/prometheus/node-exporter",
  nodeExporterDefaults: "/etc/default/prometheus-node-exporter",
  conntrackProcDir: "/proc/sys/net/netfilter",
};
