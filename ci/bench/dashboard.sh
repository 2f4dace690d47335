#!/usr/bin/env bash
# Benchmark: the dashboard over a large farm. A store of 100,000 jobs (a project with 50
# versions x 14 targets among them, a tenth failed, some running and queued) is written with
# Python's sqlite3 into a fresh home; `wheelfarm serve` then answers the overview, a project
# page, a job page and the API's first page of jobs. Server time is curl's total on loopback
# (median of 21); requests per second of the overview come from wrk (2 threads, 8 connections,
# 10 s). Aim: at most 50 ms for the overview and the project page.
# Usage: ci/bench/dashboard.sh [JOBS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
(cd "$repo" && swift build -c release >/dev/null)
wf="$repo/.build/release/wheelfarm"
jobs="${1:-100000}"
work="$(mktemp -d /var/tmp/wheelfarm-bench.XXXXXX)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
home="$work/home"
"$wf" status --home "$home" >/dev/null
python3 - "$home/state/farm.sqlite" "$jobs" <<'EOF'
import random, sqlite3, sys, time
path, total = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
now = time.time()
targets = ["cp311-bookworm-x86_64", "cp311-bookworm-aarch64", "cp313-trixie-x86_64", "cp313-trixie-aarch64", "cp39-bullseye-x86_64",
           "cp39-bullseye-aarch64"] + ["cp311-bookworm-glibc2.%d-x86_64" % v for v in (17, 28)] + ["t%d" % i for i in range(6)]
db.execute("INSERT INTO requests (id, kind, description, with_deps, created_at) VALUES (1, 'requirements', 'bench', 0, ?)", (now - 86400,))
rows = []
random.seed(7)
def add(i, project, version, target, state):
    wheel = "%s-%s-cp311-cp311-manylinux_2_17_x86_64.whl" % (project, version) if state == "succeeded" else None
    rows.append((i, 1, "%s==%s" % (project, version), "bench", project, version, target, "%s@%s@%s" % (project, version, target), state,
                 "build" if state in ("failed", "running") else None, "compiler error" if state == "failed" else None,
                 now - (total - i), now - (total - i) + 1, now - (total - i) + 1, now - (total - i) + 60 if state not in ("running", "queued") else None, wheel,
                 "%d@bench" % (i % 4) if state == "running" else None))
i = 0
for v in range(50):
    for target in targets:
        i += 1
        add(i, "bigproject", "1.%d" % v, target, random.choice(["succeeded"] * 8 + ["failed"]))
while i < total:
    i += 1
    state = "running" if i > total - 8 else "queued" if i > total - 40 else random.choice(["succeeded"] * 8 + ["failed", "skipped"])
    add(i, "project%d" % (i % 5000), "%d.0" % (i % 97), targets[i % len(targets)], state)
db.executemany("""INSERT INTO jobs (id, request_id, requirement, origin, project, version, target, identity, state, stage, reason,
                  created_at, updated_at, started_at, finished_at, wheel, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", rows)
db.execute("DELETE FROM job_state_counts")
db.execute("INSERT INTO job_state_counts (state, n) SELECT state, count(*) FROM jobs GROUP BY state")
db.commit()
EOF
port=$((30000 + $$ % 20000))
"$wf" serve --home "$home" --port "$port" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
timed() {
  for _ in $(seq 21); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$1"; done | sort -n | sed -n 11p
}
ms() { python3 -c "print(f'{float(\"$1\") * 1000:.1f} ms')"; }
echo "## dashboard over $jobs jobs (median of 21 requests, loopback, $(nproc) cores, release build)"
echo
echo "| page | server time |"
echo "|---|---:|"
echo "| overview /dashboard/ | $(ms "$(timed /dashboard/)") |"
echo "| project page, 50 versions x 14 targets | $(ms "$(timed /dashboard/projects/bigproject)") |"
echo "| job page | $(ms "$(timed "/dashboard/jobs/$((jobs / 2))")") |"
echo "| API: first page of failed jobs | $(ms "$(timed "/api/v1/jobs?state=failed&limit=50")") |"
echo "| /metrics | $(ms "$(timed /metrics)") |"
if command -v wrk >/dev/null; then
  rps="$(wrk -t2 -c8 -d10s "http://127.0.0.1:$port/dashboard/" | sed -n 's/^Requests\/sec: *//p')"
  echo
  echo "wrk, overview: $rps requests/s (2 threads, 8 connections, 10 s)"
fi
echo
echo "peak memory of the server: $(awk '/VmHWM/{print int($2/1024)}' /proc/$server/status) MiB"
