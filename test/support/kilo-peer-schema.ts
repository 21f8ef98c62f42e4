import * as net from "net";

/**
 * The checks Kilo applies to a Peer (its `Peer.Validate()`, run by the optional admission webhook), plus the
 * CRD's required fields. Without the webhook the API server accepts an invalid Peer and Kilo silently ignores it,
 * so the stack must never produce one.
 */
export function kiloPeerProblems(peer: unknown): string[] {
  const problems: string[] = [];
  const object = peer as Record<string, any>;
  if (object?.apiVersion !== "kilo.squat.ai/v1alpha1") problems.push("apiVersion must be kilo.squat.ai/v1alpha1");
  if (object?.kind !== "Peer") problems.push("kind must be Peer");
  if (object?.metadata?.namespace !== undefined) problems.push("metadata.namespace: Peer is cluster scoped");
  if (typeof object?.metadata?.name !== "string" || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(object.metadata.name)) {
    problems.push("metadata.name must be a DNS subdomain");
  }
  const spec = object?.spec;
  if (typeof spec !== "object" || spec === null) return [...problems, "spec is required"];
  const known = new Set(["allowedIPs", "publicKey", "endpoint", "persistentKeepalive", "presharedKey"]);
  for (const key of Object.keys(spec)) if (!known.has(key)) problems.push(`spec.${key} is not a Peer field`);

  if (!Array.isArray(spec.allowedIPs) || spec.allowedIPs.length === 0) problems.push("spec.allowedIPs is required");
  else
    spec.allowedIPs.forEach((cidr: unknown, index: number) => {
      if (!isCidr(cidr)) problems.push(`spec.allowedIPs[${index}]: ${String(cidr)} is not in CIDR form`);
    });

  if (!isWireguardKey(spec.publicKey)) problems.push("spec.publicKey must be base64 of exactly 32 bytes");
  if (spec.presharedKey !== undefined && !isWireguardKey(spec.presharedKey)) problems.push("spec.presharedKey must be 32 bytes");
  if (spec.persistentKeepalive !== undefined && !(Number.isInteger(spec.persistentKeepalive) && spec.persistentKeepalive >= 0)) {
    problems.push("spec.persistentKeepalive must be a non-negative integer");
  }
  if (spec.endpoint !== undefined) {
    const { dnsOrIP, port } = spec.endpoint;
    for (const key of Object.keys(spec.endpoint)) if (!["dnsOrIP", "port"].includes(key)) problems.push(`spec.endpoint.${key} is not a field`);
    if (typeof dnsOrIP !== "object" || dnsOrIP === null) problems.push("spec.endpoint.dnsOrIP is required");
    else if (dnsOrIP.ip === undefined && dnsOrIP.dns === undefined) problems.push("spec.endpoint.dnsOrIP needs ip or dns");
    else if (dnsOrIP.ip !== undefined && net.isIP(String(dnsOrIP.ip)) === 0) problems.push("spec.endpoint.dnsOrIP.ip is not an IP");
    if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) problems.push("spec.endpoint.port must be in 1-65535");
  }
  return problems;
}

function isCidr(value: unknown): boolean {
  if (typeof value !== "string") return false;
  const [address, length, extra] = value.split("/");
  if (extra !== undefined || length === undefined || !/^\d+$/.test(length)) return false;
  const family = net.isIP(address);
  return family !== 0 && Number(length) <= (family === 4 ? 32 : 128);
}

function isWireguardKey(value: unknown): boolean {
  return typeof value === "string" && /^[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value, "base64").length === 32;
}
