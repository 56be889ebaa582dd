"""The ot track's scaling study: task names with -n{N}, the memory-light Sinkhorn, cells that refuse
to start when they cannot fit, the report's scaling section and trend claims."""

import math
import uuid

import numpy as np
import ot
import pytest

from tiltbench.benchmarks.ot.manifest import SINKHORN_DEFAULTS
from conftest import tiltbench

from tiltbench import claims as claims_mod
from tiltbench import registry
from tiltbench.baselines.lp import lp
from tiltbench.baselines.sinkhorn import sinkhorn
from tiltbench.baselines.sinkhorn_online import lazy_plan_moments, sinkhorn_online
from tiltbench.benchmarks.ot.discrete import BUDGET_ENV, DoesNotFit, samples
from tiltbench.benchmarks.ot.track import make_task, plan_moments
from tiltbench.claims import Claim, Gate, SlopeBound
from tiltbench.errors import TiltbenchError
from tiltbench.profiles import get_profile
from tiltbench.runner import plan
from tiltbench.store import Store


def test_n_suffix_overrides_the_config_and_keeps_the_instance():
    assert make_task("gaussian-d2-lam4-n300", {"n": 1000}, 0).n == 300
    assert make_task("gaussian-d2-lam4", {"n": 1000}, 0).n == 1000
    a, b = make_task("gaussian-d2-lam4-n300", {}, 5), make_task("gaussian-d2-lam4", {}, 5)
    assert np.array_equal(a.cov_x, b.cov_x)
    registry.load_plugins()
    assert registry.get_track("ot").instance_name("gaussian-d16-lam32-n30000") == "gaussian-d16-lam32"
    cells = plan(get_profile("ot-scaling"), tracks=["ot"], methods=["floor"])
    assert len({c.task_seed for c in cells}) == 1 and len({c.seed for c in cells}) == len(cells)


@pytest.mark.parametrize("name, value", [("gaussian-d2-lam4-n1", "'1'"), ("gaussian-d2-lam4-n3e4", "'3e4'"),
                                         ("gaussian-d2-lam4-n", "''")])
def test_bad_n_names_the_value_and_the_form(name, value):
    with pytest.raises(ValueError, match=rf"bad sample size n = {value} in task .*-n{{N}} with an integer N >= 2"):
        make_task(name, {}, 0)


def test_online_sinkhorn_matches_the_dense_plan():
    cfg = {**SINKHORN_DEFAULTS["smoke"], "block_mb": 0.5, "max_n": 0}
    for name, tol in [("gaussian-d16-lam32-n500", 1e-6), ("gaussian-d2-lam4-n300", 2e-5)]:
        task = make_task(name, {}, 0)
        online, dense = sinkhorn_online(task, cfg, 1), sinkhorn(task, cfg, 1)
        scale = np.abs(dense["cov"]).max()
        assert np.abs(online["mean"] - dense["mean"]).max() < tol * scale
        assert np.abs(online["cov"] - dense["cov"]).max() < tol * scale
        assert online["metrics"]["converged"] == 1.0 and online["metrics"]["marginal_err"] < 1e-5


def test_block_moments_equal_the_moments_of_the_materialised_plan():
    task = make_task("gaussian-d3-lam2-n200", {}, 0)
    x, y = samples(task, 3)
    f, g = ot.bregman.empirical_sinkhorn(x, y, task.lam, isLazy=True, batchSize=50, numIterMax=200)
    P = np.exp(f[:, None] + g[None, :] - ot.dist(x, y) / task.lam)
    mean, cov = plan_moments(x, y, P)
    lazy_mean, lazy_cov, _ = lazy_plan_moments(x, y, f, g, task.lam, rows=37)
    np.testing.assert_allclose(lazy_mean, mean, rtol=0, atol=1e-10)
    np.testing.assert_allclose(lazy_cov, cov, rtol=0, atol=1e-10)


def test_a_cell_that_cannot_fit_refuses_with_the_estimate(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "0.001")
    task = make_task("gaussian-d2-lam4-n10000", {}, 0)
    with pytest.raises(DoesNotFit, match=r"lp at n = 10000 needs ~3.73 GB .*, 0.001 GB available"):
        lp(task, {"max_iter": 10}, 0)
    with pytest.raises(DoesNotFit, match=r"sinkhorn at n = 10000 needs ~3.35 GB"):
        sinkhorn(task, {**SINKHORN_DEFAULTS["smoke"], "max_iter": 10}, 0)
    with pytest.raises(DoesNotFit, match="above max_n = 5000"):
        sinkhorn_online(task, {"max_iter": 10, "tol": 1e-6, "block_mb": 1.0, "max_n": 5000}, 0)


def test_tiny_sweep_stores_refusals_and_renders_the_scaling_section(tmp_path, monkeypatch):
    # 0.003 GB: lp fits at n = 200 (40 B x 200^2 = 1.5 MB) and refuses n = 400 (6.1 MB)
    monkeypatch.setenv(BUDGET_ENV, "0.003")
    store = tmp_path / "s.duckdb"
    tiltbench("run", "--profile", "ot-scaling", "--track", "ot", "--no-progress", store=store, timeout=300, check=True)
    failed = Store(store).query("SELECT task, method, reason FROM failures")
    assert set(zip(failed.task, failed.method)) == {("gaussian-d2-lam4-n400", "lp")}
    assert all("needs ~0.00596 GB" in r and "0.003 GB available" in r for r in failed.reason)
    tiltbench("report", "--profile", "ot-scaling", "--track", "ot", "--out", tmp_path / "out", store=store, check=True)
    text = (tmp_path / "out" / "ot.md").read_text()
    section = text.split("## Scaling with n")[1].split("\n## ")[0]
    assert "### gaussian-d2-lam4" in section and "wall-time exponent" in section and "peak-memory exponent" in section
    assert "| lp | 400 | 2 | DoesNotFit: lp at n = 400 needs ~0.00596 GB" in section
    assert "| sinkhorn-online | 100–400 | 6 |" in section
    assert (tmp_path / "out" / "ot" / "scaling_gaussian-d2-lam4.png").stat().st_size > 1000
    # a board that names the sweep in report_with carries its verdicts and scaling section on its own page
    tiltbench("run", "--profile", "ot-board", "--track", "ot", "--no-progress", store=store, timeout=300, check=True)
    tiltbench("report", "--profile", "ot-board", "--track", "ot", "--out", tmp_path / "board", store=store, check=True)
    board = (tmp_path / "board" / "ot.md").read_text()
    beside = board.split("## Beside this board: profile `ot-scaling`")[1].split("\n## ")[0]
    assert "[../ot-scaling/ot.md](../ot-scaling/ot.md)" in beside
    assert "### Scaling with n" in beside and "#### gaussian-d2-lam4" in beside and "| lp | 400 | 2 | DoesNotFit" in beside
    # its plots go to a folder of their own: a file name the board's own section also writes is not replaced
    assert (tmp_path / "board" / "ot" / "ot-scaling" / "scaling_gaussian-d2-lam4.png").stat().st_size > 1000
    assert "](ot/ot-scaling/scaling_gaussian-d2-lam4.png)" in beside
    assert not (tmp_path / "board" / "ot" / "scaling_gaussian-d2-lam4.png").exists()


# ---------------------------------------------------------------------------- trend claims (toy track)
def _trend_store(path, rows):
    """rows: {task: [(wall_s, value) per rep]} of solver 'good' in profile 'p' of the toy track."""
    store = Store(path)
    for task, reps in rows.items():
        for rep, (wall, value) in enumerate(reps):
            run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"{task}/{rep}", "profile": "p", "track": "toy",
                   "task": task, "method": "good", "role": "method", "rep": rep, "seed": rep, "status": "ok",
                   "finished_at": "2026-01-01 00:00:00", "wall_s": wall}
            store.write_run(run, {"value": value, "noise": float(rep)}, {}, {"env_id": "test-env"})
    return store


def _trend(**kw):
    fields = dict(metric="wall_s", method="good", comparator="", relation="trend", across="n", slope_below=2.0,
                  also=(SlopeBound("value", 0.1),))
    return Claim(track="toy", id=f"t-{uuid.uuid4().hex[:6]}", statement="-", source="-", **{**fields, **kw})


def _sweep(wall_exponent, value_exponent, ns=(100, 1000, 10000)):
    rng = np.random.default_rng(0)
    return {f"const-1-n{n}": [(n ** wall_exponent * np.exp(0.05 * rng.standard_normal()),
                               n ** value_exponent * np.exp(0.05 * rng.standard_normal())) for _ in range(3)]
            for n in ns}


def test_trend_claim_supported_contradicted_and_not_judged(tmp_path):
    linear = _trend_store(tmp_path / "a.duckdb", _sweep(1.0, -0.5))
    [j] = claims_mod.judge(linear, "p", _trend())
    assert j.task == "const-1 (n = 100…10000)" and j.verdict == "supported" and j.n_seeds == 3  # levels of n
    assert j.effect.lo < 1.0 < j.effect.hi and "value slope" in j.detail
    degrading = _trend_store(tmp_path / "b.duckdb", _sweep(1.0, 0.5))  # time fine, the error grows
    assert claims_mod.judge(degrading, "p", _trend())[0].verdict == "contradicted"
    cubic = _trend_store(tmp_path / "c.duckdb", _sweep(3.0, -0.5))
    assert claims_mod.judge(cubic, "p", _trend())[0].verdict == "contradicted"
    two_n = _trend_store(tmp_path / "d.duckdb", _sweep(1.0, -0.5, ns=(100, 1000)))
    [j] = claims_mod.judge(two_n, "p", _trend())
    assert j.verdict == "not judged" and "2 value(s) of n stored; a trend needs 3" in j.reason
    gated = claims_mod.judge(linear, "p", _trend(gates=(Gate.at_most("good", "value", 1e-9),)))[0]
    assert gated.verdict == "not judged" and gated.reason.startswith("const-1-n100: ")
    # a failed gate withholds the verdict, not the statistic: the slope is shown as a paired claim shows its own
    ungated = claims_mod.judge(linear, "p", _trend())[0]
    assert gated.effect == ungated.effect and gated.n_seeds == 3 and gated.detail == ungated.detail
    assert math.isnan(gated.p) and gated.explained


def test_a_trend_claim_needs_a_parameter_and_a_bound():
    with pytest.raises(TiltbenchError, match="a 'trend' claim needs across = a parameter name"):
        claims_mod.register_claim(_trend(across=""))


def test_the_ot_scaling_claim_is_registered_and_valid():
    [claim] = [c for c in claims_mod.claims("ot") if c.id == "scones-scales"]
    assert claim.relation == "trend" and [(b.metric, b.below) for b in claim.bounds] == [
        ("wall_s", 2.0), ("sample_s", 1.2), ("bw_uvp", 0.1)]
