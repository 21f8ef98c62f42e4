import { renderWireguardConfig } from "../wireguard";
import type { GatewayPlan } from "./plan";

/**
 * The wg-quick configuration of the device uplink. wg-quick routes each concentrator's AllowedIPs (its device
 * subnets) through the interface, so replies and downlinks to devices leave this way. The ingress address is added
 * to the interface when it differs from the uplink address: the gateway must own it for the DNAT to see packets.
 */
export function renderUplinkConfig(options: GatewayPlan, privateKey: string): string {
  const uplink = options.uplink;
  const addresses = [`${uplink.address}/32`];
  if (options.ingress.address !== uplink.address) addresses.push(`${options.ingress.address}/32`);
  return renderWireguardConfig({
    interface: { privateKey, addresses, listenPort: uplink.listenPort, mtu: uplink.mtu },
    peers: uplink.concentrators.map((concentrator) => ({
      name: concentrator.name,
      publicKey: concentrator.publicKey,
      allowedIps: concentrator.deviceSubnets,
      ...(concentrator.endpoint === undefined ? {} : { endpoint: concentrator.endpoint }),
      persistentKeepalive: concentrator.persistentKeepalive,
    })),
  });
}

/** The systemd unit instance wg-quick provides for the uplink. */
export function uplinkUnitName(options: GatewayPlan): string {
  return `wg-quick@${options.uplink.interfaceName}.service`;
}
