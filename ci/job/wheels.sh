#!/usr/bin/env bash
# The CI job: wheels for every binary dependency of a requirements file, for every target,
# signed, published to the farm's repository (and optionally a remote one), with a JUnit
# report for the CI system. Already built wheels (same toolchain, recipe and builder) are
# skipped, so a run on an unchanged file finishes in well under a second.
#
# Usage (as root, on a machine set up with ci/setup.sh or a wheelfarm install):
#   ci/job/wheels.sh requirements.txt [target...]
# Environment:
#   WHEELFARM            the wheelfarm executable (default: .build/debug/wheelfarm, else wheelfarm on PATH)
#   WHEELFARM_HOME       the farm's home (default /var/lib/wheelfarm): toolchains, builds, repository, key
#   WHEELFARM_REPORTS    where the reports go (default: ./wheelfarm-reports)
#   WHEELFARM_WITH_DEPS  1: build the requirements' runtime dependencies too
#   WHEELFARM_REPOSITORY_URL, WHEELFARM_REPOSITORY_USER, WHEELFARM_REPOSITORY_PASSWORD:
#                        also upload each new wheel to a remote repository (pypiserver, devpi, ...)
# Exit status: 0 when every requirement has a wheel for every target; 1 when one failed;
# 2 when the file or the configuration is wrong (the message names the line).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
requirements="${1:?usage: ci/job/wheels.sh requirements.txt [target...]}"
shift
wf="${WHEELFARM:-}"
if [ -z "$wf" ]; then
  if [ -x "$repo/.build/debug/wheelfarm" ]; then wf="$repo/.build/debug/wheelfarm"; else wf="$(command -v wheelfarm)"; fi
fi
reports="${WHEELFARM_REPORTS:-$PWD/wheelfarm-reports}"
mkdir -p "$reports"
args=(build -r "$requirements" --publish --report-json "$reports/wheels.json" --report-junit "$reports/wheels.xml")
for target in "$@"; do args+=(--target "$target"); done
[ "${WHEELFARM_WITH_DEPS:-0}" = 1 ] && args+=(--with-deps)
if [ -n "${WHEELFARM_REPOSITORY_URL:-}" ]; then
  args+=(--repository-url "$WHEELFARM_REPOSITORY_URL" --username "${WHEELFARM_REPOSITORY_USER:-__token__}")
fi
set +e
"$wf" "${args[@]}"
status=$?
set -e
echo "wheelfarm: reports in $reports (wheels.json, wheels.xml); exit status $status"
exit "$status"
