import type { GatewayPlan } from "./plan";

/** What one concentrator must configure for its WireGuard peer "gateway": the AllowedIPs for each rewrite setting. */
export interface ConcentratorGatewayPeer {
  /** The concentrator's name (stack config `gateway.uplink.concentrators[].name`). */
  readonly concentrator: string;
  /** AllowedIPs toward the gateway with `downlinkSourceRewrite` on and off, and for the setting the options use. */
  readonly allowedIps: { readonly rewriteOn: readonly string[]; readonly rewriteOff: readonly string[]; readonly current: readonly string[] };
}

/**
 * The AllowedIPs each concentrator's WireGuard peer for the gateway must hold: WireGuard drops a decrypted packet whose
 * source is not in the sending peer's AllowedIPs, so they must cover every source the gateway sends devices:
 *   - the ingress address: replies of steered flows leave with it (conntrack undoes the steering DNAT), and so do all
 *     downlinks when the gateway rewrites their source;
 *   - the uplink address when it differs: ICMP errors the gateway itself sends (e.g. fragmentation needed) carry it;
 *   - with the rewrite off, the pod CIDR: downlinks leave with the decoder pod's address as source.
 * The concentrator routes the same prefixes into the tunnel, and routes its device subnets to the devices.
 */
export function concentratorGatewayPeers(options: GatewayPlan): ConcentratorGatewayPeer[] {
  const own = [...new Set([options.ingress.address, options.uplink.address])].map((address) => `${address}/32`);
  const rewriteOn = own;
  const rewriteOff = [...own, options.podCidr];
  return options.uplink.concentrators.map((concentrator) => ({
    concentrator: concentrator.name,
    allowedIps: { rewriteOn, rewriteOff, current: options.downlinkSourceRewrite ? rewriteOn : rewriteOff },
  }));
}
