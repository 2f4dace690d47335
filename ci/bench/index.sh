#!/usr/bin/env bash
# Benchmark: `wheelfarm serve` against pypiserver on the same 500 files (wrk on /simple/ and
# /simple/<name>/, HTML and JSON); the server's cost of an upload (100 uploads of 1 MB wheels
# from 4 concurrent clients while wrk loads the project page, each upload listed as soon as it
# returns); and the server's memory with 10k files. Run as root after ci/setup.sh (wrk, the
# tools venv with pypiserver).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools="${WHEELFARM_TOOLS:-/opt/wheelfarm-tools}"
(cd "$repo" && swift build -c release >/dev/null)
wf="$repo/.build/release/wheelfarm"
work="$(mktemp -d /var/tmp/wheelfarm-index-bench.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
duration="${DURATION:-10}"

make_wheels() { "$tools/bin/python" "$here/make-wheels.py" "$@"; }  # OUT PREFIX PROJECTS VERSIONS SIZE

wrk_rps() {  # wrk_rps URL [ACCEPT]
  local accept="${2:-text/html}"
  wrk -t2 -c50 -d"${duration}s" -H "Accept: $accept" "$1" 2>/dev/null | awk '/Requests\/sec/ {printf "%.0f", $2}'
}

wait_for() { for _ in $(seq 120); do curl -sf -o /dev/null "$1" && return 0; sleep 0.25; done; echo "no answer from $1" >&2; exit 1; }

# 500 files: `bench` with 401 versions and 99 projects with one each.
make_wheels "$work/wheels" bench 1 401 0
make_wheels "$work/wheels" proj 99 1 0
mkdir -p "$work/pypi" && cp "$work"/wheels/*.whl "$work/pypi/"
"$wf" publish --home "$work/home" "$work"/wheels/*.whl >/dev/null
"$wf" serve --home "$work/home" --port 18801 >/dev/null 2>&1 & pids+=($!)
"$tools/bin/pypi-server" run -i 127.0.0.1 -p 18802 -a . -P . --hash-algo sha256 "$work/pypi" >/dev/null 2>&1 & pids+=($!)
wait_for http://127.0.0.1:18801/simple/
wait_for http://127.0.0.1:18802/simple/

echo "## serving 500 files: requests per second (wrk, 2 threads, 50 connections, ${duration} s each)"
echo
echo "| page | pypiserver | wheelfarm serve | speed-up |"
echo "|---|---:|---:|---:|"
for page in "/simple/|text/html" "/simple/bench/|text/html" "/simple/|application/vnd.pypi.simple.v1+json" "/simple/bench/|application/vnd.pypi.simple.v1+json"; do
  path="${page%%|*}"; accept="${page##*|}"
  label="$path $( [ "$accept" = text/html ] && echo HTML || echo JSON )"
  p="$(wrk_rps "http://127.0.0.1:18802$path" "$accept")"; w="$(wrk_rps "http://127.0.0.1:18801$path" "$accept")"
  # pypiserver answers JSON requests with HTML (no PEP 691): its figure is for the page it serves.
  echo "| $label | ${p:-0} | ${w:-0} | $(python3 -c "print(f'{$w / $p:.1f}x' if ${p:-0} > 0 else 'n/a')") |"
done

echo
echo "## uploads: 100 wheels of 1 MB from 4 concurrent clients, while wrk loads /simple/upl/"
echo
token="$("$wf" token create --home "$work/home" 2>/dev/null)"
make_wheels "$work/upl" upl 1 101 $((1 << 20))
"$wf" publish --home "$work/home" "$work/upl/upl-1.0-py3-none-any.whl" >/dev/null  # the page exists before wrk starts
wrk -t1 -c10 -d8s http://127.0.0.1:18801/simple/upl/ > "$work/wrk-during.txt" 2>&1 & wrkpid=$!
upload() {  # upload FILE -> prints curl's total seconds and the server's own time (Server-Timing); flags it if not listed right after
  local f="$1" name sha total server
  name="$(basename "$f")"; sha="$(sha256sum "$f" | cut -d' ' -f1)"
  total="$(curl -s -o /dev/null -D "$f.headers" -w '%{time_total}' -H 'Expect:' -u "__token__:$token" -F ":action=file_upload" -F "name=upl" \
    -F "version=$(echo "$name" | cut -d- -f2)" -F "sha256_digest=$sha" -F "content=@$f" http://127.0.0.1:18801/legacy/)"
  server="$(tr -d '\r' < "$f.headers" | awk -F'dur=' 'tolower($0) ~ /^server-timing:/ {print $2}')"
  echo "$total ${server:-0}"
  curl -s http://127.0.0.1:18801/simple/upl/ | grep -q "$name" || echo "NOT-LISTED $name"
}
export -f upload; export token
# First, 20 uploads one after another on an idle server: the server's own cost alone.
ls "$work"/upl/*.whl | grep -v 'upl-1.0-' | head -20 | while read -r f; do upload "$f"; done > "$work/quiet.txt"
python3 - "$work/quiet.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("NOT")]
print(f"one client, idle server: the server's own time per 1 MB upload, median {statistics.median(float(r[1]) for r in rows):.1f} ms over {len(rows)} uploads")
print()
PY
start="$(date +%s.%N)"
ls "$work"/upl/*.whl | grep -v 'upl-1.0-' | xargs -P 4 -I{} bash -c 'upload {}' > "$work/uploads.txt"
end="$(date +%s.%N)"
wait "$wrkpid" 2>/dev/null || true
listed_misses="$(grep -c NOT-LISTED "$work/uploads.txt" || true)"
python3 - "$work/uploads.txt" "$start" "$end" "$listed_misses" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("NOT")]
times = sorted(float(r[0]) * 1000 for r in rows)
server = sorted(float(r[1]) for r in rows)
print("| uploads | server's own time: median | p90 | curl's whole request: median | p90 | wall time, 4 clients | not listed right after returning |")
print("|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {len(rows)} | {statistics.median(server):.1f} ms | {server[int(len(server) * 0.9)]:.1f} ms | {statistics.median(times):.1f} ms | {times[int(len(times) * 0.9)]:.1f} ms | {float(sys.argv[3]) - float(sys.argv[2]):.2f} s | {sys.argv[4]} |")
PY
echo
echo "(the server's time runs from the request to the response: receiving 1 MB, the checks, storing, the index update;"
echo "the whole request is curl's on loopback, with 4 clients and wrk sharing 2 cores; meanwhile wrk got"
echo "$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk-during.txt") req/s from /simple/upl/ over 8 s, $(grep -c . "$work/wrk-during.txt" >/dev/null && awk '/Non-2xx/ {print $NF}' "$work/wrk-during.txt" | grep . || echo 0) non-2xx answers)"

echo
echo "## memory with 10k files (1000 projects x 10 versions)"
make_wheels "$work/many" m 1000 10 0
find "$work/many" -name '*.whl' -print0 | xargs -0 -n 2000 "$wf" publish --home "$work/many-home" >/dev/null
"$wf" serve --home "$work/many-home" --port 18803 >/dev/null 2>&1 & spid=$!; pids+=($spid)
wait_for http://127.0.0.1:18803/simple/
wrk -t2 -c20 -d5s http://127.0.0.1:18803/simple/ >/dev/null 2>&1 || true
for p in $(seq 0 999); do printf 'http://127.0.0.1:18803/simple/m%05d/\n' "$p"; done | xargs -P 4 -n 1 curl -s -o /dev/null
rss="$(awk '/VmHWM/ {print $2}' /proc/$spid/status)"
echo
echo "| files | projects | peak resident memory of wheelfarm serve (after /simple/ and every project page) |"
echo "|---:|---:|---:|"
echo "| 10000 | 1000 | $((rss / 1024)) MB |"
