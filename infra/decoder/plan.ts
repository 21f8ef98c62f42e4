/*
 * The decoders as a plan: their defaults (DECODER_DEFAULTS, written nowhere else) and the one check of what they may
 * reach (resolveDecoderPlan). DecoderService and DecoderDeployment apply the defaults, DecoderDeployment resolves its
 * egress with it, and the stack's config schema and config check import both.
 */
import { cidrContainsAddress, cidrsOverlap, parseIpv4Cidr } from "../network/cidr";
import { Problems } from "../problems";

/** Every decoder default: the components and the stack's config schema (`decoder.*`) import them. */
export const DECODER_DEFAULTS = {
  /** Name of the Service, the Deployment and the decoder app. */
  name: "decoder",
  /** UDP port the decoders listen on; CoAP's, which the devices' protocol uses. */
  port: 5683,
  /** HTTP port of the decoder's `/healthz` and `/ready`. */
  healthPort: 8080,
  resources: { requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } },
} as const;

/** An IPv4 network the decoders may reach, e.g. a backend's private network. */
export interface DecoderEgressCidr {
  /** IPv4 CIDR without host bits. */
  cidr: string;
  /** Sub-ranges of `cidr` that stay closed. Default: none. */
  except?: string[];
}

/**
 * Pods the decoders may reach, by labels (the NetworkPolicy peer semantics): `namespaceSelector` alone selects every
 * pod of the matching namespaces, `podSelector` alone the matching pods of the decoder namespace, both together the
 * matching pods of the matching namespaces. At least one of the two.
 */
export interface DecoderEgressSelector {
  /** matchLabels of the namespaces, e.g. `{ "kubernetes.io/metadata.name": "backend" }`. Default: none. */
  namespaceSelector?: Record<string, string>;
  /** matchLabels of the pods. Default: none. */
  podSelector?: Record<string, string>;
}

export type DecoderEgressPeer = DecoderEgressCidr | DecoderEgressSelector;

/** A destination port; `endPort` makes it the range port..endPort. */
export interface DecoderEgressPort {
  protocol: "TCP" | "UDP" | "SCTP";
  port: number;
  /** Last port of a range (>= port). Default: a single port. */
  endPort?: number;
}

/** One egress allowance: any of `to` on any of `ports`. Both lists must be non-empty (no "all ports" rule). */
export interface DecoderEgressRule {
  to: DecoderEgressPeer[];
  ports: DecoderEgressPort[];
}

/** What the decoder plan checks; no Pulumi types, so the stack can resolve it from config too. */
export interface DecoderPlanInput {
  /**
   * Where else the decoders may connect besides downlinks and DNS. A CIDR may not reach into a device subnet unless
   * `except` carves that subnet out: traffic to devices is limited to the downlink ports. Default: none.
   */
  egress?: readonly DecoderEgressRule[];
  /**
   * The device subnets known when planning, required (may be empty); one known only at deploy time (an Output) cannot
   * be checked for overlap and is left out. A malformed one is skipped here: its own check reports it.
   */
  deviceSubnets: readonly string[];
}

/** A DecoderPlanInput with its defaults applied and its checks passed. */
export interface DecoderPlan {
  readonly egress: readonly DecoderEgressRule[];
}

/** What a PlanError of resolveDecoderPlan is about. */
export const DECODER_PLAN_SUBJECT = "decoder";

export function isCidrPeer(peer: DecoderEgressPeer): peer is DecoderEgressCidr {
  return "cidr" in peer;
}

/**
 * Applies the decoder defaults and checks the egress rules: why they would be unsafe or rejected by the API server
 * (an empty list means "everything" in a NetworkPolicy, which is never what a missing value should mean here).
 * Throws a PlanError with every problem at its key path in `input` (`egress[0].to[1].cidr`).
 */
export function resolveDecoderPlan(input: DecoderPlanInput): DecoderPlan {
  const egress = input.egress ?? [];
  const problems = new Problems();
  egress.forEach((rule, index) => egressRuleProblems(problems, `egress[${index}]`, rule, input.deviceSubnets));
  problems.throwIfAny(DECODER_PLAN_SUBJECT);
  return { egress: [...egress] };
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

function isCidr(text: string): boolean {
  try {
    parseIpv4Cidr(text);
    return true;
  } catch {
    return false;
  }
}

/** `inner` lies entirely inside `outer`. */
function cidrContains(outer: string, inner: string): boolean {
  const innerNetwork = parseIpv4Cidr(inner);
  return cidrContainsAddress(outer, innerNetwork.address) && parseIpv4Cidr(outer).prefixLength <= innerNetwork.prefixLength;
}

function egressRuleProblems(problems: Problems, at: string, rule: DecoderEgressRule, deviceSubnets: readonly string[]): void {
  if (rule.to.length === 0) problems.add(`${at}.to`, "must name at least one destination (an empty list allows every destination)");
  if (rule.ports.length === 0) problems.add(`${at}.ports`, "must name at least one port (an empty list allows every port)");
  rule.to.forEach((peer, p) => peerProblems(problems, `${at}.to[${p}]`, peer, deviceSubnets));
  rule.ports.forEach((port, i) => {
    const portAt = `${at}.ports[${i}]`;
    if (!["TCP", "UDP", "SCTP"].includes(port.protocol)) problems.add(`${portAt}.protocol`, `must be TCP, UDP or SCTP, got ${String(port.protocol)}`);
    if (!isPort(port.port)) problems.add(`${portAt}.port`, `must be a port in 1-65535, got ${String(port.port)}`);
    if (port.endPort !== undefined && (!isPort(port.endPort) || port.endPort < port.port)) {
      problems.add(`${portAt}.endPort`, `must be a port in ${port.port}-65535, got ${String(port.endPort)}`);
    }
  });
}

function peerProblems(problems: Problems, at: string, peer: DecoderEgressPeer, deviceSubnets: readonly string[]): void {
  if (!isCidrPeer(peer)) {
    const selectors = [peer.namespaceSelector, peer.podSelector].filter((selector) => selector !== undefined);
    if (selectors.length === 0 || selectors.some((selector) => Object.keys(selector).length === 0)) {
      problems.add(at, "needs a non-empty namespaceSelector or podSelector (an empty selector matches everything)");
    }
    return;
  }
  const except = peer.except ?? [];
  const valid = [
    problems.attempt(`${at}.cidr`, () => parseIpv4Cidr(peer.cidr)) !== undefined,
    ...except.map((e, i) => problems.attempt(`${at}.except[${i}]`, () => parseIpv4Cidr(e)) !== undefined),
  ];
  if (valid.includes(false)) return;
  except.forEach((e, i) => {
    if (!cidrContains(peer.cidr, e)) problems.add(`${at}.except[${i}]`, `${e} is not inside ${peer.cidr}`);
  });
  for (const device of deviceSubnets) {
    if (!isCidr(device) || !cidrsOverlap(peer.cidr, device)) continue;
    if (!except.some((e) => cidrContains(e, device))) {
      problems.add(`${at}.cidr`, `${peer.cidr} overlaps the device subnet ${device}; traffic to devices is limited to downlinkPorts (add it to except)`);
    }
  }
}
