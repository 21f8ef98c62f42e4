#!/usr/bin/env bash
# Builds the envoy-api checker (main.go next to this script, on go-control-plane's Envoy API) once
# and caches it outside the repository, keyed by the go-control-plane version and a hash of the
# module's files, the build flags and the Go version: a second run only checks the cache.
#
# Usage: tools/envoy-api/build.sh    prints the checker binary's path on stdout; progress on stderr
# Environment:
#   IOT_UDP_INGRESS_CACHE  cache root (default ~/.cache/iot-udp-ingress); the binary goes under
#                          $IOT_UDP_INGRESS_CACHE/toolchain/
#   TOOLCHAIN_GO_P         parallel Go compile jobs (default 2)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root="${IOT_UDP_INGRESS_CACHE:-$HOME/.cache/iot-udp-ingress}/toolchain"
# Sources come from the committed go.mod/go.sum only; a newer Go must not be fetched, and the
# binary must not need a C toolchain.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
build_flags=(-p "${TOOLCHAIN_GO_P:-2}" -trimpath -ldflags "-s -w")
usual="2-3 min on 2 busy cores (seconds with a warm Go build cache)"

log() { echo "envoy-api: $*" >&2; }
die() { log "error: $*"; exit 1; }

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then PATH="$PATH:/usr/local/go/bin"; fi
command -v go >/dev/null || die "go is not installed (Go >= 1.26 with access to the Go module proxy is required)"

module=github.com/envoyproxy/go-control-plane/envoy
version=$(awk -v m="$module" '($1 == m) { print $2 } ($1 == "require" && $2 == m) { print $3 }' "$here/go.mod" | head -n1)
[[ -n "$version" ]] || die "$here/go.mod does not require $module"
key=$( { (cd "$here" && sha256sum go.mod go.sum ./*.go); printf '%s\n' "${build_flags[@]}" "$(go env GOVERSION)"; } \
  | sha256sum | cut -c1-12)
out="$root/envoy-api-$version-$key"
binary="$out/envoy-api"

mkdir -p "$root/logs"
# Jest workers may start this at the same time: one builds, the others wait and find the cache.
exec 9>"$root/envoy-api.lock"
flock 9

if [[ -x "$binary" ]]; then
  log "cached: $binary"
  echo "$binary"; exit 0
fi

# Build in a copy, so that nothing go writes (go.mod/go.sum updates under -mod=mod) lands in the repository.
work="$root/work/envoy-api"
logfile="$root/logs/envoy-api.log"
rm -rf "$work" "$out.tmp"; mkdir -p "$work" "$out.tmp"
cp "$here"/go.mod "$here"/go.sum "$here"/*.go "$work/"
log "building the checker on $module $version with go build ${build_flags[*]}; a cold build usually takes $usual (log: $logfile)"
start=$(date +%s)
# A line a minute, so a cold build does not look hung.
# It waits on a background sleep, so that a TERM ends it at once rather than after the sleep.
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while :; do
    sleep 60 & nap=$!
    wait "$nap"
    log "  ... still building ($(( ($(date +%s) - start) / 60 )) min so far)"
  done
) >&2 &
beat=$!
rc=0
(cd "$work" && go build "${build_flags[@]}" -o "$out.tmp/envoy-api" .) >"$logfile" 2>&1 || rc=$?
kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
if (( rc != 0 )); then
  grep -v '^go: downloading' "$logfile" | tail -n 30 >&2
  die "go build failed (exit $rc); full log: $logfile"
fi
rm -rf "$out"; mv "$out.tmp" "$out"; rm -rf "$work"
# Builds of other versions or sources are dead weight.
find "$root" -maxdepth 1 -name 'envoy-api-v*' ! -path "$out" -exec rm -rf {} + || true
log "built in $(( $(date +%s) - start )) s: $binary"
echo "$binary"
