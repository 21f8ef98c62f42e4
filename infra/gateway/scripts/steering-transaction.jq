# One nft transaction (text for nft -f) from a steering decision (stdin): flushes and refills the steering chain and
# map together, so no packet sees an empty map or a rule whose modulus disagrees with the map.
# Arguments: --arg table, --arg chain, --arg map, --argjson seed.
"flush chain ip \($table) \($chain)",
"flush map ip \($table) \($map)",
"add element ip \($table) \($map) { \([.buckets | to_entries[] | "\(.key) : \(.value)"] | join(", ")) }",
"add rule ip \($table) \($chain) dnat to jhash ip saddr mod \(.buckets | length) seed \($seed) map @\($map)"
