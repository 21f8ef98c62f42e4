#!/bin/bash
# Steering agent of the IoT gateway: points the nftables steering map at the ingress nodes that can take device
# traffic (ready Envoy and a ready local decoder), atomically and only when the decision changed; keeps the last
# good map when the Kubernetes API cannot be read or when no node qualifies (fail-static).
#
# `iot-steering-agent` (or `sync`) refreshes the map once; `render` turns a decision on stdin into the nft transaction.
#
# Fail-static: when the API or the Kilo interface cannot be read, or when no ingress node qualifies, the agent keeps
# the last applied map and exits non-zero so the failure shows in `systemctl status` and the journal. An empty target
# set is never applied: it would silently drop every device packet, while the last good set still reaches nodes that
# are probably alive (a view with no ready node is far more often a transient API or rollout state than a cluster
# without ingress). The last good decision is kept in the state directory and re-applied when the live ruleset lost it
# (reboot, nftables reload) even if the API is down.
#
# Stale mesh config: each run also compares the nodes Kilo counts with what the Kilo interface routes (the decision's
# `mesh` facts), records the result in $MESH_STATUS (state, the last time every node was routed, since when each
# unrouted node has been so) and, once a node has been unrouted for longer than $STALE_AFTER seconds, logs
# `stale mesh config: ...` and exits $EXIT_MESH_STALE while steering stays applied to the routed nodes.
#
# Metrics: after every run (whatever its outcome) the agent writes $TEXTFILE_DIR/$METRICS_FILE for
# prometheus-node-exporter's textfile collector (scripts/gateway-metrics.jq says what is in it).
#
# jq programs are single-quoted on purpose: their $variables belong to jq, not to the shell.
# shellcheck disable=SC2016
set -euo pipefail

# Parameters: readonly variables rendered from the gateway options by infra/gateway/steering-agent.ts.
# @parameters

log() {
  printf '%s\n' "$*" >&2
}

render_transaction() {
  "$JQ" -r --arg table "$NFT_TABLE" --arg chain "$NFT_CHAIN" --arg map "$NFT_MAP" --argjson seed "$SEED" "$RENDER_PROGRAM"
}

# systemd's CacheDirectory= sets CACHE_DIRECTORY; the home directory is not writable for this service.
kube_get() {
  "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --cache-dir "${CACHE_DIRECTORY:-/var/cache/iot-steering}" \
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
  kube_get endpointslices.discovery.k8s.io --namespace "$DECODER_NAMESPACE" \
    --selector "kubernetes.io/service-name=$DECODER_SERVICE" >"$work/slices.json" || return 1
  # Anything but three Lists (an error object, an empty reply) is an API failure, not "no targets".
  "$JQ" -e -n '[inputs | (.kind // "") | endswith("List")] | length == 3 and all' \
    "$work/nodes.json" "$work/pods.json" "$work/slices.json" >/dev/null || return 1
  "$JQ" -n --slurpfile nodes "$work/nodes.json" --slurpfile pods "$work/pods.json" --slurpfile slices "$work/slices.json" \
    '{nodes: $nodes[0], envoyPods: $pods[0], decoderSlices: $slices[0]}' |
    "$JQ" -c --arg labelKey "$LABEL_KEY" --arg labelValue "$LABEL_VALUE" --arg decoderService "$DECODER_SERVICE" \
      --argjson buckets "$BUCKETS" --rawfile routes "$work/routes.txt" --argjson now "$now" \
      -f "$DECISION_PROGRAM" >"$work/decision.json" || return 1
}

# Updates the mesh status file from the decision's mesh facts and logs the stale report; returns 1 when stale.
report_mesh() {
  local work=$1 now=$2 previous_state=""
  [[ ! -f $MESH_STATUS ]] || previous_state=$("$JQ" -r '.state // ""' "$MESH_STATUS" 2>/dev/null) || previous_state=""
  "$JQ" '.mesh' "$work/decision.json" |
    "$JQ" --slurpfile previous <([[ ! -f $MESH_STATUS ]] || cat "$MESH_STATUS") --argjson now "$now" \
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

# One steering run in $1 (a work directory) at time $2. It runs in a subshell with errexit (see sync), so any failing
# command ends the run with its status as before. What the metrics need to know about the run is left as files in
# $1: qualified (targets in a fresh decision), api-error, in-force (this run's fresh decision is the map in force),
# changed (the map was rewritten).
steer() {
  local work=$1 now=$2 decided=0 mesh=0 status=0 fresh=0
  decide "$work" "$now" || decided=$?
  if ((decided == 2)); then
    log "error: cannot read the WireGuard peers of $KILO_IFACE; keeping the last good steering map"
    status=$EXIT_API_ERROR
    : >"$work/api-error"
  elif ((decided != 0)); then
    log "error: cannot read the Kubernetes API; keeping the last good steering map"
    status=$EXIT_API_ERROR
    : >"$work/api-error"
  else
    "$JQ" '.targets | length' "$work/decision.json" >"$work/qualified"
    if [[ $(<"$work/qualified") -eq 0 ]]; then
      log "error: no ingress node has a ready Envoy, a ready local decoder and a pod CIDR that $KILO_IFACE routes to it; keeping the last good steering map"
      status=$EXIT_NO_TARGETS
    else
      fresh=1
      [[ ! -f $STATE_DIR/decision.json ]] || cp "$STATE_DIR/decision.json" "$work/previous.json"
      cp "$work/decision.json" "$STATE_DIR/decision.json.new"
      mv -f "$STATE_DIR/decision.json.new" "$STATE_DIR/decision.json"
    fi
  fi

  if ((decided == 0)); then
    report_mesh "$work" "$now" || mesh=$?
    ((mesh != 2)) || log "error: cannot update $MESH_STATUS"
    ((mesh == 0 || status != 0)) || status=$EXIT_MESH_STALE
  fi

  if [[ ! -f $STATE_DIR/decision.json ]]; then
    log "error: no steering map has ever been applied; device traffic is not forwarded yet"
    return "$EXIT_NOTHING_APPLIED"
  fi
  render_transaction <"$STATE_DIR/decision.json" >"$work/steer.nft"
  if cmp -s "$work/steer.nft" "$RUN_DIR/applied.nft" && steering_rule_loaded; then
    ((fresh == 0)) || : >"$work/in-force"
    return "$status"
  fi
  "$NFT" -f "$work/steer.nft"
  cp "$work/steer.nft" "$RUN_DIR/applied.nft"
  : >"$work/changed"
  ((fresh == 0)) || : >"$work/in-force"
  log "applied steering to: $("$JQ" -r '[.targets[] | "\(.name)=\(.address)"] | join(" ")' "$STATE_DIR/decision.json")"
  forget_flows_to_removed_targets "$work/previous.json" "$STATE_DIR/decision.json"
  return "$status"
}

flag() {
  if [[ -e $1 ]]; then echo true; else echo false; fi
}

# Writes $TEXTFILE_DIR/$METRICS_FILE for prometheus-node-exporter's textfile collector after run $1 (work directory)
# at time $2 with exit status $3: written next to the target and renamed, so a scrape never reads half a file.
# Every step returns explicitly on failure (this runs as an || operand, where errexit does not apply). Steering never
# depends on it: a failure here is a warning.
write_metrics() {
  local work=$1 now=$2 status=$3 iface count="" max="" out
  "$JQ" -n --slurpfile previous <([[ ! -f $METRICS_HISTORY ]] || cat "$METRICS_HISTORY") --argjson now "$now" \
    --argjson status "$status" --arg qualified "$(cat "$work/qualified" 2>/dev/null)" --argjson apiError "$(flag "$work/api-error")" \
    --argjson inForce "$(flag "$work/in-force")" --argjson changed "$(flag "$work/changed")" \
    '(($previous | first) // {}) + {lastRun: $now, lastExit: $status, qualified: (if $qualified == "" then null else ($qualified | tonumber) end)}
      + (if $apiError then {lastApiError: $now} else {} end) + (if $inForce then {lastSuccess: $now} else {} end)
      + (if $changed then {lastChange: $now} else {} end)' >"$work/history.json" || return 1
  cp "$work/history.json" "$METRICS_HISTORY.new" || return 1
  mv -f "$METRICS_HISTORY.new" "$METRICS_HISTORY" || return 1

  : >"$work/wg.tsv"
  for iface in "$KILO_IFACE" "$UPLINK_IFACE"; do
    # Peer lines only, and of them no preshared key (field 2): the first line of `wg show dump` is the interface's
    # private key, so it is dropped before anything is written. An interface that is down has no peers to report.
    "$WG" show "$iface" dump 2>/dev/null |
      awk -F '\t' -v iface="$iface" 'NR > 1 { print iface "\t" $1 "\t" $5 "\t" $6 "\t" $7 }' >>"$work/wg.tsv" || true
  done
  "$NFT" -j list counters >"$work/counters.json" 2>/dev/null || echo '{}' >"$work/counters.json"
  count=$(cat "$CONNTRACK_DIR/nf_conntrack_count" 2>/dev/null) || count=""
  max=$(cat "$CONNTRACK_DIR/nf_conntrack_max" 2>/dev/null) || max=""

  mkdir -p "$TEXTFILE_DIR" || return 1
  out="$TEXTFILE_DIR/.$METRICS_FILE.$$"
  "$JQ" -n -r --slurpfile decision <([[ ! -f $STATE_DIR/decision.json ]] || cat "$STATE_DIR/decision.json") \
    --slurpfile mesh <([[ ! -f $MESH_STATUS ]] || cat "$MESH_STATUS") --slurpfile history "$METRICS_HISTORY" \
    --slurpfile counters "$work/counters.json" --rawfile wg "$work/wg.tsv" --argjson peerNames "$UPLINK_PEERS" \
    --arg conntrackCount "$count" --arg conntrackMax "$max" --argjson now "$now" "$METRICS_PROGRAM" >"$out" ||
    { rm -f "$out"; return 1; }
  chmod 0644 "$out" || { rm -f "$out"; return 1; }
  mv -f "$out" "$TEXTFILE_DIR/$METRICS_FILE" || { rm -f "$out"; return 1; }
}

sync() {
  local work now status=0
  mkdir -p "$STATE_DIR" "$RUN_DIR"
  exec 9>"$RUN_DIR/lock"
  flock -n 9 || { log "another run holds $RUN_DIR/lock"; return 0; }
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local to this function
  trap "rm -rf '$work'" EXIT

  now=$(date +%s)
  # A subshell with errexit of its own: as an operand of || the run would lose errexit, and a failing nft or cp
  # would go unnoticed. The exit status is the run's, and the metrics are written whatever it was.
  set +e
  (
    set -e
    steer "$work" "$now"
  )
  status=$?
  set -e
  write_metrics "$work" "$now" "$status" || log "warning: could not write $TEXTFILE_DIR/$METRICS_FILE (steering is not affected)"
  return "$status"
}

case "${1:-sync}" in
  sync) sync ;;
  render) render_transaction ;;
  *)
    log "usage: $0 [sync|render]"
    exit 64
    ;;
esac
