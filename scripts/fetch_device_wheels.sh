#!/usr/bin/env bash
# Download, on a machine with package-registry access, the wheels the GPU machine lacks for the
# gpu-smoke profile, into .whl/ (git-ignored).  The GPU machine (Python 3.12, x86-64, no network)
# already has torch, numpy, scipy, pandas, pyarrow, matplotlib and rich; it lacks duckdb and POT,
# and tiltbench itself is installed there from a wheel.
# Tracks whose GPU paths need more (diffusers, trl, dm_control, ...) add their wheels here.
#
#   bash scripts/fetch_device_wheels.sh        # then carry .whl to the device (see device_check.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"  # the environment whose duckdb and POT versions to match (an activated venv)
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl "duckdb==$("$PY" -c 'import duckdb; print(duckdb.__version__)')" \
  "pot==$("$PY" -c 'import importlib.metadata as m; print(m.version("pot"))')"
# tiltbench itself, from the tracked files of this tree (device_check.sh rebuilds it there when it can)
rm -f .whl/tiltbench-*.whl; src="$(mktemp -d)"
git ls-files -z | xargs -0 tar cf - | tar xf - -C "$src"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w .whl "$src"; rm -rf "$src"
# the commit the wheel was built from, for the fingerprint there (no git history travels)
echo "$(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!results' || echo -dirty)" > .whl/COMMIT
ls -la .whl
