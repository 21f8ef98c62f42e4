#!/usr/bin/env bash
# Offline plan of a stack with the real Pulumi engine and providers, no cloud account needed.
#
# Usage: scripts/preview.sh [STACK] [pulumi preview args...]    (npm run preview -- prod --json)
#   STACK defaults to `preview`; further arguments go to `pulumi preview` unchanged.
#
# What it sets up, all outside the tracked files:
# - state in the local backend file://<repo>/.pulumi-local (git-ignored);
# - passphrase secrets with the throwaway passphrase below: it protects nothing, the plan uses
#   placeholder credentials and the local state is disposable;
# - placeholder Scaleway credentials in valid formats, and the Scaleway API URL pointed at a closed
#   loopback port, so any API request fails at once instead of leaving the machine;
# - the stack's config: Pulumi.<stack>.yaml plus the local stack's encryption salt, merged into
#   .pulumi-local/config/ (`pulumi stack init` would otherwise write the salt into the tracked file).
# The toolchain: a `pulumi` on PATH that has the plugins, else the one tools/pulumi/build.sh builds
# from the Go module proxy on first use (it says what it builds and how long that takes).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
stack=preview
if [[ $# -gt 0 && "$1" != -* ]]; then
  stack="$1"
  shift
fi
stack_config="$repo/Pulumi.$stack.yaml"
[[ -f "$stack_config" ]] || { echo "preview: no stack config $stack_config" >&2; exit 2; }

toolchain=$(bash "$repo/tools/pulumi/build.sh")
bin_dir=$(sed -n 1p <<< "$toolchain")
PULUMI_HOME=$(sed -n 's/^PULUMI_HOME=//p' <<< "$toolchain")
export PULUMI_HOME
export PATH="$bin_dir:$PATH"

local_dir="$repo/.pulumi-local"
mkdir -p "$local_dir/state" "$local_dir/config"
export PULUMI_BACKEND_URL="file://$local_dir/state"
export PULUMI_CONFIG_PASSPHRASE="offline-preview-throwaway"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export SCW_ACCESS_KEY="SCWXXXXXXXXXXXXXXXXX"
export SCW_SECRET_KEY="00000000-0000-4000-8000-000000000000"
export SCW_DEFAULT_PROJECT_ID="00000000-0000-4000-8000-000000000001"
export SCW_DEFAULT_ORGANIZATION_ID="00000000-0000-4000-8000-000000000001"
export SCW_DEFAULT_REGION="fr-par"
export SCW_DEFAULT_ZONE="fr-par-1"
export SCW_API_URL="${SCW_API_URL:-http://127.0.0.1:9}"
unset SCW_PROFILE SCW_CONFIG_PATH KUBECONFIG

# Which engine and plugins the plan runs with, as the engine itself lists them.
# shellcheck disable=SC2016 # a JavaScript template literal, not shell
plugins=$(pulumi plugin ls --json 2>/dev/null | node -e '
  const list = JSON.parse(require("fs").readFileSync(0, "utf8")) ?? [];
  process.stdout.write(list.filter((p) => p.kind === "resource").map((p) => `${p.name} ${p.version}`).sort().join(", "));
' || echo "unknown")
cat >&2 <<EOF
================================================================================
 OFFLINE PLAN of stack '$stack' with PLACEHOLDER Scaleway credentials.
 Nothing is created; values known only after creation show as [unknown].
 State: $local_dir/state   Scaleway API: $SCW_API_URL (unreachable on purpose)
 Engine: pulumi $(pulumi version) ($bin_dir)   Plugins: $plugins
================================================================================
EOF

# The local stack and its salt live under .pulumi-local; the salt is generated once by
# `pulumi stack init` run in a scratch copy of the project file.
salt_file="$local_dir/config/$stack.salt"
stack_exists() {
  pulumi stack ls --json --cwd "$repo" 2>/dev/null \
    | STACK="$stack" node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")); process.exit(s.some((x) => x.name === process.env.STACK) ? 0 : 1)'
}
if ! stack_exists \
  || [[ ! -s "$salt_file" ]]; then
  scratch=$(mktemp -d)
  cp "$repo/Pulumi.yaml" "$scratch/"
  pulumi stack rm "$stack" --yes --force --cwd "$repo" >/dev/null 2>&1 || true
  pulumi stack init "$stack" --cwd "$scratch" --non-interactive >&2
  grep '^encryptionsalt:' "$scratch/Pulumi.$stack.yaml" > "$salt_file"
  rm -rf "$scratch"
fi

merged="$local_dir/config/Pulumi.$stack.yaml"
if grep -q '^encryptionsalt:' "$stack_config"; then
  cp "$stack_config" "$merged"
else
  { cat "$stack_config"; printf '\n'; cat "$salt_file"; } > "$merged"
fi

cd "$repo"
exec pulumi preview --stack "$stack" --config-file "$merged" --non-interactive "$@"
