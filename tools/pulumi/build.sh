#!/usr/bin/env bash
# The Pulumi toolchain `pulumi preview` needs offline: the `pulumi` CLI, the Node.js language host
# and the kubernetes, random and scaleway resource plugins at the versions the npm packages in
# node_modules ask for.
#
# A `pulumi` on PATH whose plugin directory already holds those three plugins is used as it is:
# nothing is built. Otherwise everything is built from the Go module proxy alone: the Go wrapper
# modules next to this script pin every source, and the binaries are cached outside the
# repository, keyed by version and by a hash of their wrapper module, so a second run only checks
# the cache (under a second). The plugins are then installed into PULUMI_HOME.
#
# Usage: tools/pulumi/build.sh        prints the directory holding `pulumi` on stdout, and
#                                     PULUMI_HOME=<dir> as its second line
# Environment:
#   IOT_UDP_INGRESS_CACHE  cache root (default ~/.cache/iot-udp-ingress)
#   PULUMI_HOME            where the built plugins are installed (default $IOT_UDP_INGRESS_CACHE/pulumi-home)
#   TOOLCHAIN_GO_P         parallel Go compile jobs (default 2)
#   TOOLCHAIN_BUILD=1      build even when a pulumi with the plugins is on PATH (CI does: the checks
#                          must run against the pinned toolchain)
set -euo pipefail

tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$tools/../.." && pwd)
cache="${IOT_UDP_INGRESS_CACHE:-$HOME/.cache/iot-udp-ingress}"
toolchain="$cache/toolchain"
logs="$toolchain/logs"
export PULUMI_SKIP_UPDATE_CHECK=true
# Sources come from the committed go.mod/go.sum only; a Go newer than the one installed must not be
# fetched, and the binaries must not need a C toolchain.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
go_jobs="${TOOLCHAIN_GO_P:-2}"

log() { echo "pulumi-toolchain: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Evaluates a JavaScript expression over JSON read from stdin (bound to `d`); fails when it yields nothing.
# Node is already required by the project, so no JSON tool has to be installed.
json() { # <expression> [name=value ...: extra variables, read as process.env.name]
  local expression="$1"; shift
  env "$@" node -e '
    const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const result = eval(process.argv[1]);
    if (result === undefined || result === null) process.exit(1);
    process.stdout.write(typeof result === "string" ? result : JSON.stringify(result));
  ' "$expression"
}

# Version of a required module, read from a wrapper's go.mod.
required_version() { # <wrapper dir> <module path>
  (cd "$1" && go mod edit -json) | json 'd.Require.find((r) => r.Path === process.env.MODULE)?.Version' MODULE="$2"
}

# Plugin version an npm package asks for: its package.json `pulumi.version`, as the language host reads it.
npm_plugin_version() { # <npm package>
  local manifest="$repo/node_modules/$1/package.json"
  [[ -f "$manifest" ]] || die "$manifest is missing: run npm ci first"
  json 'd.pulumi?.version ?? d.version' < "$manifest"
}

# Short hash of everything that determines a binary: the wrapper module's files and the build flags.
inputs_hash() { # <wrapper dir> <build flags...>
  local dir="$1"; shift
  { (cd "$dir" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum)
    printf '%s\n' "$@" "$(go env GOVERSION)"; } | sha256sum | cut -c1-12
}

# Directory of a module in the module cache, downloading it if needed.
module_dir() { # <wrapper dir> <module path>
  (cd "$1" && go mod download -json "$2") | json 'd.Dir'
}

# Prints a line every minute while a long build runs, so a cold build does not look hung.
heartbeat() { # <what> <start epoch>
  local nap
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while :; do
    sleep 60 & nap=$!
    wait "$nap"
    log "  ... still building $1 ($(( ($(date +%s) - $2) / 60 )) min so far)"
  done
}

# build <binary> <version> <wrapper dir> <package> <ldflags> <tags> <usual cold time> [prepare function]
# Compiles in a copy of the wrapper under the cache (so generated files never land in the
# repository) and prints the cached binary's path. Tags follow each upstream's release build.
# `go: downloading` lines and compiler output go to $logs/<binary>.log; on failure its tail is shown.
build() {
  local name="$1" version="$2" src="$3" pkg="$4" ldflags="$5" tags="$6" usual="$7" prepare="${8:-}"
  local key; key=$(inputs_hash "$src" "$pkg" "$ldflags" "$tags")
  local out="$toolchain/$name-$version-$key"
  if [[ -x "$out/$name" ]]; then
    log "cache hit: $name $version ($out)"
    echo "$out/$name"; return
  fi
  local work="$toolchain/work/$name" logfile="$logs/$name.log"
  rm -rf "$work" "$out.tmp"; mkdir -p "$work" "$out.tmp" "$logs"
  cp -R "$src/." "$work/"
  [[ -z "$prepare" ]] || "$prepare" "$work" "$version" >"$logfile" 2>&1 || { tail -n 20 "$logfile" >&2; die "preparing $name failed"; }
  announce
  log "building $name $version (go build -p $go_jobs; usually $usual; log: $logfile)"
  local start; start=$(date +%s)
  heartbeat "$name" "$start" >&2 & local beat=$!
  local rc=0
  (cd "$work" && go build -p "$go_jobs" -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp/$name" "$pkg") >>"$logfile" 2>&1 || rc=$?
  kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
  if (( rc != 0 )); then
    grep -v '^go: downloading' "$logfile" | tail -n 30 >&2
    die "go build of $name failed (exit $rc); full log: $logfile"
  fi
  mv "$out.tmp" "$out"
  rm -rf "$work"
  # Older builds of this binary (other versions or wrapper contents) are dead weight.
  find "$toolchain" -maxdepth 1 -name "$name-[v0-9]*" ! -path "$out" -exec rm -rf {} + || true
  log "built $name $version in $(( $(date +%s) - start )) s"
  echo "$out/$name"
}

# The kubernetes provider's main embeds generated files that are git-ignored upstream and so absent
# from the module zip: the schema with the version set, and a compact copy of the Terraform mapping
# (what upstream's generate.go writes).
prepare_kubernetes() { # <work dir> <version>
  local data; data="$(module_dir "$1" github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes"
  json '({ ...d, version: process.env.VERSION })' VERSION="$2" < "$data/schema.json" > "$1/schema-embed.json"
  json 'd' < "$data/terraform-mapping.json" > "$1/terraform-mapping-embed.json"
}

total_start=$SECONDS

# Plugin versions: the ones the npm packages ask for, as the language host reads them.
declare -A plugin_file plugin_version
plugin_version[kubernetes]=$(npm_plugin_version @pulumi/kubernetes)
plugin_version[random]=$(npm_plugin_version @pulumi/random)
plugin_version[scaleway]=$(npm_plugin_version @pulumiverse/scaleway)
plugins=(kubernetes random scaleway)

# Whether the `pulumi` on PATH has a Node.js language host and all three plugins at those versions in
# its own plugin directory (its PULUMI_HOME, default ~/.pulumi).
has_plugins() {
  local listed name
  command -v pulumi-language-nodejs >/dev/null || [[ -x "$(dirname "$(command -v pulumi)")/pulumi-language-nodejs" ]] || return 1
  listed=$(pulumi plugin ls --json 2>/dev/null) || return 1
  for name in "${plugins[@]}"; do
    json 'd.find((p) => p.kind === "resource" && p.name === process.env.NAME && p.version === process.env.VERSION)' \
      NAME="$name" VERSION="${plugin_version[$name]}" <<< "$listed" >/dev/null || return 1
  done
}

if [[ "${TOOLCHAIN_BUILD:-}" != 1 ]] && command -v pulumi >/dev/null && has_plugins; then
  bin_dir=$(dirname "$(command -v pulumi)")
  log "using $(pulumi version) from PATH ($bin_dir) with its plugins: kubernetes ${plugin_version[kubernetes]}, random ${plugin_version[random]}, scaleway ${plugin_version[scaleway]} (set TOOLCHAIN_BUILD=1 to build the pinned toolchain instead)"
  printf '%s\nPULUMI_HOME=%s\n' "$bin_dir" "${PULUMI_HOME:-$HOME/.pulumi}"
  exit 0
fi

# Building needs Go; these machines keep it at /usr/local/go/bin, which is not always on PATH.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then PATH="$PATH:/usr/local/go/bin"; fi
command -v go >/dev/null || die "no pulumi with the kubernetes, random and scaleway plugins on PATH, and no Go to build them (looked on PATH and in /usr/local/go/bin): install Go >= 1.26 with access to the Go module proxy, or Pulumi with those plugins"
# The built plugins go to the cache's own plugin directory, never the user's.
export PULUMI_HOME="$cache/pulumi-home"
# One build at a time per cache: a second run (another test job, CI) waits, then finds the binaries built.
mkdir -p "$toolchain"
exec 9>"$toolchain/build.lock"
if ! flock -n 9; then log "another build of the toolchain is running; waiting for it to finish"; flock 9; fi

# Told once, before the first binary that is not cached yet (see build).
announce() {
  [[ -z "${announced:-}" ]] || return 0
  announced=1
  log "the first run builds the offline toolchain from the Go module proxy: pulumi, its Node.js language host and"
  log "the kubernetes, random and scaleway plugins, into $toolchain. On 2 busy cores that took 18, 1, 32, 11 and 4 min"
  log "(about 68 min in all, one progress line a minute); later runs find it cached in under a second."
}

sdk_version_var=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
cli_version=$(required_version "$tools/cli" github.com/pulumi/pulumi/pkg/v3)
host_version=$(required_version "$tools/language-nodejs" github.com/pulumi/pulumi/sdk/v3)
cli=$(build pulumi "$cli_version" "$tools/cli" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "-s -w -X $sdk_version_var=$cli_version" osusergo,grpcnotrace "18 min on 2 busy cores")
host=$(build pulumi-language-nodejs "$host_version" "$tools/language-nodejs" \
  github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs "-s -w -X $sdk_version_var=$host_version" osusergo,grpcnotrace \
  "1 min once pulumi is built")
# The CLI looks for its language host next to its own executable (symlinks resolved) and, unless
# PULUMI_IGNORE_AMBIENT_PLUGINS is set, on PATH: hard links put both in one real directory.
bin_dir="$toolchain/bin-$(basename "$(dirname "$cli")")-$(basename "$(dirname "$host")")"
mkdir -p "$bin_dir"
ln -f "$cli" "$bin_dir/pulumi" 2>/dev/null || cp -f "$cli" "$bin_dir/pulumi"
ln -f "$host" "$bin_dir/pulumi-language-nodejs" 2>/dev/null || cp -f "$host" "$bin_dir/pulumi-language-nodejs"
find "$toolchain" -maxdepth 1 -name 'bin-*' ! -path "$bin_dir" -exec rm -rf {} + || true
pulumi="$bin_dir/pulumi"

# The kubernetes wrapper builds a release of the provider itself, which must be the version the npm package asks for.
k8s_version=${plugin_version[kubernetes]}
k8s_source=$(required_version "$tools/provider-kubernetes" github.com/pulumi/pulumi-kubernetes/sdk/v4)
[[ "v$k8s_version" == "$k8s_source" ]] \
  || die "@pulumi/kubernetes asks for plugin $k8s_version but tools/pulumi/provider-kubernetes builds ${k8s_source#v}"
plugin_file[kubernetes]=$(build pulumi-resource-kubernetes "$k8s_version" "$tools/provider-kubernetes" . \
  "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$k8s_version" "" "32 min on 2 busy cores" prepare_kubernetes)
plugin_file[random]=$(build pulumi-resource-random "${plugin_version[random]}" "$tools/provider-random" . \
  "-s -w -X main.version=${plugin_version[random]}" "" "11 min on 2 busy cores")
plugin_file[scaleway]=$(build pulumi-resource-scaleway "${plugin_version[scaleway]}" "$tools/provider-scaleway" . \
  "-s -w -X main.version=${plugin_version[scaleway]}" "" "4 min on 2 busy cores after random, whose Terraform bridge it shares")

for name in "${plugins[@]}"; do
  version=${plugin_version[$name]}
  installed="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
  if [[ -x "$installed" ]] && cmp -s "$installed" "${plugin_file[$name]}"; then
    log "plugin resource $name $version already installed"
    continue
  fi
  "$pulumi" plugin install resource "$name" "$version" --file "${plugin_file[$name]}" --reinstall >>"$logs/plugin-install.log" 2>&1 \
    || { tail -n 20 "$logs/plugin-install.log" >&2; die "pulumi plugin install resource $name $version failed"; }
done

log "toolchain ready in $((SECONDS - total_start)) s; PULUMI_HOME=$PULUMI_HOME"
printf '%s\nPULUMI_HOME=%s\n' "$bin_dir" "$PULUMI_HOME"
