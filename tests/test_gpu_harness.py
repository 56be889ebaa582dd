"""The GPU-ready harness on a machine without a GPU: everything up to the CUDA calls.

Cells of a profile with GPUs get device "cuda"; the local executor hands each running cell one GPU
through CUDA_VISIBLE_DEVICES, ``cells_per_gpu`` at a time; a cuda cell on a machine without CUDA
fails with a reason instead of quietly computing on the CPU; the fingerprint and the store record
the GPU fields (schema v4), and older exports still import.
"""

import dataclasses
import time

import pytest

from tiltbench.errors import TiltbenchError
from tiltbench.executors import LocalExecutor, gpu_slots
from tiltbench.fingerprint import fingerprint
from tiltbench.profiles import get_profile, load_profiles
from tiltbench.runner import plan, sweep
from tiltbench.store import Store

BUDGET = "base_seed = 1\nworkers = 4\nthreads_per_worker = 1\ntimeout_s = 60\n"


def _profiles(tmp_path, extra: str, memory: float = 0.0):
    path = tmp_path / "profiles.toml"
    path.write_text(f"[g]\nsolver_defaults = 'toy'\n{BUDGET}memory_limit_gb = {memory}\n{extra}\n[g.tracks.toy]\ntasks = ['const-1', 'const-2', 'const-3']\nreps = 2\n")
    return path


def test_gpu_slots_name_each_gpu_cells_per_gpu_times():
    assert gpu_slots(2, 1) == ["0", "1"]
    assert gpu_slots(2, 3) == ["0", "1", "0", "1", "0", "1"]
    assert gpu_slots(2, 1, visible="4, 6,7") == ["4", "6"]
    with pytest.raises(TiltbenchError, match="asks for 3 GPU"):
        gpu_slots(3, 1, visible="0,1")


def test_a_profile_with_gpus_plans_cuda_cells_and_validates_cells_per_gpu(tmp_path):
    profiles = load_profiles(_profiles(tmp_path, "gpus = 1\ncells_per_gpu = 2\n"))
    cells = plan(profiles["g"], tracks=["toy"], methods=["gpuid"])
    assert {c.device for c in cells} == {"cuda"} and profiles["g"].cells_per_gpu == 2
    assert {c.device for c in plan(get_profile("toy"), tracks=["toy"], methods=["gpuid"])} == {"cpu"}
    for bad in ("0", "1.5", "'two'"):
        with pytest.raises(TiltbenchError, match=r"profile g\.cells_per_gpu .*expected an integer >= 1"):
            load_profiles(_profiles(tmp_path, f"gpus = 1\ncells_per_gpu = {bad}\n"))


def test_the_local_executor_hands_out_gpus_and_never_overbooks_one(store_path):
    cells = [dataclasses.replace(c, config={**c.config, "sleep_s": 0.4})
             for c in plan(get_profile("toy"), tracks=["toy"], methods=["gpuid"], reps=3)]  # 6 cpu cells
    executor = LocalExecutor(workers=8, gpus=2, cells_per_gpu=2)
    assert executor.workers == 4  # 2 GPUs x 2 cells each bound the concurrency
    summary = sweep(Store(store_path), cells, executor, show_progress=False)
    assert summary.ok == len(cells)
    runs = Store(store_path).query(
        "SELECT r.started_at, r.finished_at, m.value AS gpu FROM latest_runs r JOIN metrics m USING (run_id) "
        "WHERE m.name = 'value'")
    assert set(runs.gpu) <= {0.0, 1.0} and set(runs.gpu) == {0.0, 1.0}
    for gpu, group in runs.groupby("gpu"):  # at no instant more than 2 cells hold the same GPU
        for t in group.started_at:
            overlapping = ((group.started_at <= t) & (group.finished_at > t)).sum()
            assert overlapping <= 2, f"GPU {gpu} held by {overlapping} cells at once"
    on_cpu = Store(store_path).query("SELECT value FROM metrics WHERE name = 'on_cpu'").value
    assert (on_cpu == 1.0).all()  # the solver was told its cell's device (cpu here)


def test_a_cuda_cell_without_cuda_fails_with_a_reason_not_on_the_cpu(store_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cell, = plan(get_profile("toy"), tracks=["toy"], methods=["gpuid"], tasks=["const-1"], reps=1)
    t0 = time.monotonic()
    summary = sweep(Store(store_path), [dataclasses.replace(cell, device="cuda")], LocalExecutor(1),
                    show_progress=False)
    assert summary.failed == 1 and time.monotonic() - t0 < 60
    reason, = Store(store_path).query("SELECT reason FROM failures").reason
    assert "wants device 'cuda'" in reason and "torch sees no CUDA device" in reason


def test_the_fingerprint_and_store_record_the_gpu_fields(store_path):
    fp = fingerprint("local", 1)
    assert {"gpu_name", "gpu_mem_gb", "gpu_count", "gpu_driver", "cuda"} <= set(fp)
    cells = plan(get_profile("toy"), tracks=["toy"], methods=["slow"], tasks=["const-1"], reps=1)
    sweep(Store(store_path), cells, LocalExecutor(1), show_progress=False)
    env = Store(store_path).query("SELECT gpu_count, gpu_driver FROM environments")
    assert len(env) == 1 and env.gpu_count[0] == fp["gpu_count"]


def test_a_version_3_export_imports_into_the_current_store(tmp_path):
    """An export made before the GPU columns existed (schema v3) imports by column name: its
    environments get NULL gpu_count and gpu_driver."""
    import duckdb

    from tiltbench.store import MIGRATIONS

    old = duckdb.connect(str(tmp_path / "v3.duckdb"))
    old.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    for version, sql in enumerate(MIGRATIONS[:3], start=1):
        old.execute(sql)
        old.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    old.execute("INSERT INTO environments VALUES ('e3', 'cpu', 2, 24.0, '', 0.0, '', '3.11', 'linux', '{}', 'abc', "
                "false, 'local', 1)")
    old.execute("INSERT INTO runs VALUES ('r3', 'k3', 'p', 'toy', 'const-1', 'good', 'method', 0, 1, '{}', 'c', "
                "'ok', NULL, now(), now(), 1.0, 1.0, 1.0, 0.0, 'e3')")
    old.execute("INSERT INTO metrics VALUES ('r3', 'value', 1.5)")
    export = tmp_path / "export"
    export.mkdir()
    for table in ("environments", "runs", "metrics", "curves", "schema_version"):
        old.execute(f"COPY {table} TO '{export / (table + '.parquet')}' (FORMAT parquet)")
    old.close()
    store = Store(tmp_path / "new.duckdb")
    assert store.import_(export)["runs"] == 1
    env = store.query("SELECT gpu_count, gpu_driver FROM environments WHERE env_id = 'e3'")
    assert env.gpu_count.isna().all() and env.gpu_driver.isna().all()
    assert store.query("SELECT value FROM metrics JOIN latest_runs USING (run_id)").value.tolist() == [1.5]


def test_a_gpu_profile_refuses_an_address_space_cap(tmp_path):
    with pytest.raises(TiltbenchError, match=r"memory_limit_gb = 4.0: must be 0 when gpus > 0"):
        load_profiles(_profiles(tmp_path, "gpus = 1\n", memory=4.0))


def test_outside_a_git_checkout_the_commit_comes_from_the_environment(tmp_path, monkeypatch):
    """On a GPU machine the tree arrives without its history: device_check.sh passes the commit."""
    from tiltbench.fingerprint import git_state

    monkeypatch.delenv("TILTBENCH_GIT_COMMIT", raising=False)
    assert git_state(str(tmp_path)) == ("unknown", False)
    monkeypatch.setenv("TILTBENCH_GIT_COMMIT", "abc123-dirty")
    assert git_state(str(tmp_path)) == ("abc123", True)
