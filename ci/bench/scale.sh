#!/usr/bin/env bash
# Benchmark: the farm's state on PostgreSQL against SQLite, and builder hosts at scale.
# Prints markdown tables:
#  1. claim-and-complete per job with 1, 3 and 8 concurrent claimers over a store of 100k
#     jobs, PostgreSQL beside SQLite (aim: at most 5 ms a claim on PostgreSQL);
#  2. the queries of `wheelfarm status` over 1M jobs on each engine (aim: under 100 ms);
#  3. a simulated rebuild: 24,000 jobs of no-op builds taken by 8 `wheelfarm worker`
#     processes over PostgreSQL: wall time, claims per second and the server's CPU.
# Run as root after ci/setup.sh (PostgreSQL from Debian's packages; a throw-away cluster is
# made in a temporary folder and stopped at the end). JOBS_1M=0 skips the 1M-job table.
# PostgreSQL runs with synchronous_commit=off, the same promise as the SQLite store's WAL
# with synchronous=NORMAL: a power cut may lose the last commits, never corrupt the state.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
bench_setup
unset WHEELFARM_HOME
work="$(mktemp -d /var/tmp/wheelfarm-scale.XXXXXX)"
chown postgres:postgres "$work"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
port="${PGBENCH_PORT:-55432}"
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
  as_pg "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
as_pg "$bin/initdb" -D "$work/data" -U wheelfarm -A trust -E UTF8 >/dev/null
as_pg "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c synchronous_commit=off -c max_connections=200 -c shared_buffers=512MB" start >/dev/null
db() { as_pg "$bin/psql" -h "$work" -p "$port" -U wheelfarm -d postgres -qc "$1" >/dev/null; echo "postgres://wheelfarm@127.0.0.1:$port/$2"; }

echo "## claim and complete, 100k jobs in the store (2,000 claims a run)"
echo
echo "| claimers | PostgreSQL ms/claim (median, p95) | PostgreSQL claims/s | SQLite ms/claim (median, p95) | SQLite claims/s |"
echo "|---|---|---|---|---|"
pg="$(db "CREATE DATABASE claims" claims)"
mkdir -p "$work/sqlite"
"$wf" farm-bench --home "$work/h1" --state "$pg" --fill 100000 >/dev/null
"$wf" farm-bench --home "$work/h2" --state "sqlite:$work/sqlite/claims.sqlite" --fill 100000 >/dev/null
field() { sed -nE "s|.*$1.*|\\1|p"; }
for claimers in 1 3 8; do
  p="$("$wf" farm-bench --home "$work/h1" --state "$pg" --claims 2000 --claimers "$claimers")"
  s="$("$wf" farm-bench --home "$work/h2" --state "sqlite:$work/sqlite/claims.sqlite" --claims 2000 --claimers "$claimers")"
  pm="$(echo "$p" | field 'median ([0-9.]+) ms')"; pp="$(echo "$p" | field 'p95 ([0-9.]+) ms')"; pr="$(echo "$p" | field ', ([0-9]+) claims/s')"
  sm="$(echo "$s" | field 'median ([0-9.]+) ms')"; sp="$(echo "$s" | field 'p95 ([0-9.]+) ms')"; sr="$(echo "$s" | field ', ([0-9]+) claims/s')"
  echo "| $claimers | $pm ($pp) | $pr | $sm ($sp) | $sr |"
done
echo

if [ "${JOBS_1M:-1}" != 0 ]; then
  echo "## wheelfarm status over 1M jobs (median of 21)"
  echo
  echo "| engine | status queries |"
  echo "|---|---|"
  pg1m="$(db "CREATE DATABASE million" million)"
  "$wf" farm-bench --home "$work/h3" --state "$pg1m" --fill 1000000 >/dev/null
  "$wf" farm-bench --home "$work/h4" --state "sqlite:$work/sqlite/million.sqlite" --fill 1000000 >/dev/null
  echo "| PostgreSQL | $("$wf" farm-bench --home "$work/h3" --state "$pg1m" --status-queries | field 'median ([0-9.]+ ms)') |"
  echo "| SQLite | $("$wf" farm-bench --home "$work/h4" --state "sqlite:$work/sqlite/million.sqlite" --status-queries | field 'median ([0-9.]+ ms)') |"
  echo
fi

echo "## simulated rebuild: 24,000 no-op jobs over 8 worker processes (PostgreSQL)"
echo
sim="$(db "CREATE DATABASE rebuild" rebuild)"
"$wf" farm-bench --home "$work/h5" --state "$sim" --queue 24000 --queue-target sim-x86_64 >/dev/null
for i in 1 2 3 4 5 6 7 8; do
  "$wf" builders add "w$i" --home "$work/h5" --state "$sim" 2>/dev/null >"$work/w$i.token"
done
# The server's CPU: every postgres process of this cluster, before and after.
pg_cpu() {
  local total=0 pid
  for pid in $(pgrep -u postgres -f "postgres" || true); do
    if [ -r "/proc/$pid/stat" ]; then
      total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat")))
    fi
  done
  echo "$total"
}
before="$(pg_cpu)"
start="$(date +%s.%N)"
pids=()
for i in 1 2 3 4 5 6 7 8; do
  "$wf" worker --home "$work/w$i" --state "$sim" --name "w$i" --token-file "$work/w$i.token" --target sim-x86_64 \
    --simulate 0 --jobs 4 --poll-seconds 0.2 --exit-when-idle >"$work/w$i.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
end="$(date +%s.%N)"
after="$(pg_cpu)"
ticks="$(getconf CLK_TCK)"
left="$(as_pg "$bin/psql" -h "$work" -p "$port" -U wheelfarm -d rebuild -Atc "SELECT count(*) FROM jobs WHERE state <> 'skipped'")"
python3 - "$start" "$end" "$before" "$after" "$ticks" "$left" <<'PY'
import sys
start, end, before, after, ticks, left = map(float, sys.argv[1:7])
wall = end - start
cpu = (after - before) / ticks
print("| jobs | workers | wall | claims/s | PostgreSQL CPU | CPU per claim | not done |")
print("|---|---|---|---|---|---|---|")
print(f"| 24,000 | 8 × 4 | {wall:.1f} s | {24000 / wall:.0f} | {cpu:.1f} s | {cpu / 24000 * 1000:.2f} ms | {int(left)} |")
# 16 hosts of 16 cores: 256 builds at once; at a CPU-minute a build, 24,000 builds keep the
# hosts busy for about 24000 * 60 / 256 s; the coordinator serves one claim per build.
hours = 24000 * 60 / 256 / 3600
print()
print(f"Extrapolation to 16 hosts of 16 cores: a full rebuild of 24,000 one-CPU-minute builds is about {hours:.1f} h of wall time; "
      f"the farm then needs {24000 / (hours * 3600):.1f} claims/s, {24000 / wall / (24000 / (hours * 3600)):.0f}x below what this run sustained, "
      f"and the server spends about {cpu:.0f} s of CPU on the whole rebuild's claims.")
PY
