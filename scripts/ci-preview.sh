#!/usr/bin/env bash
# CI entry point for the offline plan checks (`npm run test:preview`):
# 1. validates .github/workflows/*.yml with actionlint (built from the Go module proxy, cached);
# 2. builds or reuses the pinned Pulumi toolchain (tools/pulumi/build.sh, TOOLCHAIN_BUILD=1: never a pulumi
#    found on PATH, so the plans are those of the pinned versions);
# 3. runs the jest tests in test/preview/, which preview every stack with the real engine.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${IOT_UDP_INGRESS_CACHE:-$HOME/.cache/iot-udp-ingress}"
actionlint_version=v1.7.12

step() { echo "ci-preview: $*" >&2; }

step "actionlint $actionlint_version"
actionlint_bin="$cache/toolchain/actionlint-$actionlint_version"
if [[ ! -x "$actionlint_bin/actionlint" ]]; then
  command -v go >/dev/null || { echo "ci-preview: go is required to build actionlint" >&2; exit 1; }
  rm -rf "$actionlint_bin.tmp"
  GOBIN="$actionlint_bin.tmp" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath \
    go install -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
  mv "$actionlint_bin.tmp" "$actionlint_bin"
fi
# The Debian shellcheck package lets actionlint check the workflows' `run:` scripts too.
command -v shellcheck >/dev/null || { echo "ci-preview: shellcheck is missing (apt-get install shellcheck)" >&2; exit 1; }
(cd "$repo" && "$actionlint_bin/actionlint" -no-color)

step "shellcheck of the toolchain and preview scripts"
shellcheck "$repo/tools/pulumi/build.sh" "$repo/scripts/preview.sh" "$repo/scripts/ci-preview.sh"

step "Pulumi toolchain"
export TOOLCHAIN_BUILD=1
bash "$repo/tools/pulumi/build.sh" >/dev/null

step "offline previews (jest test/preview)"
cd "$repo"
exec npx jest --config test/preview/jest.config.js "$@"
