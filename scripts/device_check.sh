#!/usr/bin/env bash
# The GPU check: run the gpu-smoke profile on a machine with one or more NVIDIA GPUs and write
# everything it measured into one folder.  Prepared here, run on the lent GPU machine:
#
#   bash scripts/fetch_device_wheels.sh                       # here, with registry access
#   bash scripts/device_check.sh OUT_DIR                      # there, with .whl carried along
#
# It installs the carried wheels (.whl/*.whl) into /tmp/site, runs every gpu-smoke cell into a fresh
# DuckDB store, exports the store (parquet), renders the reports, and copies the fingerprint, the
# nvidia-smi summary and the log into OUT_DIR, then packs OUT_DIR into OUT_DIR.tar.gz.  Publish its
# contents as results/gpu-smoke/.  Through the device tool (at most 8 files come back from $OUT):
#   bash scripts/device_check.sh /tmp/gpu-smoke; cp /tmp/gpu-smoke.tar.gz /tmp/gpu-smoke/device_check.log /tmp/gpu-smoke/cells.txt $OUT/
set -uo pipefail
out="${1:?usage: device_check.sh OUT_DIR}"
cd "$(dirname "$0")/.."
mkdir -p "$out"
exec > >(tee "$out/device_check.log") 2>&1
t0=$(date +%s)
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "device_check: installing the carried wheels failed"; exit 2; }
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/nvidia-smi.csv" || true
python3 - <<'PY' > "$out/fingerprint.json" || exit 2
import json
from tiltbench.fingerprint import fingerprint
print(json.dumps(fingerprint("local", 1), indent=1, sort_keys=True))
PY
store="/tmp/gpu-smoke.duckdb"
rm -f "$store"
python3 -m tiltbench.cli run --profile gpu-smoke --store "$store" --no-progress; rc=$?
python3 -m tiltbench.cli export --store "$store" "$out/runs" || rc=3
python3 -m tiltbench.cli report --profile gpu-smoke --store "$store" --out "$out" || rc=4
python3 -m tiltbench.cli query --store "$store" \
  "SELECT track, task, method, status, round(wall_s, 2) AS wall_s, round(gpu_s, 2) AS gpu_s, reason FROM runs ORDER BY 1, 2, 3" \
  > "$out/cells.txt" || true
echo "device_check: exit $rc after $(( $(date +%s) - t0 )) s"
tar czf "$out.tar.gz" -C "$(dirname "$out")" "$(basename "$out")" || rc=5
exit $rc
