#!/usr/bin/env bash
# Fuzzes wheelfarm's host-side parsers with libFuzzer under AddressSanitizer: the ELF reader,
# the wheel/zip reader, METADATA, RECORD, requirements, markers and patches (the harnesses are
# Sources/wheelfarm-fuzz). Each starts from its seed corpus in ci/fuzz/corpus/TARGET and runs
# FUZZ_SECONDS (default 60), two at a time. A crash fails the run and keeps the input that
# caused it under FUZZ_OUT (default /tmp/wheelfarm-fuzz), with the command that replays it.
#
#   bash ci/fuzz.sh [TARGET...]      FUZZ_SECONDS=600 bash ci/fuzz.sh elf
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
seconds="${FUZZ_SECONDS:-60}"
out="${FUZZ_OUT:-/tmp/wheelfarm-fuzz}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(elf wheel metadata record requirement marker patch)
echo "fuzz: building the harnesses with libFuzzer and AddressSanitizer (.build-fuzz)"
# -Xswiftc -sanitize=fuzzer instruments every Swift module for coverage, not only the executable's own.
swift build --product wheelfarm-fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer -Xswiftc -DWHEELFARM_FUZZ \
  --build-path .build-fuzz > /tmp/wheelfarm-fuzz-build.log 2>&1 || { tail -30 /tmp/wheelfarm-fuzz-build.log; exit 1; }
binary="$repo/.build-fuzz/debug/wheelfarm-fuzz"
mkdir -p "$out"
run() {
  local target="$1" corpus="$out/corpus-$1"
  mkdir -p "$corpus"
  # ASan's leak check is off: harness inputs that throw leave Swift's caches behind, not leaks.
  if ASAN_OPTIONS=detect_leaks=0 WHEELFARM_FUZZ_TARGET="$target" "$binary" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
    -max_len=262144 -artifact_prefix="$out/crash-$target-" -print_final_stats=1 "$corpus" "ci/fuzz/corpus/$target" > "$out/$target.log" 2>&1; then
    echo "fuzz: $target: $(grep -E '^stat::number_of_executed_units' "$out/$target.log" | awk '{print $2}') executions, no crash"
  else
    echo "fuzz: $target: CRASH (log $out/$target.log)"
    grep -E "ERROR|SUMMARY|Fatal error|Test unit written" "$out/$target.log" | head -10
    echo "fuzz: replay with: WHEELFARM_FUZZ_TARGET=$target $binary $out/crash-$target-*"
    return 1
  fi
}
failed=0
pids=()
names=()
for target in "${targets[@]}"; do
  [ -d "ci/fuzz/corpus/$target" ] || { echo "fuzz: no seed corpus ci/fuzz/corpus/$target"; exit 2; }
  run "$target" & pids+=($!); names+=("$target")
  # Two at a time: this machine has two cores.
  if [ "${#pids[@]}" -ge 2 ]; then wait "${pids[0]}" || failed=$((failed + 1)); pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $failed with a crash"
[ "$failed" -eq 0 ]
