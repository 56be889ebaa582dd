"""The Ray executor on a local Ray instance: same outcomes as the local pool, driver-only writes."""

import dataclasses

import pytest

from tiltbench.profiles import get_profile
from tiltbench.runner import plan, sweep
from tiltbench.store import Store

ray = pytest.importorskip("ray", reason="the ray extra is not installed (tox -e py installs it)")


def _cells(**kw):
    """Toy cells with room for a fresh Ray worker's start-up (its timeout counts from submission)."""
    return [dataclasses.replace(c, timeout_s=180.0) for c in plan(get_profile("toy"), tracks=["toy"], **kw)]


@pytest.fixture(scope="module")
def ray_executor():
    from tiltbench.ray_executor import RayExecutor

    executor = RayExecutor(workers=2, threads=1)
    yield executor
    ray.shutdown()


def test_ray_runs_cells_and_failures_are_stored(store_path, ray_executor):
    cells = _cells(methods=["good", "boom", "die"], reps=1)
    summary = sweep(Store(store_path), cells, ray_executor, show_progress=False)
    assert (summary.ok, summary.failed) == (2, 4)
    failed = Store(store_path).query("SELECT method, reason FROM failures ORDER BY method")
    reasons = dict(zip(failed.method, failed.reason))
    assert "ValueError: boom: deliberate failure" in reasons["boom"]
    assert reasons["die"].startswith("Ray worker failed")
    env = Store(store_path).query("SELECT DISTINCT executor, workers FROM environments")
    assert env.executor.tolist() == ["ray"] and env.workers.tolist() == [2]


def test_ray_results_match_the_local_executor(tmp_path, ray_executor):
    from tiltbench.executors import LocalExecutor

    cells = _cells(methods=["good"])
    for name, executor in (("ray", ray_executor), ("local", LocalExecutor(2))):
        sweep(Store(tmp_path / f"{name}.duckdb"), cells, executor, show_progress=False)
    q = "SELECT r.content_key, m.name, m.value FROM runs r JOIN metrics m USING (run_id) ORDER BY 1, 2"
    assert Store(tmp_path / "ray.duckdb").query(q).equals(Store(tmp_path / "local.duckdb").query(q))


def test_ray_timeout_cancels_the_cell(store_path, ray_executor):
    cell = _cells(methods=["slow"], tasks=["const-1"], reps=1)[0]
    cell = dataclasses.replace(cell, config={"sleep_s": 600.0, "alloc_gb": 0.0}, timeout_s=30.0)
    summary = sweep(Store(store_path), [cell], ray_executor, show_progress=False)
    assert summary.failed == 1
    assert Store(store_path).query("SELECT reason FROM failures").reason[0] == "timeout: exceeded 30 s"
