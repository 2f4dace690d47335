#!/usr/bin/env bash
# Benchmark: reproducibility. For each project of ci/bench/build.sh's corpus and each target,
# the stored build (made first when missing) is verified with `wheelfarm verify --rebuild`: the
# rate of byte-identical rebuilds, and the time of a verification against the original
# build's own time (from its record). Side by side, what a user would do instead: `pip wheel`
# of the same sdist twice on the host, compared by sha256 (no SOURCE_DATE_EPOCH, as pip runs).
# Run as root after ci/setup.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
bench_setup
work="$(mktemp -d /var/tmp/wheelfarm-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
projects="${PROJECTS:-markupsafe==3.0.2 msgpack==1.1.0 pyyaml==6.0.2}"
targets="${TARGETS:-cp311-bookworm-x86_64 cp311-bookworm-glibc2.17-x86_64}"
printf '%s\n' $projects > "$work/requirements.txt"
for target in $targets; do "$wf" build -r "$work/requirements.txt" --target "$target" >/dev/null 2>&1 || true; done

echo "## reproducibility: verify --rebuild against the original build"
echo
echo "| requirement | target | rebuild | original build | verification | pip wheel twice on the host |"
echo "|---|---|---|---:|---:|---|"
identical=0 total=0
for req in $projects; do
  name="${req%%==*}" version="${req##*==}"
  for target in $targets; do
    record="$WHEELFARM_HOME/builds/$name/$version/$target/record.json"
    [ -f "$record" ] || { echo "| $req | $target | not built | | | |"; continue; }
    original="$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('%.1f' % sum(r['timings'].values()))" "$record")"
    start="$(date +%s.%N)"
    if "$wf" verify --rebuild "$req" --target "$target" >"$work/verify.log" 2>&1; then verdict="identical"; identical=$((identical + 1)); else verdict="DIFFERENT"; fi
    took="$(python3 -c "import sys,time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$start")"
    total=$((total + 1))
    pip="-"
    if [ "$target" = "cp311-bookworm-x86_64" ]; then
      sdist="$(ls "$WHEELFARM_HOME"/sources/*/"$name"-"$version".tar.gz 2>/dev/null | head -1)"
      if [ -n "$sdist" ]; then
        rm -rf "$work/w1" "$work/w2"
        /usr/bin/python3 -m pip wheel --quiet --no-deps --no-cache-dir -w "$work/w1" "$sdist" >/dev/null 2>&1 || true
        /usr/bin/python3 -m pip wheel --quiet --no-deps --no-cache-dir -w "$work/w2" "$sdist" >/dev/null 2>&1 || true
        a="$(sha256sum "$work"/w1/*.whl 2>/dev/null | cut -d' ' -f1)"; b="$(sha256sum "$work"/w2/*.whl 2>/dev/null | cut -d' ' -f1)"
        if [ -z "$a" ]; then pip="did not build"; elif [ "$a" = "$b" ]; then pip="identical"; else pip="different"; fi
      fi
    fi
    echo "| $req | $target | $verdict | ${original}s | ${took}s ($(ratio "$took" "$original") of the build) | $pip |"
  done
done
echo
echo "bit-identical rebuilds: $identical of $total"
