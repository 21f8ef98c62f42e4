#!/usr/bin/env bash
# A local Kubernetes control plane for tests, on 127.0.0.1 only: etcd, kube-apiserver (TLS from a CA
# made here, RBAC and Node authorizers, service-account token signing), kube-controller-manager
# (service-account token and EndpointSlice controllers among its defaults; no node CIDR allocation),
# kube-scheduler and kwok (fake nodes and pods: nodes go Ready, pods get IPs from their node's
# podCIDR). Nodes are shaped like the stack's pools, carry the annotations Kilo writes, and Kilo's
# Peer CRD, the Prometheus Operator's PodMonitor, ServiceMonitor and PrometheusRule CRDs and a stand-in
# for the cluster add-ons are installed. The binaries come from build.sh.
#
# Usage:
#   tools/kubernetes/local-cluster.sh start [--ingress-nodes N] [--general-nodes N] [--nodes FILE]
#       Starts a fresh cluster (after stopping any earlier one and killing its leftovers), waits
#       until nodes are Ready and the add-on stand-in runs, prints the admin kubeconfig's path on
#       stdout and exits, leaving the cluster running.
#   tools/kubernetes/local-cluster.sh stop       stops every process of the cluster
#   tools/kubernetes/local-cluster.sh status     exit 0 if every process runs and the API answers
#   tools/kubernetes/local-cluster.sh kubeconfig prints the admin kubeconfig's path
#
# --nodes FILE: one node a line, `<name> <pool> <role> <public IPv4> [<pod CIDR>]`, role `ingress` (labelled and
# tainted iot-udp-ingress/role=ingress:NoSchedule) or `general` (untainted); `#` starts a comment.
# Default: --ingress-nodes 3 (pool "ingress") and --general-nodes 1 (pool "general").
#
# Files (state directory, default $IOT_UDP_INGRESS_CACHE/kubernetes/local-cluster, or
# LOCAL_CLUSTER_DIR): kubeconfig (admin, user `admin` in group system:masters, certificates embedded),
# cluster.env (KUBECONFIG, LOCAL_CLUSTER_SERVER, LOCAL_CLUSTER_BIN, ports, pids), pki/, logs/<component>.log,
# pids/<component>.pid, etcd/ (data; wiped on every start).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${IOT_UDP_INGRESS_CACHE:-$HOME/.cache/iot-udp-ingress}"
state="${LOCAL_CLUSTER_DIR:-$cache/kubernetes/local-cluster}"
components=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd) # stop order

POD_CIDR=100.64.0.0/15         # cluster.podCidr default; each node gets a /24 of it
SERVICE_CIDR=10.32.0.0/20      # cluster.serviceCidr default
SERVICE_IP=10.32.0.1           # the `kubernetes` Service's ClusterIP (first address)
KILO_SUBNET_PREFIX=10.4.0      # Kilo's 10.4.0.0/16 on Kosmos
KILO_PORT=51820
ROLE_KEY=iot-udp-ingress/role
INGRESS_ROLE=ingress
# The Prometheus Operator whose CRDs are installed: the newest release the Go module proxy serves here
# (v0.95.x is refused). Its module carries the operator's own generated CRDs.
PROMETHEUS_OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator
PROMETHEUS_OPERATOR_VERSION=v0.94.1
PROMETHEUS_OPERATOR_CRDS=(podmonitors servicemonitors prometheusrules)

log() { echo "local-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { date +%s%3N; }
since() { echo "$(( ($(now_ms) - $1) / 100 ))" | sed 's/\(.\)$/.\1/;s/^\./0./'; } # seconds, one decimal

# --- processes -------------------------------------------------------------------------------------

# Whether pid runs a process of this cluster: one of the component binaries, with the state directory
# in its command line (other programs that merely name a file of it, such as kubectl, are left alone).
ours() { # <pid>
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)} # a binary replaced by a rebuild since the process started
  [[ " ${components[*]} " == *" ${exe##*/} "* ]] || return 1
  tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$state/"
}

# Pids of this cluster's processes: those in pid files, and any other process whose command line names
# the state directory (left over after a crash lost its pid file).
our_pids() {
  local file pid
  {
    for file in "$state"/pids/*.pid; do
      [[ -f "$file" ]] || continue
      pid=$(cat "$file")
      if ours "$pid"; then echo "$pid"; fi
    done
    # Candidates: processes whose command line contains the state directory; ours() keeps the components.
    pgrep -f -- "$state/" | while read -r pid; do if ours "$pid"; then echo "$pid"; fi; done || true
  } | sort -un
}

stop_cluster() {
  local name pid pids=()
  for name in "${components[@]}"; do
    [[ -f "$state/pids/$name.pid" ]] || continue
    pid=$(cat "$state/pids/$name.pid")
    if ours "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  done
  # Leftovers without a pid file.
  while read -r pid; do
    [[ -n "$pid" && " ${pids[*]} " != *" $pid "* ]] || continue
    kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid")
  done < <(our_pids)
  local deadline=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while ours "$pid" && (( SECONDS < deadline )); do sleep 0.1; done
    if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$state/pids"
  (( ${#pids[@]} == 0 )) || log "stopped ${#pids[@]} processes"
}

# start_process <name> <binary> <args...>: runs detached from this shell (own session), logs to logs/<name>.log.
start_process() {
  local name="$1"; shift
  setsid "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! > "$state/pids/$name.pid"
}

# Fails with the tail of a component's log when it is no longer running.
check_running() { # <name>
  local pid; pid=$(cat "$state/pids/$1.pid")
  if ! ours "$pid"; then
    tail -n 20 "$state/logs/$1.log" >&2 || true
    die "$1 exited (log: $state/logs/$1.log)"
  fi
}

# wait_for <what> <timeout s> <command...>: polls until the command succeeds, watching every started component.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout)) file
  until "$@" >/dev/null 2>&1; do
    for file in "$state"/pids/*.pid; do check_running "$(basename "$file" .pid)"; done
    (( SECONDS < deadline )) || die "timed out after ${timeout} s waiting for $what"
    sleep 0.2
  done
}

free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 12000 ))
    [[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && ! grep -qx "$port" "$state/.ports" 2>/dev/null && break
  done
  echo "$port" >> "$state/.ports"
  echo "$port"
}

# --- PKI -------------------------------------------------------------------------------------------

# A client or server certificate signed by the cluster CA (ECDSA P-256, valid 30 days).
issue_cert() { # <name> <subject> [subjectAltName]
  local name="$1" subject="$2" san="${3:-}" pki="$state/pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "$san" ]]; then echo "extendedKeyUsage=serverAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi
  } > "$ext"
  openssl req -new -key "$pki/$name.key" -subj "$subject" 2>/dev/null \
    | openssl x509 -req -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 -sha256 \
        -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$ext"
}

make_pki() {
  local pki="$state/pki"
  mkdir -p "$pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=local-cluster-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$pki/ca.crt" 2>/dev/null
  issue_cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue_cert admin "/O=system:masters/CN=admin"
  issue_cert kube-controller-manager "/CN=system:kube-controller-manager"
  issue_cert kube-scheduler "/CN=system:kube-scheduler"
  # kwok plays every kubelet and writes node and pod status across the cluster.
  issue_cert kwok "/O=system:masters/CN=kwok"
  # Service-account token signing key (the API server verifies with the public half).
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
  openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
}

write_kubeconfig() { # <file> <user cert name>
  local pki="$state/pki"
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 < "$pki/$2.crt")
    client-key-data: $(base64 -w0 < "$pki/$2.key")
contexts:
- name: local
  context: { cluster: local, user: $2 }
current-context: local
EOF
  chmod 600 "$1"
}

# --- nodes -----------------------------------------------------------------------------------------

default_nodes() { # <ingress count> <general count>
  local i
  for ((i = 1; i <= $1; i++)); do echo "ingress-$i ingress ingress 192.0.2.$((10 + i))"; done
  for ((i = 1; i <= $2; i++)); do echo "general-$i general general 192.0.2.$((100 + i))"; done
}

# A WireGuard public key (base64 of the 32-byte X25519 public key), as Kilo publishes in kilo.squat.ai/key.
wireguard_public_key() { # <private key file to create>
  openssl genpkey -algorithm X25519 -out "$1" 2>/dev/null
  openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w0
}

# Manifest of one node. Kilo's annotations use the formats its node backend writes
# (squat/kilo pkg/k8s/backend.go, nodeBackend.Set): endpoint `ip:port`, wireguard-ip and internal-ip
# as IP/prefix (empty when none: Kosmos nodes have no internal IP in the mesh), key base64,
# last-seen Unix seconds, granularity; location is read by Kilo and set per node here, as on Kosmos
# where every node is its own segment.
node_manifest() { # <index> <name> <pool> <role> <ip> <key> <pod CIDR>
  local index="$1" name="$2" pool="$3" role="$4" ip="$5" key="$6" pod_cidr="$7"
  local taints="" role_label=""
  if [[ "$role" == "$INGRESS_ROLE" ]]; then
    role_label="    $ROLE_KEY: $INGRESS_ROLE"
    taints="  taints:
  - { key: $ROLE_KEY, value: $INGRESS_ROLE, effect: NoSchedule }"
  fi
  cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  labels:
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    k8s.scaleway.com/pool-name: $pool
    topology.kubernetes.io/region: fr-par
$role_label
  annotations:
    kwok.x-k8s.io/node: fake
    kilo.squat.ai/endpoint: "$ip:$KILO_PORT"
    kilo.squat.ai/internal-ip: ""
    kilo.squat.ai/key: "$key"
    kilo.squat.ai/last-seen: "$(date +%s)"
    kilo.squat.ai/location: "$name"
    kilo.squat.ai/granularity: location
    kilo.squat.ai/wireguard-ip: "$KILO_SUBNET_PREFIX.$((index + 1))/16"
    kilo.squat.ai/discovered-endpoints: ""
spec:
  podCIDR: $pod_cidr
  podCIDRs: [$pod_cidr]
$taints
EOF
}

create_nodes() { # <nodes file>
  local index=0 name pool role ip pod_cidr manifest="$state/nodes.yaml" status=()
  mkdir -p "$state/pki/nodes"
  : > "$manifest"
  while read -r name pool role ip pod_cidr _; do
    [[ -n "$name" && "$name" != \#* ]] || continue
    [[ "$role" == "$INGRESS_ROLE" || "$role" == general ]] || die "node $name: role must be ingress or general, not '$role'"
    [[ "$ip" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "node $name: '$ip' is not an IPv4 address"
    (( index < 512 )) || die "at most 512 nodes fit $POD_CIDR in /24s"
    # The node's /24 of the pod CIDR by its position, unless the line gives one.
    pod_cidr=${pod_cidr:-100.$((64 + index / 256)).$((index % 256)).0/24}
    [[ "$pod_cidr" =~ ^100\.(6[4-5])\.[0-9]+\.0/24$ ]] || die "node $name: pod CIDR '$pod_cidr' is not a /24 of $POD_CIDR"
    node_manifest "$index" "$name" "$pool" "$role" "$ip" "$(wireguard_public_key "$state/pki/nodes/$name.key")" "$pod_cidr" >> "$manifest"
    status+=("$name $ip")
    index=$((index + 1))
  done < "$1"
  (( index > 0 )) || die "no nodes in $1"
  kctl apply -f "$manifest" >/dev/null
  # Addresses and capacity are status, which a create ignores. Set before kwok starts, so its
  # node-initialize stage keeps them (it only fills addresses a node lacks).
  local entry
  for entry in "${status[@]}"; do
    read -r name ip <<< "$entry"
    kctl patch node "$name" --subresource=status --type=merge -p "{\"status\":{
      \"addresses\":[{\"type\":\"ExternalIP\",\"address\":\"$ip\"},{\"type\":\"InternalIP\",\"address\":\"$ip\"},{\"type\":\"Hostname\",\"address\":\"$name\"}],
      \"capacity\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"pods\":\"110\"},
      \"allocatable\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"pods\":\"110\"}}}" >/dev/null
  done
  node_count=$index
}

# --- start -----------------------------------------------------------------------------------------

kctl() { "$bin/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }

# The CRDs of the kinds the stacks create when `ingress.metrics.scrape: podMonitor`,
# `gateway.metrics.scrape: serviceMonitor` or `observability.prometheusRule` is set, exactly as the operator
# ships them (example/prometheus-operator-crd/monitoring.coreos.com_<plural>.yaml of its Go module, generated
# by controller-gen from pkg/apis/monitoring/v1/*_types.go). The module comes from the Go module proxy into
# the Go module cache (4.5 MB once); nothing is copied into this repository.
prometheus_operator_crds() {
  command -v go >/dev/null || die "go is needed to fetch the Prometheus Operator's CRDs (PATH=\$PATH:/usr/local/go/bin)"
  local download dir plural
  download=$(cd / && go mod download -json "$PROMETHEUS_OPERATOR_MODULE@$PROMETHEUS_OPERATOR_VERSION") ||
    die "go mod download $PROMETHEUS_OPERATOR_MODULE@$PROMETHEUS_OPERATOR_VERSION failed: $(jq -r '.Error // empty' <<<"$download")"
  dir=$(jq -r .Dir <<<"$download")
  for plural in "${PROMETHEUS_OPERATOR_CRDS[@]}"; do
    kctl apply --server-side -f "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$plural.yaml" >/dev/null
  done
  for plural in "${PROMETHEUS_OPERATOR_CRDS[@]}"; do
    kctl wait --for condition=established --timeout=60s "crd/$plural.monitoring.coreos.com" >/dev/null
  done
}

api_ready() {
  curl -sf --max-time 2 --cacert "$state/pki/ca.crt" --cert "$state/pki/admin.crt" --key "$state/pki/admin.key" \
    "$server/readyz" | grep -qx ok
}

nodes_ready() {
  local ready
  ready=$(kctl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -cx True)
  [[ "$ready" == "$node_count" ]]
}

addon_running() {
  [[ "$(kctl -n kube-system get pods -l app.kubernetes.io/name=addon-standin \
    -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}')" == *Running* ]]
}

start_cluster() {
  local ingress_nodes=3 general_nodes=1 nodes_file=""
  while (( $# > 0 )); do
    case "$1" in
      --ingress-nodes) ingress_nodes="$2"; shift 2 ;;
      --general-nodes) general_nodes="$2"; shift 2 ;;
      --nodes) nodes_file="$2"; shift 2 ;;
      *) die "unknown option $1 (see the usage at the top of $0)" ;;
    esac
  done
  command -v openssl >/dev/null || die "openssl is required"
  command -v curl >/dev/null || die "curl is required"
  bin=$("$here/build.sh")

  local start; start=$(now_ms)
  stop_cluster
  rm -rf "$state"
  mkdir -p "$state"/{logs,pids,etcd,pki}
  if [[ -z "$nodes_file" ]]; then nodes_file="$state/nodes.txt"; default_nodes "$ingress_nodes" "$general_nodes" > "$nodes_file"; fi
  [[ -f "$nodes_file" ]] || die "$nodes_file does not exist"

  make_pki
  local etcd_port etcd_peer_port api_port cm_port scheduler_port
  etcd_port=$(free_port); etcd_peer_port=$(free_port); api_port=$(free_port); cm_port=$(free_port); scheduler_port=$(free_port)
  server="https://127.0.0.1:$api_port"
  write_kubeconfig "$state/kubeconfig" admin
  for user in kube-controller-manager kube-scheduler kwok; do write_kubeconfig "$state/$user.kubeconfig" "$user"; done
  log "PKI and kubeconfigs in $(since "$start") s"

  start_process etcd "$bin/etcd" --name local --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "local=http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --log-level warn
  wait_for "etcd" 30 sh -c "curl -sf --max-time 1 http://127.0.0.1:$etcd_port/health | grep -q '\"health\":\"true\"'"
  log "etcd up in $(since "$start") s"

  local pki="$state/pki"
  start_process kube-apiserver "$bin/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false --cert-dir="$state/apiserver-certs"
  wait_for "kube-apiserver /readyz" 60 api_ready
  log "kube-apiserver up in $(since "$start") s ($server)"

  # Kilo's and the Prometheus Operator's CRDs, the nodes and the add-on stand-in, before the controllers
  # and kwok start.
  kctl apply -f "$here/manifests/kilo-peer-crd.yaml" >/dev/null
  prometheus_operator_crds
  create_nodes "$nodes_file"
  kctl apply -f "$here/manifests/addon-standin.yaml" >/dev/null

  start_process kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$cm_port" --cert-dir="$state/kube-controller-manager-certs" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=true --controllers='*' \
    --allocate-node-cidrs=false --cluster-cidr="$POD_CIDR" --service-cluster-ip-range="$SERVICE_CIDR" \
    --leader-elect=false --profiling=false
  start_process kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$state/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$scheduler_port" --cert-dir="$state/kube-scheduler-certs" \
    --leader-elect=false --profiling=false
  # Stages as kwokctl enables them: node initialize + heartbeat with leases, pod ready/complete/delete.
  local stages="$state/kwok-stages.yaml" file
  : > "$stages"
  for file in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
      pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    [[ -f "$bin/kwok-stages/$file.yaml" ]] || die "kwok stage file $file.yaml missing from $bin/kwok-stages"
    { echo "---"; cat "$bin/kwok-stages/$file.yaml"; } >> "$stages"
  done
  start_process kwok "$bin/kwok" --kubeconfig="$state/kwok.kubeconfig" --config="$stages" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds=40 --server-address= --cidr=10.255.255.0/24

  wait_for "$node_count nodes Ready (kwok)" 60 nodes_ready
  log "$node_count nodes Ready in $(since "$start") s"
  wait_for "the default ServiceAccount (kube-controller-manager)" 60 kctl -n default get serviceaccount default
  if awk '$3 == "general" { found = 1 } END { exit !found }' "$nodes_file"; then
    wait_for "the add-on stand-in Running (kube-scheduler, kwok)" 60 addon_running
  else
    log "no general node: the add-on stand-in stays Pending, as it would on such a pool layout"
  fi

  local pids=() name rss=0 pid
  for name in "${components[@]}"; do
    pid=$(cat "$state/pids/$name.pid"); pids+=("$name=$pid")
    rss=$(( rss + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") ))
  done
  cat > "$state/cluster.env" <<EOF
KUBECONFIG=$state/kubeconfig
LOCAL_CLUSTER_SERVER=$server
LOCAL_CLUSTER_CA=$state/pki/ca.crt
LOCAL_CLUSTER_BIN=$bin
LOCAL_CLUSTER_DIR=$state
LOCAL_CLUSTER_ETCD=http://127.0.0.1:$etcd_port
LOCAL_CLUSTER_NODES=$nodes_file
LOCAL_CLUSTER_PIDS="${pids[*]}"
EOF
  log "cluster up in $(since "$start") s (after the build check): $node_count nodes, $(( rss / 1024 )) MiB resident; stop with: $0 stop"
  log "  export KUBECONFIG=$state/kubeconfig PATH=$bin:\$PATH"
  echo "$state/kubeconfig"
}

status_cluster() {
  [[ -f "$state/cluster.env" ]] || { log "not started ($state/cluster.env missing)"; return 1; }
  local name pid
  for name in "${components[@]}"; do
    pid=$(cat "$state/pids/$name.pid" 2>/dev/null || true)
    if [[ -z "$pid" ]] || ! ours "$pid"; then log "$name is not running"; return 1; fi
  done
  server=$(sed -n 's/^LOCAL_CLUSTER_SERVER=//p' "$state/cluster.env")
  api_ready || { log "the API server at $server is not ready"; return 1; }
  log "running: $server, KUBECONFIG=$state/kubeconfig"
}

case "${1:-}" in
  start) shift; start_cluster "$@" ;;
  stop) stop_cluster ;;
  status) status_cluster ;;
  kubeconfig) [[ -f "$state/kubeconfig" ]] || die "not started"; echo "$state/kubeconfig" ;;
  *) echo "usage: $0 start [--ingress-nodes N] [--general-nodes N] [--nodes FILE] | stop | status | kubeconfig" >&2; exit 2 ;;
esac
