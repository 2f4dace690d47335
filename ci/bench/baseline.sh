#!/usr/bin/env bash
# Benchmark: the same corpus built by `wheelfarm build` for the gcc target and for the glibc 2.17
# baseline target (zig) of the same Debian 12 root, with warm caches (images, derived roots,
# sdists and zig's cache made by a first, untimed round). Reports the whole build and its
# compile stage (the sandboxed `pip wheel`), per project and in total, and the tag each got.
# Run as root after ci/setup.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
bench_setup
projects="${PROJECTS:-markupsafe==3.0.2 msgpack==1.1.0 psutil==6.1.0 pyyaml==6.0.2}"
gcc_target="cp311-bookworm-x86_64"
zig_target="cp311-bookworm-glibc2.17-x86_64"

# Warm-up: images, derived roots (PyYAML's libyaml from source for zig), sdists.
for target in "$gcc_target" "$zig_target"; do
  "$wf" build --target "$target" $projects >/dev/null 2>&1 || { echo "warm-up build for $target failed" >&2; exit 1; }
done

# One field of the latest record of a build: the compile stage's seconds or the platform tag.
record() {
  python3 - "$WHEELFARM_HOME/builds/$1/$2/$3/record.json" "$4" <<'PY'
import json, sys
record = json.load(open(sys.argv[1]))
print(round(record["timings"].get("build", 0), 2) if sys.argv[2] == "build" else record["platform_tag"].split(".")[0])
PY
}

echo "## gcc against zig (glibc 2.17 baseline), Debian 12 root, CPython 3.11, x86_64 (median of $RUNS, warm caches)"
echo
echo "| project | gcc: build | gcc: compile stage | gcc tag | zig: build | zig: compile stage | zig tag | zig / gcc (build) |"
echo "|---|---:|---:|---|---:|---:|---|---:|"
total_gcc=0; total_zig=0; compile_gcc=0; compile_zig=0
for req in $projects; do
  name="${req%%==*}"; version="${req##*==}"
  read -r gt _ < <(measure "$wf" build --target "$gcc_target" "$req")
  gc="$(record "$name" "$version" "$gcc_target" build)"; gtag="$(record "$name" "$version" "$gcc_target" tag)"
  read -r zt _ < <(measure "$wf" build --target "$zig_target" "$req")
  zc="$(record "$name" "$version" "$zig_target" build)"; ztag="$(record "$name" "$version" "$zig_target" tag)"
  echo "| $req | ${gt}s | ${gc}s | $gtag | ${zt}s | ${zc}s | $ztag | $(ratio "$zt" "$gt") |"
  total_gcc="$(python3 -c "print(round($total_gcc + $gt, 2))")"; total_zig="$(python3 -c "print(round($total_zig + $zt, 2))")"
  compile_gcc="$(python3 -c "print(round($compile_gcc + $gc, 2))")"; compile_zig="$(python3 -c "print(round($compile_zig + $zc, 2))")"
done
echo "| **total** | ${total_gcc}s | ${compile_gcc}s | | ${total_zig}s | ${compile_zig}s | | $(ratio "$total_zig" "$total_gcc") |"
echo
python3 -c "print(f'zig total is {($total_zig - $total_gcc) / $total_gcc * 100:+.0f}% against gcc (aim: at most +20%)')"
