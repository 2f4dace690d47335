#!/usr/bin/env bash
# Benchmark: the public corpus. `wheelfarm build -r` of popular binary projects on the package
# index (pinned; each line says why it is here) for the default target, then per project: the
# outcome, the cause of a failure, the time, the platform tag and the grafted libraries.
# Side by side (COMPARE=1, the default), what a user would do instead on this host: `pip wheel`
# of the same pin, timed, and auditwheel's verdict on that wheel (a host build carries the
# host's glibc, so its best tag is what the farm's baseline target exists to beat).
# Run as root after ci/setup.sh. TARGET and COMPARE=0 change it; KEEP=DIR keeps the JSON report
# and the log; REPORT=FILE (with WALL=seconds) makes the table of an earlier run without building.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"
bench_setup
target="${TARGET:-cp311-bookworm-glibc2.17-x86_64}"
work="$(mktemp -d /var/tmp/wheelfarm-corpus.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# The corpus: among the most downloaded projects with C, C++ or Cython extensions, the ones
# whose build needs no Rust. Pins are releases with an sdist.
cat > "$work/corpus.txt" <<'PINS'
numpy==2.1.3              # the user's own example; meson-python
markupsafe==3.0.2         # a dependency of nearly every web stack; one small C module
pyyaml==6.0.2             # libyaml grafted (built from its Debian source on baseline targets)
cffi==1.17.1              # libffi; on baseline targets built from source (Debian's needs glibc 2.27)
charset-normalizer==3.4.0 # requests' dependency; optional mypyc build
psutil==6.1.0             # system calls; many C files
simplejson==3.19.3        # optional C speedups that must not be silently dropped
frozenlist==1.5.0         # Cython, aiohttp's stack
multidict==6.1.0          # C, aiohttp's stack
yarl==1.17.1              # Cython, aiohttp's stack
propcache==0.2.0          # Cython, aiohttp's stack
aiohttp==3.11.9           # vendored llhttp, generated C
wrapt==1.16.0             # C extension used by tracing libraries
regex==2024.11.6          # a large C module
ujson==5.10.0             # C with double-conversion in C++
greenlet==3.1.1           # C++ and assembly stack switching
zope.interface==7.1.1     # C optimisations
kiwisolver==1.4.7         # C++ with cppy, matplotlib's dependency
coverage==7.6.8           # the C tracer
pyrsistent==0.20.0        # C extension
bitarray==3.0.0           # C
mmh3==5.0.1               # C hashing
xxhash==3.5.0             # vendored xxHash
lz4==4.3.3                # vendored lz4
zstandard==0.23.0         # vendored zstd, cffi optional backend
brotli==1.1.0             # vendored brotli, C++ build glue
setproctitle==1.3.4       # platform-specific C
pycryptodome==3.21.0      # many C modules, no system crypto
pynacl==1.5.0             # bundled libsodium, autotools configure inside the build
websockets==14.1          # optional C speedups
ruamel.yaml.clib==0.2.12  # C
rapidfuzz==3.10.1         # C++ with scikit-build-core and CMake
httptools==0.6.4          # vendored llhttp
google-crc32c==1.6.0      # C with an optional system library
protobuf==5.28.3          # the upb C extension
contourpy==1.3.1          # meson-python and pybind11
cython==3.0.11            # Cython compiles itself
msgpack==1.1.0            # C++ glue, Cython
cymem==2.0.10             # Cython, spaCy's stack
murmurhash==1.0.11        # Cython, spaCy's stack
preshed==3.0.9            # Cython with a cymem build dependency
editdistance==0.8.1       # C++
PINS
# Excluded, with the reason: they need Rust crates, and the crate registry is not reachable
# from these machines (recipes/README.md describes how vendored crates would work).
excluded="cryptography bcrypt orjson pydantic-core rpds-py jiter tokenizers"

sed 's/#.*//; /^ *$/d; s/ *$//' "$work/corpus.txt" > "$work/requirements.txt"
echo "corpus: $(wc -l < "$work/requirements.txt") projects for $target ($work)" >&2
if [ -n "${REPORT:-}" ]; then
  # The table of an earlier run's JSON report (and its wall time), without building again.
  cp "$REPORT" "$work/report.json"
  wall="${WALL:-?}"
else
  start="$(date +%s.%N)"
  "$wf" build -r "$work/requirements.txt" --target "$target" --report-json "$work/report.json" > "$work/build.log" 2>&1 || true
  wall="$(python3 -c "import sys,time; print('%.0f' % (time.time() - float(sys.argv[1])))" "$start")"
  [ -z "${KEEP:-}" ] || cp "$work/report.json" "$work/build.log" "$KEEP/"
fi

# The tool a user would pick instead: pip wheel on this host, then auditwheel's verdict.
if [ "${COMPARE:-1}" = 1 ]; then
  mkdir -p "$work/pip"
  while read -r pin; do
    name="${pin%%==*}"
    t0="$(date +%s.%N)"
    # The project from its sdist; its build requirements as wheels, as the farm takes them.
    if /usr/bin/python3 -m pip wheel --quiet --no-deps --no-cache-dir --no-binary "$name" -w "$work/pip/$name" "$pin" >/dev/null 2>&1; then
      whl="$(ls "$work/pip/$name"/*.whl | head -1)"
      tag="$("$tools/bin/auditwheel" show "$whl" 2>/dev/null | grep -oE 'manylinux_[0-9]+_[0-9]+_x86_64' | head -1 || true)"
      verdict="${tag:-not manylinux}"
    else
      verdict="failed"
    fi
    printf '%s\t%s\t%s\n' "$name" "$(python3 -c "import sys,time; print('%.0f' % (time.time() - float(sys.argv[1])))" "$t0")" "$verdict" >> "$work/pip.tsv"
  done < "$work/requirements.txt"
fi
touch "$work/pip.tsv"

python3 - "$work/report.json" "$WHEELFARM_HOME" "$target" "$work/pip.tsv" "$wall" "$excluded" <<'PY'
import json, os, re, sys
report, home, target, pip_path, wall, excluded = sys.argv[1:7]
rows = json.load(open(report))["results"]
pip = {l.split("\t")[0].lower().replace("_", "-").replace(".", "-"): l.rstrip("\n").split("\t")[1:] for l in open(pip_path) if l.strip()}

def cause(row):
    text = " ".join(str(row.get(k) or "") for k in ("failure", "suggestion", "stage"))
    if row.get("suggestion") and "recipe add" in row["suggestion"]: return "missing system package"
    if "no binary although the sources have native code" in text: return "missing library (pure-Python fallback)"
    if re.search(r"ceiling|GLIBC_|above the target", text): return "tag ceiling"
    if row.get("stage") == "test": return "test failure"
    if re.search(r"cargo|rustc|Rust", text): return "unsupported toolchain"
    if row.get("stage") == "prepare": return "build requirements"
    return "compile error"

print(f"## corpus: `wheelfarm build -r` of {len(rows)} projects for {target}")
print()
print("| project | result | wheelfarm | tag | grafted | pip wheel on the host | its auditwheel verdict |")
print("|---|---|---:|---|---|---:|---|")
built = 0; causes = {}; times = []
for row in sorted(rows, key=lambda r: r["requirement"].lower()):
    status = row.get("status", "")
    project = (row.get("project") or row["requirement"].split("==")[0]).lower().replace("_", "-").replace(".", "-")
    version = row.get("version") or row["requirement"].split("==")[-1]
    grafted, tag = "", ""
    record = os.path.join(home, "builds", project, version, target, "record.json")
    if os.path.exists(record):
        r = json.load(open(record))
        grafted = ", ".join(g["soname"] for g in r.get("grafted", []))
        tag = r.get("platform_tag") or ""
    seconds = row.get("seconds")
    if status in ("built", "already built"):
        built += 1
        if seconds: times.append(seconds)
        result = status
    else:
        c = cause(row); causes[c] = causes.get(c, 0) + 1
        result = f"FAILED ({c})"
    pip_time, pip_verdict = (pip.get(project) or ["-", "-"])[:2]
    print(f"| {row['requirement']} | {result} | {seconds or 0:.0f} s | {tag} | {grafted} | {pip_time} s | {pip_verdict} |")
print()
print(f"built and test-installed: {built} of {len(rows)} ({100 * built / max(1, len(rows)):.0f}%), wall {wall} s for the whole request")
if times: print(f"time per build: median {sorted(times)[len(times) // 2]:.0f} s, longest {max(times):.0f} s")
for c, n in sorted(causes.items()): print(f"failures by cause: {c}: {n}")
print(f"excluded (need Rust crates): {excluded}")
PY
