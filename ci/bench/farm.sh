#!/usr/bin/env bash
# Benchmark: the farm. Prints markdown tables:
#  1. a no-op CI run: `wheelfarm build -r` over a 200-line requirements file whose wheels
#     are all built, against pip's no-op (`pip wheel --no-index --find-links` of the same
#     200 wheels already in a wheelhouse); aim: at most 2 s;
#  2. scheduler overhead per job (the worker pool with an executor that builds nothing);
#     aim: at most 20 ms;
#  3. status queries over a store of 100k jobs; aim: under 50 ms;
#  4. two targets building at once (`build -r --jobs 2`) against a sequential loop of
#     `wheelfarm build` over the same builds: wall time and how busy the cores were.
# Run as root after ci/setup.sh; the toolchains of the two targets are made when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
bench_setup
shared="$WHEELFARM_HOME"
unset WHEELFARM_HOME
work="$(mktemp -d /var/tmp/wheelfarm-farm-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
t1="${TARGET1:-cp311-bookworm-glibc2.17-x86_64}"
t2="${TARGET2:-cp313-trixie-glibc2.17-x86_64}"
# Images made (or remade, when their definition changed) before anything is timed.
for t in "$t1" "$t2"; do
  [ -n "$("$wf" toolchain list --home "$shared" | awk -v t="$t" '$1 == t && / built / && !/ not built /')" ] || "$wf" toolchain build "$t" --home "$shared" >/dev/null
done

# A fresh farm home sharing the toolchain images, derived roots and sdists.
new_home() {
  mkdir -p "$1"
  for d in images toolchains derived sources; do mkdir -p "$shared/$d"; ln -s "$shared/$d" "$1/$d"; done
}

echo "## no-op CI run: 200 pinned requirements, all built (median of ${RUNS:-3})"
echo
new_home "$work/noop"
/usr/bin/python3 "$here/make-wheels.py" "$work/wheelhouse" benchnoop 200 1 0
# Seed the build store with one record per wheel, in the shape a real build writes
# (the current toolchain digest, no recipe, this wheelfarm's version), so that the
# measured path is the real one: read the requirements, check each stored build, record
# 200 skipped jobs in the store, report.
WF_VERSION="$("$wf" --version)" DIGEST="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$shared/toolchains/$t1.json")" \
  /usr/bin/python3 - "$work/wheelhouse" "$work/noop/builds" "$t1" "$work/req200.txt" <<'PY'
import hashlib, json, os, shutil, sys
wheelhouse, builds, target, req = sys.argv[1:5]
lines = []
for name in sorted(os.listdir(wheelhouse)):
    project, version = name.split("-")[0], name.split("-")[1]
    folder = f"{builds}/{project}/{version}/{target}"
    os.makedirs(folder, exist_ok=True)
    shutil.copy(f"{wheelhouse}/{name}", folder)
    digest = hashlib.sha256(open(f"{folder}/{name}", "rb").read()).hexdigest()
    record = {"project": project, "version": version, "target": target, "toolchain_digest": os.environ["DIGEST"], "derived_root": None,
              "recipe_digest": "none", "sdist": {"filename": f"{project}-{version}.tar.gz", "sha256": "0" * 64, "url": ""},
              "build_requirements": [], "wheel": name, "wheel_sha256": digest, "platform_tag": "any", "pure": True, "grafted": [],
              "timings": {}, "outcome": "succeeded", "failure": None, "started_at": "2026-01-01T00:00:00Z", "builder_version": os.environ["WF_VERSION"]}
    json.dump(record, open(f"{folder}/record.json", "w"))
    lines.append(f"{project}=={version}")
open(req, "w").write("\n".join(lines) + "\n")
PY
"$wf" build -r "$work/req200.txt" --target "$t1" --home "$work/noop" --report-json "$work/noop.json" >/dev/null
skipped="$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(1 for x in r["results"] if x["status"]=="already built"))' "$work/noop.json")"
read -r wt wm < <(measure "$wf" build -r "$work/req200.txt" --target "$t1" --home "$work/noop")
read -r pt pm < <(measure bash -c "rm -rf '$work/out' && PIP_FIND_LINKS= /usr/bin/python3 -m pip wheel --quiet --no-index --no-deps --find-links '$work/wheelhouse' -r '$work/req200.txt' -w '$work/out'")
echo "| run | pip wheel --no-index --find-links (all 200 in the wheelhouse) | wheelfarm build -r (all 200 built) | ratio | aim |"
echo "|---|---:|---:|---:|---:|"
echo "| 200 requirements, $skipped already built | ${pt}s | ${wt}s (${wm} KiB peak) | $(ratio "$pt" "$wt") | ≤ 2 s |"

echo
echo "## scheduler overhead and a store of 100k jobs"
echo
new_home "$work/store"
sched="$("$wf" farm-bench --home "$work/store" --scheduler 500 --jobs 2)"
fill="$("$wf" farm-bench --home "$work/store" --fill 100000)"
queries="$("$wf" farm-bench --home "$work/store" --status-queries)"
read -r st sm < <(measure "$wf" status --home "$work/store")
echo "| measure | result | aim |"
echo "|---|---:|---:|"
echo "| scheduler, 500 jobs through the pool (claim, run, record, 2 workers) | $(echo "$sched" | sed -E 's/.*: ([0-9.]+) ms per job/\1 ms per job/') | ≤ 20 ms |"
echo "| filling the store (jobs and 3 events each) | $(echo "$fill" | sed -E 's/filled ([0-9]+) jobs in ([0-9.]+) s.*/\1 jobs in \2 s/') | |"
echo "| status queries (counts, running, recent failures) over 100k jobs, in process | $(echo "$queries" | sed -E 's/.*median ([0-9.]+) ms, worst ([0-9.]+) ms/median \1 ms, worst \2 ms/') | < 50 ms |"
echo "| \`wheelfarm status\` over 100k jobs, whole process | $(python3 -c "print(f'{float(\"$st\")*1000:.0f} ms')") | |"

echo
echo "## two targets at once against a sequential loop (one run each; toolchains and sdists cached)"
echo
projects="${PROJECTS:-markupsafe==3.0.2 msgpack==1.1.0}"
printf '%s\n' $projects > "$work/req2.txt"
cpu() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat; }
busy() { # busy% between two "used idle" samples
  python3 -c "import sys; u0,i0,u1,i1=map(float,sys.argv[1:]); print(f'{100*(u1-u0)/((u1-u0)+(i1-i0)):.0f}%')" $1 $2 $3 $4
}
new_home "$work/seq"
read -r u0 i0 < <(cpu); s0=$(date +%s.%N)
for t in "$t1" "$t2"; do for p in $projects; do "$wf" build "$p" --target "$t" --home "$work/seq" >/dev/null 2>&1; done; done
s1=$(date +%s.%N); read -r u1 i1 < <(cpu)
seq_wall=$(python3 -c "print(f'{$s1-$s0:.1f}')"); seq_busy=$(busy "$u0" "$i0" "$u1" "$i1")
new_home "$work/par"
read -r u0 i0 < <(cpu); s0=$(date +%s.%N)
"$wf" build -r "$work/req2.txt" --target "$t1" --target "$t2" --jobs 2 --home "$work/par" >/dev/null 2>&1
s1=$(date +%s.%N); read -r u1 i1 < <(cpu)
par_wall=$(python3 -c "print(f'{$s1-$s0:.1f}')"); par_busy=$(busy "$u0" "$i0" "$u1" "$i1")
echo "| builds | sequential loop of wheelfarm build: wall | cores busy | wheelfarm build -r --jobs 2: wall | cores busy | speed-up |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| $(echo $projects | tr ' ' ',') × $t1, $t2 ($(nproc) cores) | ${seq_wall}s | $seq_busy | ${par_wall}s | $par_busy | $(ratio "$seq_wall" "$par_wall") |"
