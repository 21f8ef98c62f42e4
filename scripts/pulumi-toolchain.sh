#!/usr/bin/env bash
# Builds the Pulumi toolchain that `pulumi preview` needs offline, from the Go module proxy alone:
# the `pulumi` CLI, the Node.js language host and the kubernetes, random and scaleway resource
# plugins. The Go wrapper modules under tools/pulumi/ pin every source; the binaries are cached
# outside the repository, keyed by version and by a hash of their wrapper module, so a second run
# only checks the cache. The plugins are installed into PULUMI_HOME at exactly the versions the
# npm packages in node_modules ask for.
#
# Usage: scripts/pulumi-toolchain.sh        prints the directory holding `pulumi` on stdout
# Environment:
#   IOT_UDP_INGRESS_CACHE  cache root (default ~/.cache/iot-udp-ingress)
#   PULUMI_HOME            where plugins are installed (default $IOT_UDP_INGRESS_CACHE/pulumi-home)
#   TOOLCHAIN_GO_P         parallel Go compile jobs (default 2)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$repo/tools/pulumi"
cache="${IOT_UDP_INGRESS_CACHE:-$HOME/.cache/iot-udp-ingress}"
toolchain="$cache/toolchain"
export PULUMI_HOME="${PULUMI_HOME:-$cache/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true
# Sources come from the committed go.mod/go.sum only; a Go newer than the one installed must not be
# fetched, and the binaries must not need a C toolchain.
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
go_jobs="${TOOLCHAIN_GO_P:-2}"

log() { echo "pulumi-toolchain: $*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null || die "go is not installed (Go >= 1.26 with access to the Go module proxy is required)"

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

# build <binary> <version> <wrapper dir> <package> <ldflags> <tags> [prepare function]
# Compiles in a copy of the wrapper under the cache (so generated files never land in the
# repository) and prints the cached binary's path. Tags follow each upstream's release build.
build() {
  local name="$1" version="$2" src="$3" pkg="$4" ldflags="$5" tags="$6" prepare="${7:-}"
  local key; key=$(inputs_hash "$src" "$pkg" "$ldflags" "$tags")
  local out="$toolchain/$name-$version-$key"
  if [[ -x "$out/$name" ]]; then
    log "cache hit: $name $version ($out)"
    echo "$out/$name"; return
  fi
  local work="$toolchain/work/$name"
  rm -rf "$work" "$out.tmp"; mkdir -p "$work" "$out.tmp"
  cp -R "$src/." "$work/"
  [[ -z "$prepare" ]] || "$prepare" "$work" "$version"
  log "building $name $version (go build -p $go_jobs) ..."
  local start=$SECONDS
  (cd "$work" && go build -p "$go_jobs" -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp/$name" "$pkg") >&2 \
    || die "go build of $name failed"
  mv "$out.tmp" "$out"
  rm -rf "$work"
  # Older builds of this binary (other versions or wrapper contents) are dead weight.
  find "$toolchain" -maxdepth 1 -name "$name-[v0-9]*" ! -path "$out" -exec rm -rf {} + || true
  log "built $name $version in $((SECONDS - start)) s"
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
sdk_version_var=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
cli_version=$(required_version "$tools/cli" github.com/pulumi/pulumi/pkg/v3)
host_version=$(required_version "$tools/language-nodejs" github.com/pulumi/pulumi/sdk/v3)

# A `pulumi` of the pinned version already on PATH (with its language host) is used as is.
bin_dir=""
if existing=$(command -v pulumi 2>/dev/null) && [[ "$(pulumi version 2>/dev/null)" == "$cli_version" ]] \
  && command -v pulumi-language-nodejs >/dev/null; then
  bin_dir=$(dirname "$existing")
  log "using pulumi $cli_version from PATH ($bin_dir)"
else
  cli=$(build pulumi "$cli_version" "$tools/cli" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-s -w -X $sdk_version_var=$cli_version" osusergo,grpcnotrace)
  host=$(build pulumi-language-nodejs "$host_version" "$tools/language-nodejs" \
    github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs "-s -w -X $sdk_version_var=$host_version" osusergo,grpcnotrace)
  # The CLI looks for its language host next to its own executable (symlinks resolved) and, unless
  # PULUMI_IGNORE_AMBIENT_PLUGINS is set, on PATH: hard links put both in one real directory.
  bin_dir="$toolchain/bin-$(basename "$(dirname "$cli")")-$(basename "$(dirname "$host")")"
  mkdir -p "$bin_dir"
  ln -f "$cli" "$bin_dir/pulumi" 2>/dev/null || cp -f "$cli" "$bin_dir/pulumi"
  ln -f "$host" "$bin_dir/pulumi-language-nodejs" 2>/dev/null || cp -f "$host" "$bin_dir/pulumi-language-nodejs"
  find "$toolchain" -maxdepth 1 -name 'bin-*' ! -path "$bin_dir" -exec rm -rf {} + || true
fi
pulumi="$bin_dir/pulumi"

# Providers: the version is the one the npm package asks for. The kubernetes wrapper builds a
# release of the provider itself, which must be that same version.
k8s_version=$(npm_plugin_version @pulumi/kubernetes)
k8s_source=$(required_version "$tools/provider-kubernetes" github.com/pulumi/pulumi-kubernetes/sdk/v4)
[[ "v$k8s_version" == "$k8s_source" ]] \
  || die "@pulumi/kubernetes asks for plugin $k8s_version but tools/pulumi/provider-kubernetes builds ${k8s_source#v}"
random_version=$(npm_plugin_version @pulumi/random)
scaleway_version=$(npm_plugin_version @pulumiverse/scaleway)

declare -A plugin_file plugin_version
plugin_version[kubernetes]=$k8s_version
plugin_file[kubernetes]=$(build pulumi-resource-kubernetes "$k8s_version" "$tools/provider-kubernetes" . \
  "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$k8s_version" "" prepare_kubernetes)
plugin_version[random]=$random_version
plugin_file[random]=$(build pulumi-resource-random "$random_version" "$tools/provider-random" . \
  "-s -w -X main.version=$random_version" "")
plugin_version[scaleway]=$scaleway_version
plugin_file[scaleway]=$(build pulumi-resource-scaleway "$scaleway_version" "$tools/provider-scaleway" . \
  "-s -w -X main.version=$scaleway_version" "")

for name in kubernetes random scaleway; do
  version=${plugin_version[$name]}
  installed="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
  if [[ -x "$installed" ]] && cmp -s "$installed" "${plugin_file[$name]}"; then
    log "plugin resource $name $version already installed"
    continue
  fi
  "$pulumi" plugin install resource "$name" "$version" --file "${plugin_file[$name]}" --reinstall >&2 \
    || die "pulumi plugin install resource $name $version failed"
done

log "toolchain ready in $((SECONDS - total_start)) s; PULUMI_HOME=$PULUMI_HOME"
echo "$bin_dir"
