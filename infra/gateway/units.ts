import { basename } from "path";
import type { GatewayLeadership } from "./leadership";
import type { GatewayPlan } from "./plan";
import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { shellQuote } from "./shell-parameters";

/** A systemd unit file: sections in order, each a list of `Key=value` directives (keys may repeat). */
export interface SystemdUnitFile {
  readonly name: string;
  readonly sections: ReadonlyArray<readonly [section: string, directives: ReadonlyArray<readonly [string, string]>]>;
}

export function renderSystemdUnit(unit: SystemdUnitFile): string {
  return `${unit.sections
    .map(([section, directives]) => [`[${section}]`, ...directives.map(([key, value]) => `${key}=${value}`)].join("\n"))
    .join("\n\n")}\n`;
}

export const KILO_CONNECT_UNIT = "kilo-connect.service";
export const STEERING_SERVICE_UNIT = "iot-steering-agent.service";
export const STEERING_TIMER_UNIT = "iot-steering-agent.timer";
/** Debian's prometheus-node-exporter unit. */
export const NODE_EXPORTER_UNIT = "prometheus-node-exporter.service";
/** A gateway of a pair: one leadership step (scripts/gateway-leadership.sh), and the timer that runs it. */
export const LEADERSHIP_SERVICE_UNIT = "iot-gateway-leadership.service";
export const LEADERSHIP_TIMER_UNIT = "iot-gateway-leadership.timer";

/**
 * The kgctl command line. The Peer already exists (created with the device subnets in its allowedIPs), so kgctl must
 * get the private key whose public half is in the Peer and the tunnel address (its defaults are a fresh key and
 * 10.10.10.10/32), and must not clean up on exit: a restart would otherwise tear the interface and routes down.
 */
export function kgctlConnectArgs(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): string[] {
  const args = [
    "connect",
    options.peerName,
    "--kubeconfig",
    paths.kubeconfig,
    "--private-key",
    paths.kiloPrivateKey,
    "--allowed-ip",
    `${options.tunnelAddress}/32`,
    "--interface",
    options.kilo.interfaceName,
    "--port",
    String(options.kilo.listenPort),
    "--mtu",
    String(options.kilo.mtu),
    "--resync-period",
    `${options.kilo.resyncPeriodSeconds}s`,
    "--clean-up=false",
  ];
  return args;
}

export function kiloConnectUnit(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): SystemdUnitFile {
  const command = [paths.kgctl, ...kgctlConnectArgs(options, paths)].map(systemdWord).join(" ");
  return {
    name: KILO_CONNECT_UNIT,
    sections: [
      [
        "Unit",
        [
          ["Description", "Kilo peer connection of the IoT gateway (kgctl connect)"],
          ["Documentation", "https://kilo.squat.ai/docs/kgctl"],
          // kgctl ignores nodes last seen more than 60 s ago by this machine's clock.
          ["Wants", "network-online.target time-sync.target"],
          ["After", "network-online.target time-sync.target nftables.service"],
        ],
      ],
      [
        "Service",
        [
          ["Type", "simple"],
          ["ExecStart", command],
          ["Restart", "always"],
          ["RestartSec", "5s"],
        ],
      ],
      ["Install", [["WantedBy", "multi-user.target"]]],
    ],
  };
}

export function steeringAgentServiceUnit(paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): SystemdUnitFile {
  return {
    name: STEERING_SERVICE_UNIT,
    sections: [
      [
        "Unit",
        [
          ["Description", "IoT gateway steering: point the nftables steering map at the ready ingress nodes"],
          ["Wants", "network-online.target"],
          ["After", `network-online.target nftables.service ${KILO_CONNECT_UNIT}`],
        ],
      ],
      [
        "Service",
        [
          ["Type", "oneshot"],
          ["ExecStart", `${systemdWord(paths.steeringAgentScript)} sync`],
          ["TimeoutStartSec", "60s"],
          // nft and conntrack need CAP_NET_ADMIN and nothing else; the agent writes only its own directories.
          ["CapabilityBoundingSet", "CAP_NET_ADMIN"],
          ["NoNewPrivileges", "yes"],
          ["ProtectSystem", "strict"],
          ["ProtectHome", "yes"],
          ["PrivateTmp", "yes"],
          ["StateDirectory", basename(paths.steeringStateDir)],
          ["RuntimeDirectory", basename(paths.steeringRunDir)],
          // A oneshot's runtime directory would be removed when it exits; the applied transaction must survive.
          ["RuntimeDirectoryPreserve", "yes"],
          ["CacheDirectory", basename(paths.steeringStateDir)],
          // The metrics file for the node exporter; "-": a missing directory must not stop steering.
          ["ReadWritePaths", `-${paths.textfileDir}`],
        ],
      ],
    ],
  };
}

export function steeringAgentTimerUnit(options: GatewayPlan): SystemdUnitFile {
  return {
    name: STEERING_TIMER_UNIT,
    sections: [
      ["Unit", [["Description", "Refresh the IoT gateway steering map"]]],
      [
        "Timer",
        [
          ["OnBootSec", "10s"],
          ["OnUnitActiveSec", `${options.steering.intervalSeconds}s`],
          ["AccuracySec", "1s"],
          ["Unit", STEERING_SERVICE_UNIT],
        ],
      ],
      ["Install", [["WantedBy", "timers.target"]]],
    ],
  };
}

/** Every unit the gateway installs, by file name. */
export function gatewayUnits(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): SystemdUnitFile[] {
  return [kiloConnectUnit(options, paths), steeringAgentServiceUnit(paths), steeringAgentTimerUnit(options)];
}

/**
 * kgctl's unit on a gateway of a pair. kgctl runs with --clean-up=false, so a stopped kgctl leaves the Kilo interface
 * up with the pair's key and its peers, and WireGuard would go on sending keepalives and handshakes from the standby
 * (the nodes would roam the Peer's endpoint to it; scripts/gateway-role.sh: a standby must not send a single one). So
 * the link goes down with kgctl: the kernel's WireGuard then stops every peer's timers, clears its keys and closes its
 * sockets, so it neither sends nor receives (linux drivers/net/wireguard/device.c, wg_stop; wg_open sends the
 * keepalives again when the link comes up). kgctl sets it up again when it starts (squat/kilo cmd/kgctl/connect_linux.go,
 * runConnect: iproute.Set(iface, true)). The cost: a crash of kgctl on the active takes the link down until systemd or
 * the next leadership step starts kgctl again. No [Install]: only the leadership agent starts it, on the active;
 * enabled, it would come up at boot on both.
 */
export function pairKiloConnectUnit(options: GatewayPlan, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): SystemdUnitFile {
  const unit = kiloConnectUnit(options, paths);
  const linkDown = ["link", "set", "dev", options.kilo.interfaceName, "down"];
  return {
    name: unit.name,
    sections: unit.sections
      .filter(([section]) => section !== "Install")
      .map(([section, directives]) =>
        // "-": a link that is not there (kgctl never got as far as creating it) is already down.
        section === "Service" ? [section, [...directives, ["ExecStopPost", `-${[paths.ip, ...linkDown].map(systemdWord).join(" ")}`]]] : [section, directives],
      ),
  };
}

/**
 * One leadership step of a gateway of a pair. Not confined like the steering agent: its hooks start and stop the
 * WireGuard units, move the flexible IP through the Instance API and put its address on the public interface.
 */
export function leadershipServiceUnit(leadership: GatewayLeadership, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): SystemdUnitFile {
  return {
    name: LEADERSHIP_SERVICE_UNIT,
    sections: [
      [
        "Unit",
        [
          ["Description", "IoT gateway pair: one leadership step on the pair's Lease (the holder forwards, the other stands by)"],
          // Expiry is judged by this machine's clock (scripts/gateway-leadership.sh): no step before it is synchronised.
          ["Wants", "network-online.target time-sync.target"],
          ["After", "network-online.target time-sync.target nftables.service"],
        ],
      ],
      [
        "Service",
        [
          ["Type", "oneshot"],
          ["ExecStart", `${systemdWord(paths.leadershipAgentScript)} step`],
          // A step stuck in a hook gets no further than the renew deadline: the holder fences in the step after it.
          ["TimeoutStartSec", `${leadership.renewDeadlineSeconds}s`],
          ["NoNewPrivileges", "yes"],
          ["ProtectHome", "yes"],
          ["PrivateTmp", "yes"],
          ["StateDirectory", basename(paths.leadershipStateDir)],
          // kubectl's cache (the agent passes CACHE_DIRECTORY to --cache-dir).
          ["CacheDirectory", basename(paths.leadershipStateDir)],
        ],
      ],
    ],
  };
}

/** Runs a leadership step every retry period, as client-go's elector retries (infra/gateway/leadership.ts). */
export function leadershipTimerUnit(leadership: GatewayLeadership): SystemdUnitFile {
  return {
    name: LEADERSHIP_TIMER_UNIT,
    sections: [
      ["Unit", [["Description", "Run the IoT gateway pair's leadership step every retry period"]]],
      [
        "Timer",
        [
          ["OnBootSec", "10s"],
          ["OnUnitActiveSec", `${leadership.retryPeriodSeconds}s`],
          // systemd's default (1 min) would stretch a period of seconds; the lease's margin is one retry period.
          ["AccuracySec", "100ms"],
          ["Unit", LEADERSHIP_SERVICE_UNIT],
        ],
      ],
      ["Install", [["WantedBy", "timers.target"]]],
    ],
  };
}

/** Every unit a gateway of a pair installs: the single gateway's, kgctl's in its pair form, and the leadership step. */
export function gatewayPairUnits(options: GatewayPlan, leadership: GatewayLeadership, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): SystemdUnitFile[] {
  return [
    pairKiloConnectUnit(options, paths),
    steeringAgentServiceUnit(paths),
    steeringAgentTimerUnit(options),
    leadershipServiceUnit(leadership, paths),
    leadershipTimerUnit(leadership),
  ];
}

// Values are validated to plain words; anything else is quoted rather than split, and % (a systemd specifier) doubled.
function systemdWord(word: string): string {
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(word) ? word : shellQuote(word).replace(/%/g, "%%");
}
