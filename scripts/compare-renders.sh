#!/usr/bin/env bash
# Shows what a change does to the rendered stacks: renders every stack (both environments, on a Kosmos cluster the
# stack creates and on an existing one) at <base> and in the working tree under Pulumi's mocks, and diffs them.
# Exit status 0: nothing differs. Usage: scripts/compare-renders.sh <base revision>
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: scripts/compare-renders.sh <base revision>}"
STACKS=(preview prod preview-existing prod-existing)

work="$(mktemp -d)"
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach --quiet "$work/base" "$base"
# One node_modules for both trees: the mocks and the program must share @pulumi/pulumi's runtime state.
ln -s "$PWD/node_modules" "$work/base/node_modules"

status=0
for stack in "${STACKS[@]}"; do
  # The snapshot script is this tree's in both runs, so only the program differs.
  npx tsx scripts/render-snapshot.ts "$work/base" "$stack" >"$work/$stack.base.json"
  npx tsx scripts/render-snapshot.ts . "$stack" >"$work/$stack.head.json"
  if diff -u --label "$stack@$base" --label "$stack@working-tree" "$work/$stack.base.json" "$work/$stack.head.json"; then
    echo "$stack: identical ($(grep -c '"type":' "$work/$stack.head.json") resources)"
  else
    status=1
  fi
done
exit "$status"
