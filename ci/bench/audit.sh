#!/usr/bin/env bash
# Benchmark: `wheelfarm audit` against `auditwheel show`, and `wheelfarm repair` against
# `auditwheel repair`, on the same real wheels, side by side in one run. Prints a Markdown
# table with the median time of $RUNS runs, peak memory and the speed-up ratio.
# Run after ci/setup.sh; builds wheelfarm in release mode (benchmarks never use debug builds).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
tools="${WHEELFARM_TOOLS:-/opt/wheelfarm-tools}"
export PATH="$tools/bin:$PATH"
export WHEELFARM_PATCHELF="$tools/bin/patchelf"
wheels="${WHEELFARM_FIXTURE_WHEELS:-$repo/.build-fixtures/wheels}"
(cd "$repo" && swift build -c release >/dev/null)
wf="$repo/.build/release/wheelfarm"
work="$(mktemp -d /tmp/wheelfarm-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# A wheel that really needs grafting: PyYAML built from its sdist on this host.
raw="$repo/.build-fixtures/raw"
if ! ls "$raw"/pyyaml-*linux_x86_64.whl >/dev/null 2>&1; then
  mkdir -p "$raw"
  PIP_FIND_LINKS= /usr/bin/python3 -m pip wheel --quiet --no-deps --no-binary pyyaml pyyaml==6.0.2 -w "$raw" 2>/dev/null
fi

echo "## audit: wheelfarm audit vs auditwheel show (median of $RUNS, $(nproc) cores)"
echo
echo "| wheel | size | auditwheel show | wheelfarm audit | speed-up | peak RSS auditwheel | peak RSS wheelfarm |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for whl in "$wheels"/scipy-*.whl "$wheels"/numpy-*.whl "$wheels"/pillow-*.whl "$wheels"/lxml-*.whl \
           "$wheels"/grpcio-*.whl "$wheels"/cryptography-*.whl "$wheels"/MarkupSafe-*x86_64.manylinux2014*.whl \
           "$raw"/pyyaml-*.whl; do
  [ -f "$whl" ] || continue
  size="$(du -m "$whl" | cut -f1) MB"
  read -r at am < <(measure auditwheel show "$whl")
  read -r wt wm < <(measure "$wf" audit "$whl")
  echo "| $(basename "$whl" | cut -d- -f1-2) | $size | ${at}s | ${wt}s | $(ratio "$at" "$wt") | $((am / 1024)) MB | $((wm / 1024)) MB |"
done

echo
echo "## repair: wheelfarm repair vs auditwheel repair (median of $RUNS)"
echo
echo "| wheel | auditwheel repair | wheelfarm repair | speed-up |"
echo "|---|---:|---:|---:|"
for whl in "$raw"/pyyaml-*.whl "$wheels"/pillow-*.whl "$wheels"/numpy-*.whl "$wheels"/scipy-*.whl; do
  [ -f "$whl" ] || continue
  read -r at _ < <(measure auditwheel repair -w "$work/aw" "$whl")
  read -r wt _ < <(measure "$wf" repair -w "$work/wf" "$whl")
  echo "| $(basename "$whl" | cut -d- -f1-2) | ${at}s | ${wt}s | $(ratio "$at" "$wt") |"
done
