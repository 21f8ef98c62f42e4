import { NAT_TABLE, STEER_CHAIN, STEER_MAP } from "./nftables";
import type { ResolvedGatewayOptions } from "./options";
import { DEFAULT_GATEWAY_PATHS, type GatewayPaths } from "./paths";
import { MESH_STATUS_JQ, STEERING_TRANSACTION_JQ } from "./steering";

/** Exit status of the agent when it kept the last map because the API could not be read. */
export const STEERING_EXIT_API_ERROR = 2;
/** Exit status when no ingress node qualified and the last map was kept. */
export const STEERING_EXIT_NO_TARGETS = 3;
/** Exit status when there is neither a usable decision nor a last good one to restore. */
export const STEERING_EXIT_NOTHING_APPLIED = 4;
/** Exit status when steering was applied but the Kilo interface has left a node unrouted for too long (stale mesh). */
export const STEERING_EXIT_MESH_STALE = 5;
/** Name of the mesh status file in the agent's state directory. */
export const MESH_STATUS_FILE = "mesh-status.json";

/**
 * How long a node Kilo counts may stay unrouted by the gateway's Kilo interface before the agent reports a stale mesh
 * config: three kgctl resync periods (kgctl connect re-applies the peer config every period; cmd/kgctl/connect_linux.go
 * `--resync-period`), and at least a minute, so a node that joins is routed by the next sync without a report.
 */
export function meshStaleAfterSeconds(options: ResolvedGatewayOptions): number {
  return Math.max(60, 3 * options.kilo.resyncPeriodSeconds);
}

/** Embeds a jq program in single quotes; refuses one that contains a single quote. */
function singleQuotedProgram(program: string): string {
  if (program.includes("'")) throw new Error("a jq program embedded in the agent must not contain single quotes");
  return `'${program.trimEnd()}'`;
}

/** Quotes a value for bash: plain words stay as they are, anything else is single-quoted. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The steering agent (bash). `iot-steering-agent` (or `sync`) refreshes the map once; `render` turns a decision on
 * stdin into the nft transaction (used by tests to compare with renderSteeringUpdate).
 *
 * Fail-static: when the API or the Kilo interface cannot be read, or when no ingress node qualifies, the agent keeps
 * the last applied map and exits non-zero so the failure shows in `systemctl status` and the journal. An empty target set is never applied:
 * it would silently drop every device packet, while the last good set still reaches nodes that are probably alive (a
 * view with no ready node is far more often a transient API or rollout state than a cluster without ingress).
 * The last good decision is kept in the state directory and re-applied when the live ruleset lost it (reboot,
 * nftables reload) even if the API is down.
 *
 * Stale mesh config: each run also compares the nodes Kilo counts with what the Kilo interface routes (the decision's
 * `mesh` facts), records the result in `${MESH_STATUS_FILE}` in the state directory (state, the last time every node
 * was routed, since when each unrouted node has been so) and, once a node has been unrouted for longer than
 * `meshStaleAfterSeconds`, logs `stale mesh config: ...` and exits ${"`"}STEERING_EXIT_MESH_STALE${"`"} while steering stays
 * applied to the routed nodes.
 */
export function renderSteeringAgentScript(options: ResolvedGatewayOptions, paths: GatewayPaths = DEFAULT_GATEWAY_PATHS): string {
  const s = options.steering;
  const q = shellQuote;
  return `#!/bin/bash
# Steering agent of the IoT gateway: points the nftables steering map at the ingress nodes that can take device
# traffic (ready Envoy and a ready local decoder), atomically and only when the decision changed; keeps the last
# good map when the Kubernetes API cannot be read or when no node qualifies (fail-static).
# jq programs are single-quoted on purpose: their $variables belong to jq, not to the shell.
# shellcheck disable=SC2016
set -euo pipefail

readonly KUBECTL=${q(paths.kubectl)}
readonly KUBECONFIG_FILE=${q(paths.kubeconfig)}
readonly JQ=${q(paths.jq)}
readonly NFT=${q(paths.nft)}
readonly CONNTRACK=${q(paths.conntrack)}
readonly WG=${q(paths.wg)}
readonly DECISION_PROGRAM=${q(paths.steeringProgram)}
readonly STATE_DIR=${q(paths.steeringStateDir)}
readonly RUN_DIR=${q(paths.steeringRunDir)}

readonly LABEL_KEY=${q(s.ingressNodeLabel.key)}
readonly LABEL_VALUE=${q(s.ingressNodeLabel.value)}
readonly ENVOY_NAMESPACE=${q(s.envoyNamespace)}
readonly ENVOY_SELECTOR=${q(s.envoyPodSelector)}
readonly DECODER_NAMESPACE=${q(s.decoderNamespace)}
readonly DECODER_SERVICE=${q(s.decoderServiceName)}
readonly BUCKETS=${s.buckets}
readonly SEED=${s.hashSeed}
readonly INGRESS_ADDRESS=${q(options.ingress.address)}
readonly INGRESS_PORT=${options.ingress.port}
readonly NFT_TABLE=${q(NAT_TABLE)}
readonly NFT_CHAIN=${q(STEER_CHAIN)}
readonly NFT_MAP=${q(STEER_MAP)}
readonly KILO_IFACE=${q(options.kilo.interfaceName)}
readonly STALE_AFTER=${meshStaleAfterSeconds(options)}
readonly MESH_STATUS=${q(`${paths.steeringStateDir}/${MESH_STATUS_FILE}`)}

readonly RENDER_PROGRAM=${singleQuotedProgram(STEERING_TRANSACTION_JQ)}
readonly MESH_PROGRAM=${singleQuotedProgram(MESH_STATUS_JQ)}

log() {
  printf '%s\\n' "$*" >&2
}

render_transaction() {
  "$JQ" -r --arg table "$NFT_TABLE" --arg chain "$NFT_CHAIN" --arg map "$NFT_MAP" --argjson seed "$SEED" "$RENDER_PROGRAM"
}

# systemd's CacheDirectory= sets CACHE_DIRECTORY; the home directory is not writable for this service.
kube_get() {
  "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --cache-dir "\${CACHE_DIRECTORY:-/var/cache/iot-steering}" \\
    --request-timeout=5s get "$@" -o json
}

# Writes the decision for the current API state and Kilo interface to $1/decision.json; returns 1 when the API cannot
# be read, 2 when the Kilo interface cannot. Every step returns explicitly on failure: errexit does not apply inside a
# function called as an if condition.
decide() {
  local work=$1 now=$2
  # One line per peer: public key, a tab, its AllowedIPs (wireguard-tools src/show.c, "allowed-ips"). Not "dump":
  # its first line carries the private key.
  "$WG" show "$KILO_IFACE" allowed-ips >"$work/routes.txt" || return 2
  kube_get nodes >"$work/nodes.json" || return 1
  kube_get pods --namespace "$ENVOY_NAMESPACE" --selector "$ENVOY_SELECTOR" >"$work/pods.json" || return 1
  kube_get endpointslices.discovery.k8s.io --namespace "$DECODER_NAMESPACE" \\
    --selector "kubernetes.io/service-name=$DECODER_SERVICE" >"$work/slices.json" || return 1
  # Anything but three Lists (an error object, an empty reply) is an API failure, not "no targets".
  "$JQ" -e -n '[inputs | (.kind // "") | endswith("List")] | length == 3 and all' \\
    "$work/nodes.json" "$work/pods.json" "$work/slices.json" >/dev/null || return 1
  "$JQ" -n --slurpfile nodes "$work/nodes.json" --slurpfile pods "$work/pods.json" --slurpfile slices "$work/slices.json" \\
    '{nodes: $nodes[0], envoyPods: $pods[0], decoderSlices: $slices[0]}' |
    "$JQ" -c --arg labelKey "$LABEL_KEY" --arg labelValue "$LABEL_VALUE" --arg decoderService "$DECODER_SERVICE" \\
      --argjson buckets "$BUCKETS" --rawfile routes "$work/routes.txt" --argjson now "$now" \\
      -f "$DECISION_PROGRAM" >"$work/decision.json" || return 1
}

# Updates the mesh status file from the decision's mesh facts and logs the stale report; returns 1 when stale.
report_mesh() {
  local work=$1 now=$2 previous_state=""
  [[ ! -f $MESH_STATUS ]] || previous_state=$("$JQ" -r '.state // ""' "$MESH_STATUS" 2>/dev/null) || previous_state=""
  "$JQ" '.mesh' "$work/decision.json" |
    "$JQ" --slurpfile previous <([[ ! -f $MESH_STATUS ]] || cat "$MESH_STATUS") --argjson now "$now" \\
      --argjson staleAfter "$STALE_AFTER" --arg iface "$KILO_IFACE" "$MESH_PROGRAM" >"$work/mesh.json" || return 2
  mv -f "$work/mesh.json" "$MESH_STATUS"
  if [[ $("$JQ" -r '.state' "$MESH_STATUS") == stale ]]; then
    log "warning: $("$JQ" -r '.message' "$MESH_STATUS")"
    return 1
  fi
  if [[ $previous_state == stale ]]; then
    log "mesh config in sync again: $KILO_IFACE routes every node Kilo counts"
  fi
}

# Captured, not piped into grep -q: with pipefail, grep exiting at the first match can fail nft with SIGPIPE.
steering_rule_loaded() {
  local chain
  chain=$("$NFT" list chain ip "$NFT_TABLE" "$NFT_CHAIN" 2>/dev/null) || return 1
  [[ $chain == *jhash* ]]
}

# Flows already steered to a node that left would keep going there until they time out.
forget_flows_to_removed_targets() {
  local previous=$1 current=$2 target status
  [[ -f $previous ]] || return 0
  while IFS= read -r target; do
    status=0
    "$CONNTRACK" -D -p udp --orig-dst "$INGRESS_ADDRESS" --dport "$INGRESS_PORT" --reply-src "$target" >/dev/null 2>&1 ||
      status=$?
    # 1 means no flow matched. Otherwise only warn: the flows expire with the UDP timeout anyway.
    ((status <= 1)) || log "warning: could not forget the flows steered to $target (conntrack exit $status)"
  done < <("$JQ" -r --slurpfile now "$current" '[.targets[]? | .address? // .] - [$now[0].targets[].address] | .[]' "$previous")
}

sync() {
  local work now decided=0 mesh=0 status=0
  mkdir -p "$STATE_DIR" "$RUN_DIR"
  exec 9>"$RUN_DIR/lock"
  flock -n 9 || { log "another run holds $RUN_DIR/lock"; return 0; }
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local to this function
  trap "rm -rf '$work'" EXIT

  now=$(date +%s)
  decide "$work" "$now" || decided=$?
  if ((decided == 2)); then
    log "error: cannot read the WireGuard peers of $KILO_IFACE; keeping the last good steering map"
    status=${STEERING_EXIT_API_ERROR}
  elif ((decided != 0)); then
    log "error: cannot read the Kubernetes API; keeping the last good steering map"
    status=${STEERING_EXIT_API_ERROR}
  elif [[ $("$JQ" '.targets | length' "$work/decision.json") -eq 0 ]]; then
    log "error: no ingress node has a ready Envoy, a ready local decoder and a pod CIDR that $KILO_IFACE routes to it; keeping the last good steering map"
    status=${STEERING_EXIT_NO_TARGETS}
  else
    [[ ! -f $STATE_DIR/decision.json ]] || cp "$STATE_DIR/decision.json" "$work/previous.json"
    cp "$work/decision.json" "$STATE_DIR/decision.json.new"
    mv -f "$STATE_DIR/decision.json.new" "$STATE_DIR/decision.json"
  fi

  if ((decided == 0)); then
    report_mesh "$work" "$now" || mesh=$?
    ((mesh != 2)) || log "error: cannot update $MESH_STATUS"
    ((mesh == 0 || status != 0)) || status=${STEERING_EXIT_MESH_STALE}
  fi

  if [[ ! -f $STATE_DIR/decision.json ]]; then
    log "error: no steering map has ever been applied; device traffic is not forwarded yet"
    return ${STEERING_EXIT_NOTHING_APPLIED}
  fi
  render_transaction <"$STATE_DIR/decision.json" >"$work/steer.nft"
  if cmp -s "$work/steer.nft" "$RUN_DIR/applied.nft" && steering_rule_loaded; then
    return "$status"
  fi
  "$NFT" -f "$work/steer.nft"
  cp "$work/steer.nft" "$RUN_DIR/applied.nft"
  log "applied steering to: $("$JQ" -r '[.targets[] | "\\(.name)=\\(.address)"] | join(" ")' "$STATE_DIR/decision.json")"
  forget_flows_to_removed_targets "$work/previous.json" "$STATE_DIR/decision.json"
  return "$status"
}

case "\${1:-sync}" in
  sync) sync ;;
  render) render_transaction ;;
  *)
    log "usage: $0 [sync|render]"
    exit 64
    ;;
esac
`;
}
