#!/usr/bin/env bash
# Benchmark: the per-run overhead of `wheelfarm sandbox run` (setup and teardown around
# `python3 -c pass`) against `cp -a` of the root plus chroot, and against a plain chroot;
# then building a toolchain image against plain mmdebstrap of the same package set.
# Also: wheelfarm's own peak memory while a build prints 1 GiB (the log is streamed to disk).
# Run as root after ci/setup.sh. Usage: ci/bench/sandbox.sh [runs|image|flood|all]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
RUNS="${RUNS:-10}"
target="${TARGET:-cp311-bookworm-x86_64}"
(cd "$repo" && swift build -c release >/dev/null)
wf="$repo/.build/release/wheelfarm"
export WHEELFARM_HOME="${WHEELFARM_HOME:-$repo/.build-fixtures/home}"
section="${1:-all}"
work="$(mktemp -d /var/tmp/wheelfarm-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$wf" toolchain list | grep -q "^$target  *built" || "$wf" toolchain build "$target" >/dev/null
root="$("$wf" toolchain show "$target" | sed -n 's/^root: *//p')"

if [ "$section" = all ] || [ "$section" = runs ]; then
  echo "## sandbox: one run of python3 -c pass (median of $RUNS, $(nproc) cores)"
  echo
  echo "| method | time per run | vs wheelfarm |"
  echo "|---|---:|---:|"
  copy_run() { rm -rf "$work/copy"; cp -a "$root" "$work/copy"; chroot "$work/copy" /usr/bin/python3 -c pass; rm -rf "$work/copy"; }
  read -r ws _ < <(measure "$wf" sandbox run "$target" -- python3 -c pass)
  read -r ns _ < <(measure "$wf" sandbox run "$target" --no-seccomp -- python3 -c pass)
  read -r cs _ < <(measure chroot "$root" /usr/bin/python3 -c pass)
  RUNS_SAVED="$RUNS"; RUNS=3
  read -r ps _ < <(measure bash -c "$(declare -f copy_run); root=$root work=$work copy_run")
  RUNS="$RUNS_SAVED"
  echo "| wheelfarm sandbox run (namespaces, overlay, pivot_root, cgroups, new session, seccomp) | ${ws}s | 1.0x |"
  echo "| the same without the seccomp filter | ${ns}s | $(ratio "$ns" "$ws") |"
  echo "| plain chroot (no isolation, shared writable root) | ${cs}s | $(ratio "$cs" "$ws") |"
  echo "| cp -a of the root, then chroot | ${ps}s | $(ratio "$ps" "$ws") |"
fi

if [ "$section" = all ] || [ "$section" = image ]; then
  echo
  echo "## toolchain image: wheelfarm toolchain build vs plain mmdebstrap (one run each)"
  echo
  pkgs="$(python3 -c "import json,sys; print(','.join(json.load(open(sys.argv[1]))['packages']))" "$repo/toolchains/targets/$target.json")"
  suite="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['suite'])" "$repo/toolchains/targets/$target.json")"
  arch="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['debian_architecture'])" "$repo/toolchains/targets/$target.json")"
  RUNS=1
  read -r mt _ < <(measure mmdebstrap --variant=minbase --architectures="$arch" --include="$pkgs" "$suite" "$work/plain")
  rm -rf "$work/plain"
  read -r bt _ < <(WHEELFARM_HOME="$work/home" measure "$wf" toolchain build "$target")
  echo "| step | time |"
  echo "|---|---:|"
  echo "| mmdebstrap alone | ${mt}s |"
  echo "| wheelfarm toolchain build (mmdebstrap + pinned frontend + manifest) | ${bt}s ($(python3 -c "print(f'{($bt / $mt - 1) * 100:+.0f}%')")) |"
fi

if [ "$section" = all ] || [ "$section" = flood ]; then
  echo
  echo "## wheelfarm's peak memory while a build prints 1 GiB (one run; log capped at 64 MiB)"
  echo
  python3 "$repo/Tests/Fixtures/hostile/make-corpus.py" "$work/corpus" 9
  # The corpus's flood prints 400 MiB; this one prints 1 GiB.
  sed -i 's/(400 << 20)/(1 << 30)/' "$work/corpus/flood/backend.py"
  RUNS=1
  read -r ft fm < <(own_peak "$wf" build "$work/corpus/flood" --target "$target")
  read -r _ tm < <(measure "$wf" build "$work/corpus/flood" --target "$target")
  read -r ct cm < <(own_peak "$wf" build "$work/corpus/control-plain" --target "$target")
  echo "| build | time | peak memory of wheelfarm itself | largest process of the build (pip buffers a hook's output) |"
  echo "|---|---:|---:|---:|"
  echo "| a build that prints 1 GiB | ${ft}s | $((fm / 1024)) MiB | $((tm / 1024)) MiB |"
  echo "| the same project printing nothing | ${ct}s | $((cm / 1024)) MiB | - |"
fi
