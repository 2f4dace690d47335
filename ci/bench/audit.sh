#!/usr/bin/env bash
# Benchmark: `wheelfarm audit` against `auditwheel show`, and `wheelfarm repair` against
# `auditwheel repair`, on the same real wheels, side by side in one run. Prints a Markdown
# table with the median time of $RUNS runs, peak memory and the speed-up ratio.
# Run after ci/setup.sh; builds wheelfarm in release mode (benchmarks never use debug builds).
# Usage: ci/bench/audit.sh [audit|repair|all]
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

# Wheels that really need grafting: PyYAML (libyaml) and lxml (libxml2, libxslt, ICU, ...),
# built from their sdists on this host, as a CI job would before repairing them. Cached.
raw="$repo/.build-fixtures/raw"
mkdir -p "$raw"
if ! ls "$raw"/pyyaml-*linux_x86_64.whl >/dev/null 2>&1; then
  PIP_FIND_LINKS= /usr/bin/python3 -m pip wheel --quiet --no-deps --no-binary pyyaml pyyaml==6.0.2 -w "$raw" 2>/dev/null
fi
if ! ls "$raw"/lxml-*linux_x86_64.whl >/dev/null 2>&1; then
  dpkg -s libxml2-dev libxslt1-dev >/dev/null 2>&1 || apt-get install -y -qq libxml2-dev libxslt1-dev >/dev/null
  echo "(building lxml from its sdist once, a few minutes)" >&2
  PIP_FIND_LINKS= /usr/bin/python3 -m pip wheel --quiet --no-deps --no-binary lxml lxml==5.3.0 -w "$raw" 2>/dev/null
fi

section="${1:-all}"
if [ "$section" != repair ]; then
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

fi
if [ "$section" != audit ]; then
echo
echo "## repair: wheelfarm repair vs auditwheel repair (median of $RUNS)"
echo
echo "wheelfarm writes at zlib level 3 by default; the last column writes at level 6, auditwheel's default."
echo
echo "| wheel | grafted | auditwheel repair | wheelfarm repair | speed-up | wheelfarm at level 6 | speed-up |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for whl in "$raw"/pyyaml-*.whl "$raw"/lxml-*.whl "$wheels"/pillow-*.whl; do
  [ -f "$whl" ] || continue
  grafted="$( ("$wf" audit --format json "$whl" || true) | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0]["external_libraries"]))')"
  read -r at _ < <(measure auditwheel repair -w "$work/aw" "$whl")
  read -r wt _ < <(measure "$wf" repair -w "$work/wf" "$whl")
  read -r w6 _ < <(measure "$wf" repair --compression-level 6 -w "$work/wf6" "$whl")
  echo "| $(basename "$whl" | cut -d- -f1-2) | $grafted | ${at}s | ${wt}s | $(ratio "$at" "$wt") | ${w6}s | $(ratio "$at" "$w6") |"
done
fi
