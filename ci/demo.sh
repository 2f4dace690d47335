#!/usr/bin/env bash
# The main job until `wheelfarm build` exists: build PyYAML from its sdist on this host
# (linking the system's libyaml), then let wheelfarm audit it, repair it (grafting libyaml),
# and prove the repaired wheel installs and imports with the C extension loaded.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tools="${WHEELFARM_TOOLS:-/opt/wheelfarm-tools}"
export WHEELFARM_PATCHELF="${WHEELFARM_PATCHELF:-$tools/bin/patchelf}"
wheelfarm="$repo/.build/debug/wheelfarm"
work="$(mktemp -d /tmp/wheelfarm-demo.XXXXXX)"
trap 'rm -rf "$work"' EXIT
version="${1:-6.0.2}"

echo "== pip wheel pyyaml==$version from its sdist (links libyaml from the system)"
for attempt in 1 2 3; do
  if PIP_FIND_LINKS= /usr/bin/python3 -m pip wheel --quiet --no-deps --no-binary pyyaml \
      "pyyaml==$version" -w "$work/raw"; then break; fi
  [ "$attempt" = 3 ] && exit 1; sleep $((attempt * 5))
done
raw="$(ls "$work"/raw/*.whl)"

echo "== wheelfarm audit $(basename "$raw")"
"$wheelfarm" audit "$raw" || echo "(exit $?: the raw wheel needs repair)"

echo "== wheelfarm repair"
"$wheelfarm" repair -w "$repo/wheelhouse" "$raw"
repaired="$(ls -t "$repo"/wheelhouse/*yaml*.whl | head -1)"

echo "== wheelfarm audit $(basename "$repaired")"
"$wheelfarm" audit "$repaired"

echo "== pip install into a fresh venv and import the C extension"
/usr/bin/python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --no-index --no-deps "$repaired"
"$work/venv/bin/python" - <<'PY'
import yaml
from yaml import _yaml  # the C extension: PyYAML silently falls back to pure Python without it
print("yaml", yaml.__version__, "with libyaml", _yaml.get_version_string(), "loaded from:")
print("\n".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if "libyaml" in l})))
PY
echo "== the repaired wheel is in $repaired"
