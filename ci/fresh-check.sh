#!/usr/bin/env bash
# The clean-clone check for developers: clones this repository's committed HEAD into a temporary
# folder and runs the README's two commands there (set-up + the first build, then the tests), with
# a fresh WHEELFARM_HOME and a fresh test home, as a new user and CI would. Run it (as root)
# before saying an issue is done; it takes as long as CI (a from-scratch build and the suite).
#
#   bash ci/fresh-check.sh [--keep] [--only-first]
#     --keep        keep the clone and its homes afterwards (their paths are printed)
#     --only-first  run only the README's first command (set-up and the first build)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
keep=0 only_first=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    --only-first) only_first=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "fresh-check: unknown argument $arg" >&2; exit 64 ;;
  esac
done

if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "fresh-check: note: uncommitted changes are not part of the check (it clones HEAD)" >&2
fi

# The README's first code block: its first two command lines, without their trailing comments.
mapfile -t commands < <(awk '/^```/ { if (inside) exit; inside = 1; next } inside && NF { print }' "$repo/README.md" \
  | sed -E 's/[[:space:]]+#[[:space:]].*$//' | head -n 2)
if [ "${#commands[@]}" -ne 2 ]; then
  echo "fresh-check: the README's first code block does not hold two commands" >&2
  exit 1
fi

work="$(mktemp -d /tmp/wheelfarm-fresh.XXXXXX)"
cleanup() {
  if [ "$keep" = 1 ]; then echo "fresh-check: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
git clone --quiet "$repo" "$work/clone"
cd "$work/clone"
export WHEELFARM_HOME="$work/home" WHEELFARM_TEST_HOME="$work/test-home"
echo "fresh-check: $(git log -1 --format='%h %s') in $work/clone"

run() {
  local label="$1" command="$2" started status=0
  started=$(date +%s)
  echo "fresh-check: [$label] $command"
  CI=true bash -c "$command" </dev/null || status=$?
  echo "fresh-check: [$label] exit $status after $(( $(date +%s) - started )) s"
  return "$status"
}

run "first command" "${commands[0]}"
if [ "$only_first" = 0 ]; then
  run "test command" "${commands[1]}"
fi
echo "fresh-check: the README's commands pass in a clean clone"
