import { mkdirSync, writeFileSync } from "fs";
import { join } from "path";
import { renderWireguardConfig, type WireguardConfig } from "../infra/wireguard";
import { STATE_DIR, startWireguardGo, type ProcessRegistry } from "./processes";
import { ipBatch, nsExec } from "../harness/netns";

/** The addresses a wg-quick file declares (`Address = ...`), which `wg setconf` does not read. */
export function wgQuickAddresses(config: string): string[] {
  return config
    .split("\n")
    .filter((l) => /^\s*Address\s*=/i.test(l))
    .flatMap((l) => l.split("=")[1].split(","))
    .map((a) => a.trim())
    .filter(Boolean);
}

/** AllowedIPs of every peer of a wg-quick file, in order. */
export function wgQuickAllowedIps(config: string): string[] {
  return config
    .split("\n")
    .filter((l) => /^\s*AllowedIPs\s*=/i.test(l))
    .flatMap((l) => l.split("=")[1].split(","))
    .map((a) => a.trim())
    .filter(Boolean);
}

/** Where applyWgQuick and reconfigureWireguard leave what `wg setconf` reads for an interface (its peers, now). */
export function setconfFile(ifname: string): string {
  return join(STATE_DIR, "wg", `${ifname}.setconf`);
}

/**
 * Brings up a wireguard-go interface in a namespace from a wg-quick file: `wg-quick strip`
 * gives what `wg setconf` reads, the `Address` lines go on the interface, and routes are
 * left to the caller (Kilo and the gateway each route their own way).
 */
export async function applyWgQuick(registry: ProcessRegistry, ns: string, ifname: string, config: string): Promise<number> {
  const dir = join(STATE_DIR, "wg");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${ifname}.conf`);
  writeFileSync(file, config, { mode: 0o600 });
  const stripped = setconfFile(ifname);
  writeFileSync(stripped, nsExec(ns, "wg-quick", ["strip", file]), { mode: 0o600 });
  const pid = await startWireguardGo(registry, ns, ifname);
  nsExec(ns, "wg", ["setconf", ifname, stripped]);
  ipBatch(ns, [...wgQuickAddresses(config).map((a) => `address add ${a} dev ${ifname}`), `link set ${ifname} up`]);
  return pid;
}

export async function applyWireguard(registry: ProcessRegistry, ns: string, ifname: string, config: WireguardConfig): Promise<number> {
  return applyWgQuick(registry, ns, ifname, renderWireguardConfig(config));
}

/**
 * Re-applies a config to a running interface the way kg and kgctl connect do: the whole peer list is replaced
 * (`wg setconf`; Kilo's pkg/wireguard/conf.go `WGConfig` sets ReplacePeers) and the addresses are swapped.
 */
export function reconfigureWireguard(ns: string, ifname: string, config: WireguardConfig): void {
  const dir = join(STATE_DIR, "wg");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${ifname}.conf`);
  writeFileSync(file, renderWireguardConfig(config), { mode: 0o600 });
  const stripped = setconfFile(ifname);
  writeFileSync(stripped, nsExec(ns, "wg-quick", ["strip", file]), { mode: 0o600 });
  nsExec(ns, "wg", ["setconf", ifname, stripped]);
  const addresses = config.interface.addresses ?? [];
  if (addresses.length > 0) ipBatch(ns, [`address flush dev ${ifname}`, ...addresses.map((a) => `address add ${a} dev ${ifname}`)]);
}
