# The steering agent's metrics in Prometheus' text format, for prometheus-node-exporter's textfile collector.
# Alerts and dashboard panels on these names: infra/observability/ (alerts.ts, dashboard.ts).
# Arguments: --slurpfile decision (the decision in force, or an empty file), --slurpfile mesh (the mesh status, or
#   empty), --slurpfile history ({lastRun, lastExit, qualified, lastSuccess, lastChange, lastApiError}),
#   --slurpfile counters (`nft -j list counters`, or {}), --rawfile wg (one line per peer: interface, public key,
#   latest handshake, rx bytes, tx bytes, tab-separated; never a private or preshared key), --argjson peerNames (name
#   by public key), --arg conntrackCount, --arg conntrackMax (as read from /proc, or ""), --argjson now.
# A value that cannot be known (no decision yet, no mesh status) is left out rather than written as 0: an alert on
# "0 targets" must not fire because the file has no decision in it.
def esc: tostring | gsub("\\\\"; "\\\\") | gsub("\n"; "\\n") | gsub("\""; "\\\"");
def labels: if length == 0 then "" else "{" + ([to_entries[] | "\(.key)=\"\(.value | esc)\""] | join(",")) + "}" end;
# One metric family: HELP and TYPE, then its samples [{labels, value}]; nothing when there is no sample.
def family($name; $type; $help; $samples):
  if ($samples | length) == 0 then empty else
    "# HELP \($name) \($help)", "# TYPE \($name) \($type)",
    ($samples[] | "\($name)\(.labels // {} | labels) \(.value)")
  end;
def one($value): if $value == null then [] else [{value: $value}] end;
def num: if . == "" or . == null then null else tonumber end;

($decision | first) as $d
| ($mesh | first) as $m
| (($history | first) // {}) as $h
| ((($counters | first) // {}).nftables // [] | map(.counter // empty)) as $c
| [$wg | split("\n")[] | select(. != "") | split("\t") | {interface: .[0], public_key: .[1], handshake: (.[2] | tonumber), rx: (.[3] | tonumber), tx: (.[4] | tonumber)}]
  | map(.labels = {interface, public_key} + (if $peerNames[.public_key] then {peer: $peerNames[.public_key]} else {} end)) as $p
| family("iot_gateway_steering_last_run_timestamp_seconds"; "gauge"; "Unix time of the steering agent's last run."; one($h.lastRun)),
  family("iot_gateway_steering_last_exit_code"; "gauge"; "Exit status of the last run: 0 ok, 2 API or Kilo interface unreadable, 3 no node qualified, 4 nothing ever applied, 5 stale mesh config."; one($h.lastExit)),
  family("iot_gateway_steering_last_success_timestamp_seconds"; "gauge"; "Unix time of the last run whose fresh decision (with at least one target) is the map in force."; one($h.lastSuccess)),
  family("iot_gateway_steering_last_change_timestamp_seconds"; "gauge"; "Unix time the steering map was last rewritten."; one($h.lastChange)),
  family("iot_gateway_steering_last_api_error_timestamp_seconds"; "gauge"; "Unix time of the last run that could not read the Kubernetes API or the Kilo interface."; one($h.lastApiError)),
  family("iot_gateway_steering_qualified_targets"; "gauge"; "Ingress nodes that qualified in the last run's decision (absent when the API could not be read)."; one($h.qualified)),
  family("iot_gateway_steering_targets"; "gauge"; "Ingress nodes in the steering map in force."; one($d.targets? | length)),
  family("iot_gateway_steering_buckets"; "gauge"; "Hash buckets of the steering map in force, per ingress node."; [
    $d.targets[]? as $t | {labels: {node: $t.name, address: $t.address}, value: ([$d.buckets[] | select(. == $t.address)] | length)}
  ]),
  family("iot_gateway_mesh_stale"; "gauge"; "1 when a node Kilo counts has been unrouted by the Kilo interface for longer than the stale threshold."; one(if $m == null then null elif $m.state == "stale" then 1 else 0 end)),
  family("iot_gateway_mesh_unrouted_nodes"; "gauge"; "Nodes Kilo counts that the Kilo interface does not route."; one($m.unrouted? | length)),
  family("iot_gateway_mesh_synced_timestamp_seconds"; "gauge"; "Unix time the Kilo interface last routed every node Kilo counts."; one($m.syncedAt?)),
  family("iot_gateway_mesh_config_age_seconds"; "gauge"; "Seconds since the Kilo interface last routed every node, at the agent's last run."; one(if $m.syncedAt? == null then null else $now - $m.syncedAt end)),
  family("iot_gateway_wireguard_latest_handshake_timestamp_seconds"; "gauge"; "Unix time of the peer's latest WireGuard handshake (0: never)."; [$p[] | {labels, value: .handshake}]),
  family("iot_gateway_wireguard_received_bytes_total"; "counter"; "Bytes received from the WireGuard peer."; [$p[] | {labels, value: .rx}]),
  family("iot_gateway_wireguard_sent_bytes_total"; "counter"; "Bytes sent to the WireGuard peer."; [$p[] | {labels, value: .tx}]),
  family("iot_gateway_steered_datagrams_total"; "counter"; "Device datagrams the forward chain passed to an ingress node."; [$c[] | select(.name == "steered_datagrams") | {value: .packets}]),
  family("iot_gateway_steered_flows_total"; "counter"; "Device flows the steering DNAT started (a flow's first datagram)."; [$c[] | select(.name == "steered_flows") | {value: .packets}]),
  family("iot_gateway_forward_dropped_packets_total"; "counter"; "Packets the forward chain dropped, by reason."; [$c[] | select(.name | startswith("drop_")) | {labels: {reason: (.name | ltrimstr("drop_"))}, value: .packets}]),
  family("iot_gateway_conntrack_entries"; "gauge"; "Connection tracking entries (nf_conntrack_count)."; one($conntrackCount | num)),
  family("iot_gateway_conntrack_max"; "gauge"; "Connection tracking limit (nf_conntrack_max)."; one($conntrackMax | num))
