"""Test setup: the toy plugin track and the test profiles are visible to every process.

Set at import time (before any worker's forkserver starts), so worker processes inherit them.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
os.environ["TILTBENCH_PLUGINS"] = "toy_track"
os.environ["TILTBENCH_PROFILES"] = str(HERE / "profiles.toml")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "plugins"), os.environ.get("PYTHONPATH")]))
sys.path.insert(0, str(HERE / "plugins"))
# Tests that call a track's code in this process run torch as cells do: eagerly (tiltbench.worker.EAGER_ENV)
from tiltbench.worker import eager_torch  # noqa: E402  (imports no torch)

eager_torch()

# Tests use small tensors: one torch thread avoids oversubscribing the 2 cores (worker processes
# pin their own thread counts from the profile).
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "store.duckdb"


def tiltbench(*args, store=None, timeout=300, check=False):
    """Run the real `tiltbench` command in a subprocess; returns CompletedProcess."""
    cmd = [sys.executable, "-m", "tiltbench.cli", *map(str, args)]
    if store is not None:
        cmd += ["--store", str(store)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def profile_header(name: str, description: str, solver_defaults: str, timeout_s: int = 60) -> str:
    """The budget lines of a one-worker test profile ``[name]`` in TOML; its track tables follow."""
    return (f'[{name}]\ndescription = "{description}"\nbase_seed = 1\nworkers = 1\nthreads_per_worker = 1\n'
            f'timeout_s = {timeout_s}\nmemory_limit_gb = 0\ngpus = 0\nsolver_defaults = "{solver_defaults}"\n')


# what cells printed to the terminal before the workers silenced it (tqdm bars, vLLM and torch notices)
THIRD_PARTY_NOISE = ("it/s]", "s/it]", "Loading weights", "Triton is installed", "Warning: NUMA binding",
                     "INFO ", "WARNING ")


def run_smoke_profile(track: str, tmp_path, monkeypatch, timeout: int) -> str:
    """The packaged smoke profile's cells of ``track`` through the real CLI into a real DuckDB file,
    then its report; returns the rendered markdown (plots land in tmp_path/out/<track>/)."""
    from tiltbench.profiles import DEFAULT_FILE

    monkeypatch.setenv("TILTBENCH_PROFILES", str(DEFAULT_FILE))
    store = tmp_path / "store.duckdb"
    run = tiltbench("run", "--profile", "smoke", "--track", track, "--strict", "--no-progress", store=store,
                    timeout=timeout, check=True)
    # the driver's lines only: no third-party progress bar or notice leaks through a cell's stderr
    noise = [line for line in run.stderr.splitlines() if any(m in line for m in THIRD_PARTY_NOISE)]
    assert not noise, noise
    tiltbench("report", "--profile", "smoke", "--track", track, "--out", tmp_path / "out", store=store, check=True)
    return (tmp_path / "out" / f"{track}.md").read_text()
