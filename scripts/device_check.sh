#!/usr/bin/env bash
# The GPU check: run the GPU profiles on a machine with one or more NVIDIA GPUs and write everything
# they measured into one folder.  Prepared here, run on the lent GPU machine:
#
#   bash scripts/fetch_device_wheels.sh                       # here, with registry access
#   bash scripts/device_check.sh OUT_DIR                      # there, after the payload's parts travelled
#
# It unpacks the payload's parts (see fetch_device_wheels.sh) into /tmp/site, runs each profile of $PROFILES (default:
# gpu-smoke for 150 s at most, then gpu-scaling for 270 s at most; PROFILES="name:seconds ...") into
# one fresh DuckDB store, exports the store (parquet), renders each profile's reports, and copies the
# fingerprint, the nvidia-smi summary and the log into OUT_DIR, then packs OUT_DIR into
# OUT_DIR.tar.gz.  IMPORT=<an earlier check's runs/ folder> resumes that check.  A profile that runs out of its time is stopped like Ctrl-C: finished cells stay
# stored, the rest are "not run" in its report.  Publish the contents as results/<profile>/.
# Through the device tool (at most 8 files come back from $OUT):
#   bash scripts/device_check.sh /tmp/gpu; cp /tmp/gpu.tar.gz /tmp/gpu/device_check.log /tmp/gpu/cells.txt $OUT/
set -uo pipefail
out="${1:?usage: device_check.sh OUT_DIR}"
cd "$(dirname "$0")/.."
mkdir -p "$out"
out="$(cd "$out" && pwd)"
exec > >(tee "$out/device_check.log") 2>&1
t0=$(date +%s)
# The payload (scripts/fetch_device_wheels.sh) travels in parts, one device call each: the calls
# before this one copied theirs into /tmp/parts; this call's part (or every part) is under .whl/.
mkdir -p /tmp/parts
cp .whl/part-* /tmp/parts/ 2>/dev/null || true
ls /tmp/parts/part-* >/dev/null 2>&1 || { echo "device_check: no payload parts (run scripts/fetch_device_wheels.sh here and send .whl/part-N)"; exit 2; }
rm -rf /tmp/payload && cat /tmp/parts/part-* | tar xJf - -C /tmp \
  || { echo "device_check: the payload parts do not join (send every .whl/part-N of one fetch, back to back)"; exit 2; }
rm -rf /tmp/site && mv /tmp/payload/site /tmp/site
# tiltbench itself is installed as a wheel built from this tree (the tracks, methods and baselines
# live under the tiltbench namespace only once installed, and tracks register through entry points);
# where it cannot be built there, the one in the payload (built by fetch_device_wheels.sh) is used.
rm -rf /tmp/tiltbench-src /tmp/tiltbench-wheel && mkdir -p /tmp/tiltbench-src
tar cf - --exclude=./build --exclude=./.whl --exclude=./.git --exclude='*.egg-info' . | tar xf - -C /tmp/tiltbench-src
wheels=(/tmp/payload/wheels/*.whl)
if python3 -m pip wheel -q --no-deps --no-build-isolation --no-index -w /tmp/tiltbench-wheel /tmp/tiltbench-src; then
  wheels=($(ls /tmp/payload/wheels/*.whl | grep -v '/tiltbench-') /tmp/tiltbench-wheel/tiltbench-*.whl)
else
  echo "device_check: could not build tiltbench here; installing the payload's tiltbench wheel"
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${wheels[@]}" \
  || { echo "device_check: installing the wheels failed"; exit 2; }
export TILTBENCH_CACHE="${TILTBENCH_CACHE:-/tmp/payload/cache}"  # holds the tiny-random Llama the llm smoke cells train
export PYTHONPATH="/tmp/site" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export TILTBENCH_GIT_COMMIT="${TILTBENCH_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || cat /tmp/payload/COMMIT 2>/dev/null)}"
export POT_BACKEND_DISABLE_JAX=1 POT_BACKEND_DISABLE_TENSORFLOW=1 POT_BACKEND_DISABLE_CUPY=1
case "${IMPORT:-}" in ""|/*) ;; *) IMPORT="$PWD/$IMPORT" ;; esac
cd /tmp  # so that the tree's own tiltbench/ folder cannot shadow the installed package
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/nvidia-smi.csv" || true
python3 - <<'PY' > "$out/fingerprint.json" || exit 2
import json
from tiltbench.fingerprint import fingerprint
print(json.dumps(fingerprint("local", 1), indent=1, sort_keys=True))
PY
store="/tmp/device-check.duckdb"
rm -f "$store"
rc=0
if [ -n "${IMPORT:-}" ]; then  # resume: an earlier check's export (cells resume by content key)
  python3 -m tiltbench.cli import "$IMPORT" --store "$store" || { echo "device_check: import of $IMPORT failed"; exit 2; }
fi
for spec in ${PROFILES:-gpu-smoke:150 gpu-scaling:270}; do
  profile="${spec%%:*}" cap="${spec#*:}"
  [ "$cap" = "$spec" ] && cap=600
  echo "device_check: profile $profile, at most $cap s"
  timeout -s TERM -k 30 "$cap" python3 -m tiltbench.cli run --profile "$profile" --store "$store" --no-progress \
    || echo "device_check: $profile exited $? (124: stopped at $cap s)"
  python3 -m tiltbench.cli report --profile "$profile" --store "$store" --out "$out/$profile" || rc=4
done
python3 -m tiltbench.cli export --store "$store" "$out/runs" || rc=3
python3 -m tiltbench.cli query --store "$store" \
  "SELECT profile, task, method, status, round(wall_s, 2) AS wall_s, round(gpu_s, 2) AS gpu_s, reason FROM runs ORDER BY 1, 2, 3" \
  > "$out/cells.txt" || true
echo "device_check: exit $rc after $(( $(date +%s) - t0 )) s"
tar czf "$out.tar.gz" -C "$(dirname "$out")" "$(basename "$out")" || rc=5
exit $rc
