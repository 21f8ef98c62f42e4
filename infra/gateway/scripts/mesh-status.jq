# Mesh status of the steering agent, from the mesh facts of a steering decision (stdin): a node Kilo counts that the
# Kilo interface does not route is "pending" until it has been so for $staleAfter seconds, then "stale".
# Arguments: --slurpfile previous (the previous status, or an empty file), --argjson now, --argjson staleAfter,
#   --arg iface. syncedAt is the last time every node was routed.
(($previous | first) // {}) as $p
| ($p.unroutedSince // {}) as $was
| ([.unrouted[] | {key: ., value: ($was[.] // $now)}] | from_entries) as $since
| [$since | to_entries[] | select($now - .value >= $staleAfter) | .key] as $stale
| (if (.unrouted | length) == 0 then $now else ($p.syncedAt // null) end) as $synced
| {
    state: (if ($stale | length) > 0 then "stale" elif (.unrouted | length) > 0 then "pending" else "synced" end),
    checkedAt: $now,
    syncedAt: $synced,
    unroutedSince: $since,
    unrouted: .unrouted,
    unroutedIngress: .unroutedIngress,
    withoutEndpoint: .withoutEndpoint,
    message: (if ($stale | length) == 0 then null else
      "stale mesh config: nodes \($stale | join(",")) are not routed by \($iface) (for \([$stale[] | $now - $since[.]] | max) s; "
      + (if $synced == null then "not in sync since the agent started" else "every node was routed at \($synced | todate)" end)
      + ")"
      + (if (.unroutedIngress | length) > 0 then "; ready ingress nodes left out of steering: \(.unroutedIngress | join(","))" else "" end)
      + (if (.withoutEndpoint | length) > 0 then "; nodes without a Kilo endpoint, which stop kgctl connect from syncing: \(.withoutEndpoint | join(","))" else "" end)
    end)
  }
