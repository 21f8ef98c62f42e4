# Steering decision of the IoT gateway: which ingress nodes get device traffic, and which node each hash bucket goes
# to (rendezvous hashing of node names). Why pod CIDR addresses and node names: infra/gateway/steering.ts.
# Input: {"nodes": NodeList, "envoyPods": PodList, "decoderSlices": EndpointSliceList} (kubectl -o json).
# Arguments: --arg labelKey, --arg labelValue (ingress pool label), --arg decoderService, --argjson buckets,
#   --rawfile routes (`wg show <kilo iface> allowed-ips`: one line per peer, its base64 public key, a tab, and its
#   AllowedIPs separated by spaces or "(none)"), --argjson now (Unix seconds, for the 60 s node freshness of Kilo).
# Output: {targets: [{name, address}], buckets: [address per bucket], mesh: {kiloNodes, unrouted, unroutedIngress,
#   withoutEndpoint}}. A node is a target when it carries the ingress pool label, is Ready and not being deleted, has
#   a Ready Envoy pod and at least one ready endpoint of the decoder Service, a spec.podCIDR, and the Kilo interface
#   routes the first address of that pod CIDR to the kilo.squat.ai/key of the node.
def ipv4_re: "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";
def ipv4_int: split(".") | map(tonumber) | .[0] * 16777216 + .[1] * 65536 + .[2] * 256 + .[3];
def int_ipv4: [(. / 16777216 | floor), (. / 65536 | floor) % 256, (. / 256 | floor) % 256, . % 256] | map(tostring) | join(".");
# "a.b.c.d/n" -> {net, len} with the host bits cleared (as Go's net.ParseCIDR does), or null.
def cidr:
  if type == "string" and test("^" + ipv4_re + "/([0-9]|[12][0-9]|3[0-2])$") then
    split("/") | (.[1] | tonumber) as $len | (.[0] | ipv4_int) as $n | pow(2; 32 - $len) as $size
    | {net: ($n - ($n % $size)), len: $len}
  else null end;
def covers($a): .net <= $a and $a < .net + pow(2; 32 - .len);
def condition_true($type): any(.status.conditions[]?; .type == $type and .status == "True");
# EndpointSlice semantics: a missing ready condition means ready.
def endpoint_ready: .conditions.ready | if . == null then true else . == true end;
# Rendezvous weight of a node name for bucket $b: polynomial hashes of its code points modulo a prime below 2^26, then
# squarings modulo the prime; every intermediate value stays below 2^53, so jq's doubles are exact.
def name_hash($m): reduce explode[] as $c (0; (. * $m + $c) % 67108859);
def weight($h1; $h2; $b):
  67108859 as $p
  | (($h1 + ($b + 1) * 1000003) % $p)
  | ((. * . + $h2 + 1) % $p)
  | ((. * . + $b + 7) % $p)
  | ((. * . + 13) % $p);

# The Kilo interface's routes as {"<len>/<network>": key}, and the prefix lengths present, longest first: a lookup is
# then one probe per length instead of a scan of every peer's AllowedIPs (the decision runs for 1,000 nodes). WireGuard
# gives each prefix to one peer only; for a repeated line the last one wins, as max_by did before.
(reduce ($routes | split("\n")[] | select(length > 0) | split("\t") | select(length == 2)
    | .[0] as $k | .[1] | split(" ")[] | cidr | select(. != null) | {key: $k, len, net}) as $r
  ({}; .["\($r.len)/\($r.net)"] = $r.key)) as $route_keys
| ([$route_keys | keys[] | split("/")[0] | tonumber] | unique | reverse | map({len: ., size: pow(2; 32 - .)})) as $route_lengths
# The key of the peer WireGuard sends address $a to: the longest matching AllowedIPs prefix wins.
| def routed_key($a): first($route_lengths[] | $route_keys["\(.len)/\($a - ($a % .size))"] | strings) // null;
([.envoyPods.items[]?
  | select(.metadata.deletionTimestamp == null and condition_true("Ready"))
  | .spec.nodeName | strings] | map({(.): true}) | add // {}) as $envoy_nodes
| ([.decoderSlices.items[]?
  | select(.metadata.labels["kubernetes.io/service-name"] == $decoderService)
  | .endpoints[]?
  | select(endpoint_ready)
  | .nodeName | strings] | map({(.): true}) | add // {}) as $decoder_nodes
| [.nodes.items[]?
  | (.metadata.annotations // {}) as $a
  | (.spec.podCIDR | cidr) as $pod
  | {
      name: .metadata.name,
      key: ($a["kilo.squat.ai/key"] // ""),
      address: (if $pod != null and $pod.len <= 30 then $pod.net + 1 else null end),
      endpoint: (($a["kilo.squat.ai/force-endpoint"] // $a["kilo.squat.ai/endpoint"] // "") != ""),
      seen: ($a["kilo.squat.ai/last-seen"] // "" | tonumber? // 0),
      ingress: (.metadata.labels[$labelKey] == $labelValue),
      ready: (.metadata.deletionTimestamp == null and condition_true("Ready")),
      serving: ((.metadata.name // "") as $n | $envoy_nodes[$n] == true and $decoder_nodes[$n] == true)
    }
  | .routed = (.address != null and .key != "" and (routed_key(.address) == .key))] as $nodes
# Kilo counts a node with an endpoint, a key and a pod subnet, seen in the last 60 s (pkg/mesh/backend.go Node.Ready).
| [$nodes[] | select(.endpoint and .key != "" and .address != null and ($now - .seen) < 60)] as $kilo_nodes
| ([$nodes[] | select(.ingress and .ready and .serving and .address != null)]) as $serving
| ([$serving[] | select(.routed) | {name, address: (.address | int_ipv4)}] | unique_by(.name)) as $targets
| {
    targets: $targets,
    buckets: (if ($targets | length) == 0 then [] else
      # The highest weight wins a bucket, the smaller name on a tie. Each candidate is one number, weight * 2^20 plus
      # a rank that is higher for a smaller name ($targets is sorted by name), so jq's builtin max picks the winner
      # without a sort or an object per step; weights are below 2^26 and targets far fewer than 2^20, so the numbers
      # stay below 2^53 and exact.
      ($targets | to_entries | map({h1: (.value.name | name_hash(31)), h2: (.value.name | name_hash(257)), rank: (1048575 - .key)})) as $weighted
      | [range(0; $buckets) as $b
        | [$weighted[] | weight(.h1; .h2; $b) * 1048576 + .rank] | max
        | $targets[1048575 - (. % 1048576)].address]
    end),
    mesh: {
      kiloNodes: [$kilo_nodes[].name] | sort,
      unrouted: [$kilo_nodes[] | select(.routed | not) | .name] | sort,
      unroutedIngress: [$serving[] | select(.routed | not) | .name] | sort,
      withoutEndpoint: [$nodes[] | select(.endpoint | not) | .name] | sort
    }
  }
