#!/usr/bin/env bash
# Builds a Kubernetes control plane for tests from the Go module proxy alone: kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl (k8s.io/kubernetes), etcd
# (go.etcd.io/etcd/server/v3) and kwok (sigs.k8s.io/kwok) with the stage files it ships. The Go
# wrapper modules next to this script pin every source. Binaries are cached outside the repository,
# keyed by version and by a hash of their wrapper module and build flags, so a second run only
# checks the cache (seconds).
#
# Usage: tools/kubernetes/build.sh     prints the directory holding all binaries on stdout
#        (and kwok's stage files under <dir>/kwok-stages/)
# Environment:
#   IOT_UDP_INGRESS_CACHE  cache root (default ~/.cache/iot-udp-ingress); binaries go to
#                          $IOT_UDP_INGRESS_CACHE/kubernetes/
#   TOOLCHAIN_GO_P         parallel Go compile jobs (default 2)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${IOT_UDP_INGRESS_CACHE:-$HOME/.cache/iot-udp-ingress}"
root="$cache/kubernetes"
logs="$root/logs"
# Sources come from the committed go.mod/go.sum only; a Go newer than the one installed must not be
# fetched, and the binaries must not need a C toolchain.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
go_jobs="${TOOLCHAIN_GO_P:-2}"

log() { echo "kubernetes-tools: $*" >&2; }
die() { log "error: $*"; exit 1; }

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then PATH="$PATH:/usr/local/go/bin"; fi
command -v go >/dev/null || die "go is not installed (Go >= 1.26 with access to the Go module proxy is required)"
mkdir -p "$root" "$logs"
# One build at a time per cache: a second run (another test job, CI) waits, then finds the binaries built.
exec 9>"$root/build.lock"
if ! flock -n 9; then log "another build of these binaries is running; waiting for it to finish"; flock 9; fi

# Version of a module required by a wrapper's go.mod (single-line or block require).
required_version() { # <wrapper dir> <module path>
  local version
  version=$(awk -v m="$2" '($1 == m) { print $2 } ($1 == "require" && $2 == m) { print $3 }' "$1/go.mod" | head -n1)
  [[ -n "$version" ]] || die "$1/go.mod does not require $2"
  echo "$version"
}

# Short hash of everything that determines a build: the wrapper module's files, the build flags and Go.
inputs_hash() { # <wrapper dir> <build flags...>
  local dir="$1"; shift
  { (cd "$dir" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum)
    sha256sum < "${BASH_SOURCE[0]}"
    printf '%s\n' "$@" "$(go env GOVERSION)"; } | sha256sum | cut -c1-12
}

# Prints a line every minute while a long build runs, so a cold build does not look hung.
# It runs with stdout on stderr (never the $(build) pipe) and ends its sleep when killed.
heartbeat() { # <what> <start epoch>
  local nap
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while :; do
    sleep 60 & nap=$!
    wait "$nap"
    log "  ... still building $1 ($(( ($(date +%s) - $2) / 60 )) min so far)"
  done
}

# Removes the cache directories matching <pattern> but <keep>, except those a running process was
# started from (a local cluster keeps running from the binaries it was started with).
prune() { # <pattern> <keep>
  local dir
  while IFS= read -r dir; do
    if readlink /proc/[0-9]*/exe 2>/dev/null | grep -q "^$dir/"; then
      log "keeping $dir: a running process uses it"
    else
      rm -rf "$dir"
    fi
  done < <(find "$root" -maxdepth 1 -name "$1" ! -path "$2")
}

# build <name> <version> <wrapper dir> <usual cold time> <ldflags> <tags> <prepare function|""> <packages...>
# Compiles in a copy of the wrapper under the cache (nothing generated lands in the repository) into
# $root/<name>-<version>-<hash>/ and prints that directory. `go: downloading` lines and compiler
# output go to $logs/<name>.log; on failure its tail is shown.
build() {
  local name="$1" version="$2" src="$3" usual="$4" ldflags="$5" tags="$6" prepare="$7"; shift 7
  local key; key=$(inputs_hash "$src" "$ldflags" "$tags" "$@")
  local out="$root/$name-$version-$key"
  if [[ -f "$out/.complete" ]]; then
    log "cache hit: $name $version ($out)"
    echo "$out"; return
  fi
  local work="$root/work/$name" logfile="$logs/$name.log"
  rm -rf "$work" "$out.tmp"; mkdir -p "$work" "$out.tmp"
  cp -R "$src/." "$work/"
  log "building $name $version: $(printf '%s ' "${@##*/}" | sed 's/^\. $/etcd /')(go build -p $go_jobs; usually $usual; log: $logfile)"
  local start; start=$(date +%s)
  heartbeat "$name" "$start" >&2 & local beat=$!
  local rc=0
  (cd "$work" && go build -p "$go_jobs" -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp/" "$@") >"$logfile" 2>&1 || rc=$?
  kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
  if (( rc != 0 )); then
    grep -v '^go: downloading' "$logfile" | tail -n 30 >&2
    die "go build of $name failed (exit $rc); full log: $logfile"
  fi
  [[ -z "$prepare" ]] || "$prepare" "$work" "$out.tmp"
  touch "$out.tmp/.complete"
  rm -rf "$out"; mv "$out.tmp" "$out"
  rm -rf "$work"
  # Older builds (other versions or wrapper contents) are dead weight, unless a cluster still runs from them.
  prune "$name-[v0-9]*" "$out"
  log "built $name $version in $(( $(date +%s) - start )) s"
  echo "$out"
}

# kwok exits with "no stages found" without Stage objects in its --config: copy the stage files its
# module ships (kustomize/stage/<resource>/<set>/*.yaml; not the tests) from the module cache.
prepare_kwok() { # <work dir> <output dir>
  local dir
  dir=$(cd "$1" && go mod download -json sigs.k8s.io/kwok | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d "$dir/kustomize/stage" ]] || die "sigs.k8s.io/kwok in the module cache has no kustomize/stage ($dir)"
  (cd "$dir/kustomize/stage" && find . -name '*.yaml' ! -name kustomization.yaml ! -path '*/testdata/*' -print0 \
    | while IFS= read -r -d '' file; do
        mkdir -p "$2/kwok-stages/$(dirname "$file")"; cp "$file" "$2/kwok-stages/$file"
      done)
  chmod -R u+w "$2/kwok-stages"
  [[ -f "$2/kwok-stages/node/fast/node-initialize.yaml" && -f "$2/kwok-stages/pod/fast/pod-ready.yaml" ]] \
    || die "kwok's stage files were not found under $dir/kustomize/stage"
}

total_start=$(date +%s)
kube_version=$(required_version "$here/kubernetes" k8s.io/kubernetes)
etcd_version=$(required_version "$here/etcd" go.etcd.io/etcd/server/v3)
kwok_version=$(required_version "$here/kwok" sigs.k8s.io/kwok)

# Version stamps as upstream's hack/lib/version.sh sets them (the API server reports them, clients
# check them); tags as upstream's release build (hack/lib/golang.sh).
kube_minor=${kube_version#v1.}; kube_minor=${kube_minor%%.*}
kube_ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor -X $pkg.gitTreeState=clean"
done
kube_dir=$(build kubernetes "$kube_version" "$here/kubernetes" \
  "about 17 min cold on 2 idle cores (45 min measured under heavy contention), under 1 min with a warm Go build cache" \
  "$kube_ldflags" selinux,notest,grpcnotrace "" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
etcd_dir=$(build etcd "$etcd_version" "$here/etcd" "about 3 min cold on 2 idle cores (7 min measured under contention)" \
  "-s -w" grpcnotrace "" .)
kwok_dir=$(build kwok "$kwok_version" "$here/kwok" "about 6 min cold on 2 idle cores (17 min measured under contention)" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v}" grpcnotrace prepare_kwok sigs.k8s.io/kwok/cmd/kwok)

# One directory with everything: hard links into the cached builds.
bin_dir="$root/bin-$(basename "$kube_dir")-$(basename "$etcd_dir")-$(basename "$kwok_dir")"
if [[ ! -f "$bin_dir/.complete" ]]; then
  rm -rf "$bin_dir"; mkdir -p "$bin_dir"
  for file in "$kube_dir"/* "$etcd_dir"/etcd "$kwok_dir"/kwok; do
    ln -f "$file" "$bin_dir/" 2>/dev/null || cp -f "$file" "$bin_dir/"
  done
  cp -R "$kwok_dir/kwok-stages" "$bin_dir/kwok-stages"
  touch "$bin_dir/.complete"
  prune 'bin-*' "$bin_dir"
fi
log "kubernetes $kube_version, etcd $etcd_version, kwok $kwok_version ready in $(( $(date +%s) - total_start )) s: $bin_dir"
echo "$bin_dir"
