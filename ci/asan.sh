#!/usr/bin/env bash
# Runs the unit suite and the hostile-input tests under AddressSanitizer: wheelfarm's own
# process parses what builds hand back, as root, outside every cgroup, so its memory safety is
# checked on the same inputs the hostile corpus throws at it. Builds into .build-asan (about 8
# minutes on 2 cores from nothing); the sandbox's launcher is the normal build's static one
# (an ASan binary cannot be linked statically), so run this after `swift build`.
#
#   bash ci/asan.sh [extra swift test arguments]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
launcher="$repo/.build/debug/wheelfarm-launch"
[ -x "$launcher" ] || { echo "asan: $launcher is missing: run swift build first"; exit 2; }
echo "asan: building the tests with AddressSanitizer (.build-asan)"
WHEELFARM_ASAN=1 swift build --build-tests --sanitize=address --build-path .build-asan > /tmp/wheelfarm-asan-build.log 2>&1 \
  || { tail -30 /tmp/wheelfarm-asan-build.log; exit 1; }
log="$(mktemp /tmp/wheelfarm-asan.XXXXXX)"
status=0
# Leaks are not the question here (Swift's caches at exit); a small quarantine keeps the memory
# bounds of the hostile tests meaningful under ASan's own overhead.
ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=16:halt_on_error=1" WHEELFARM_ASAN=1 WHEELFARM_LAUNCH="$launcher" \
  WHEELFARM_TEST_HOME="${WHEELFARM_TEST_HOME:-$repo/.build-fixtures/home}" \
  swift test --disable-swift-testing --skip-build --build-path .build-asan \
  --filter 'HostileCorpusIntegrationTests|^(?!.*IntegrationTests).*Tests\.' "$@" > "$log" 2>&1 || status=$?
if grep -q "ERROR: AddressSanitizer" "$log"; then
  grep -A30 "ERROR: AddressSanitizer" "$log" | head -60
  status=1
fi
grep -E "error:|Executed [0-9]+ tests?, with" "$log" | tail -15
echo "asan: $(grep -E 'Executed [0-9]+ tests?, with' "$log" | tail -1 | sed -E 's/^[[:space:]]*//') (log $log)"
exit "$status"
