#!/usr/bin/env bash
# Benchmark: `wheelfarm build` against what a user would run instead, one after another:
# `pip download` + `pip wheel` + `auditwheel repair` of the same sdists for the same target
# (on the host, so without isolation or a test install). Also resolving and fetching an sdist:
# `wheelfarm fetch` against `pip download --no-deps --no-binary :all:`.
# Run as root after ci/setup.sh (the host needs libyaml-dev for PyYAML's baseline).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
bench_setup
work="$(mktemp -d /var/tmp/wheelfarm-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
projects="${PROJECTS:-markupsafe==3.0.2 msgpack==1.1.0 pyyaml==6.0.2}"
"$wf" toolchain list | grep -q "^cp311-bookworm-x86_64  *built" || "$wf" toolchain build cp311-bookworm-x86_64 >/dev/null

echo "## resolve and fetch one sdist (median of ${RUNS:-3}; a fresh store each run)"
echo
echo "pip prepares the sdist's metadata to download it (an isolated build environment); with"
echo "\`--no-binary :all:\` that environment is built from sources too (PyYAML: minutes, for Cython),"
echo "so the fairer \`--no-binary NAME\` is used here."
echo
echo "| requirement | pip download --no-deps --no-binary NAME | wheelfarm fetch | speed-up |"
echo "|---|---:|---:|---:|"
for req in $projects; do
  name="${req%%==*}"
  read -r pt _ < <(measure bash -c "rm -rf '$work/pd' && PIP_FIND_LINKS= /usr/bin/python3 -m pip download --quiet --no-deps --no-binary '$name' -d '$work/pd' '$req'")
  read -r wt _ < <(measure bash -c "rm -rf '$work/home' && '$wf' fetch --home '$work/home' '$req'")
  echo "| $req | ${pt}s | ${wt}s | $(ratio "$pt" "$wt") |"
done

echo
echo "## build one sdist for cp311-bookworm-x86_64 (one run each; the toolchain, derived roots and sdists are cached)"
echo
echo "The bare compile is \`pip wheel\` of the sdist on the host (pip's own isolated build environment included)."
echo
echo "| requirement | pip download + pip wheel + auditwheel repair (host) | of which pip wheel (bare compile) | wheelfarm build (isolated, offline, repaired, test-installed) | wheelfarm overhead over the bare compile |"
echo "|---|---:|---:|---:|---:|"
RUNS=1
for req in $projects; do
  rm -rf "$work/b" && mkdir -p "$work/b/sd"
  name="${req%%==*}"
  PIP_FIND_LINKS= /usr/bin/python3 -m pip download --quiet --no-deps --no-binary "$name" -d "$work/b/sd" "$req"
  read -r dt _ < <(measure bash -c "rm -rf '$work/b/sd2' && PIP_FIND_LINKS= /usr/bin/python3 -m pip download --quiet --no-deps --no-binary '$name' -d '$work/b/sd2' '$req'")
  read -r ct _ < <(measure bash -c "rm -rf '$work/b/raw' && PIP_FIND_LINKS= /usr/bin/python3 -m pip wheel --quiet --no-deps --no-cache-dir '$work'/b/sd/* -w '$work/b/raw'")
  read -r rt _ < <(measure bash -c "rm -rf '$work/b/fixed' && auditwheel repair -w '$work/b/fixed' '$work'/b/raw/*.whl")
  read -r wt _ < <(measure "$wf" build --target cp311-bookworm-x86_64 "$req")
  total="$(python3 -c "print(round($dt + $ct + $rt, 2))")"
  echo "| $req | ${total}s | ${ct}s | ${wt}s | $(python3 -c "print(f'{($wt - $ct) / $ct * 100:+.0f}%')") |"
done
