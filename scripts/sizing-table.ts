// Prints the Envoy session sizing table of README.md from the same function the stack uses.
import { DEFAULT_EPHEMERAL_PORTS, DEFAULT_SESSION_HEADROOM, sizeEnvoySessions } from "../infra/envoy";

/** Fleets worth showing: the two committed stacks first, then what changing one figure does. */
export const SIZING_CASES = [
  { devices: 2_000, reportIntervalSeconds: 60, idleTimeoutSeconds: 60, ingressNodes: 2 },
  { devices: 250_000, reportIntervalSeconds: 300, idleTimeoutSeconds: 60, ingressNodes: 4 },
  { devices: 250_000, reportIntervalSeconds: 300, idleTimeoutSeconds: 120, ingressNodes: 4 },
  { devices: 250_000, reportIntervalSeconds: 300, idleTimeoutSeconds: 120, ingressNodes: 6 },
  { devices: 250_000, reportIntervalSeconds: 60, idleTimeoutSeconds: 60, ingressNodes: 8 },
  { devices: 250_000, reportIntervalSeconds: 60, idleTimeoutSeconds: 60, ingressNodes: 14 },
  { devices: 1_000_000, reportIntervalSeconds: 600, idleTimeoutSeconds: 60, ingressNodes: 8 },
] as const;

export function renderSizingTable(): string {
  const header = [
    "| devices | report interval | idle timeout | ingress nodes | sessions per node | `max_connections` | file descriptors | fits a node's ports |",
    "|---:|---:|---:|---:|---:|---:|---:|:---:|",
  ];
  const rows = SIZING_CASES.map((fleet) => {
    // Sized without the port limit so that the table shows how far over it a fleet is.
    const sizing = sizeEnvoySessions({ ...fleet, ephemeralPorts: Number.MAX_SAFE_INTEGER });
    const cells = [
      fleet.devices.toLocaleString("en-US"),
      `${fleet.reportIntervalSeconds} s`,
      `${fleet.idleTimeoutSeconds} s`,
      String(fleet.ingressNodes),
      sizing.sessionsPerNode.toLocaleString("en-US"),
      sizing.maxConnections.toLocaleString("en-US"),
      sizing.fileDescriptorLimit.toLocaleString("en-US"),
      sizing.maxConnections <= DEFAULT_EPHEMERAL_PORTS ? "yes" : "no: rejected",
    ];
    return `| ${cells.join(" | ")} |`;
  });
  return [
    ...header,
    ...rows,
    "",
    `Headroom ${DEFAULT_SESSION_HEADROOM}x over the expected sessions; 1,024 descriptors on top for Envoy itself. ` +
      `Every session's upstream socket takes one of the node's ${DEFAULT_EPHEMERAL_PORTS.toLocaleString("en-US")} ephemeral ports ` +
      "(Linux's default range), so the config check rejects a fleet whose `max_connections` per node exceeds them.",
  ].join("\n");
}

if (require.main === module) {
  console.log(renderSizingTable());
}
