#!/usr/bin/env bash
# Benchmark: production's side. On a small service's requirements, with everything already
# built and published:
#   - `wheelfarm lock` (pip's resolver in the runtime root, offline, against the farm's
#     repository) against `pip install --dry-run` resolving from the package index;
#   - the bundle's install.sh, offline, against `pip install` of the same pins from the
#     package index, each into a fresh venv (venv creation not timed).
# Run as root after ci/setup.sh. Aims: offline install at least 3x faster; lock within 2x of pip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
bench_setup
target="${TARGET:-cp311-bookworm-x86_64}"
work="$(mktemp -d /var/tmp/wheelfarm-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cat > "$work/service.txt" <<'EOF'
pyyaml==6.0.2
msgpack==1.1.0
jinja2==3.1.4
python-dateutil==2.9.0.post0
attrs==24.2.0
idna==3.10
typing-extensions==4.12.2; python_version >= "3.8"
importlib-metadata==8.5.0; python_version < "3.10"
EOF
id="$(echo "$target" | tr -c 'A-Za-z0-9_\n-' _)"

# Everything built and published first (not timed).
"$wf" lock -r "$work/service.txt" --target "$target" -o "$work/warm" >/dev/null
pins="$work/pins.txt"
sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\) .*/\1/p' "$work/warm/requirements.$id.txt" > "$pins"
count="$(wc -l < "$pins")"

python3 -m venv "$work/resolver"
read -r pl _ < <(measure env PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null "$work/resolver/bin/python" -m pip install --dry-run --ignore-installed --quiet --no-cache-dir --report "$work/report.json" -r "$work/service.txt")
read -r wl _ < <(measure bash -c "rm -rf '$work/l' && '$wf' lock -r '$work/service.txt' --target '$target' -o '$work/l' --no-build")

"$wf" bundle "$work/warm/pylock.$id.toml" -o "$work/bundle" >/dev/null
key="$WHEELFARM_HOME/keys/signing.pub"
online() { rm -rf "$work/v1" && python3 -m venv "$work/v1" && /usr/bin/time -f %e -o "$work/t1" env PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null "$work/v1/bin/python" -m pip install --quiet --no-cache-dir -r "$pins" && cat "$work/t1"; }
offline() { rm -rf "$work/v2" && python3 -m venv "$work/v2" && /usr/bin/time -f %e -o "$work/t2" sh "$work/bundle/install.sh" "$work/v2" --key "$key" >/dev/null 2>&1 && cat "$work/t2"; }
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
po="$(for _ in $(seq "$RUNS"); do online; done | median)"
wo="$(for _ in $(seq "$RUNS"); do offline; done | median)"

echo "## deployment: $count pinned wheels of a small service, $target (median of $RUNS, $(nproc) cores)"
echo
echo "| step | the usual way | wheelfarm | ratio |"
echo "|---|---:|---:|---:|"
echo "| resolve: pip install --dry-run from the package index / wheelfarm lock (pip in the runtime root, offline, signed lock) | ${pl}s | ${wl}s | $(ratio "$wl" "$pl") of pip's time |"
echo "| install into a fresh venv: pip install of the pins from the package index / install.sh of the bundle, offline, signatures checked | ${po}s | ${wo}s | $(ratio "$po" "$wo") faster |"
