"""Every ot solver on a small real problem: finite metrics, and the expected ordering."""

import numpy as np
import pytest

from tiltbench import registry

TASK = "gaussian-d2-lam2"


@pytest.fixture(scope="module")
def results():
    track = registry.get_track("ot")
    task = track.make_task(TASK, {"n": 400}, seed=5)
    out = {}
    for solver in registry.solvers("ot"):
        config = registry.solver_config(solver, "smoke")
        if solver.name == "scones":
            config.update(steps=300, langevin_steps=150)
        output = solver.fn(task, config, 11)
        out[solver.name] = {**track.evaluate(task, output), **output.get("metrics", {})}
    return out


def test_all_metrics_finite(results):
    assert set(results) == {"scones", "sinkhorn", "sinkhorn-online", "barycentric", "lp", "floor", "independent"}
    for name, metrics in results.items():
        assert all(np.isfinite(v) for v in metrics.values()), name


def test_entropic_solvers_beat_the_independent_coupling(results):
    for name in ("scones", "sinkhorn", "floor"):
        assert results[name]["bw_uvp"] < results["independent"]["bw_uvp"] / 5, name


def test_scones_dual_did_not_collapse_on_an_easy_problem(results):
    assert 0.5 < results["scones"]["mean_h"] < 2 and results["scones"]["dual_collapsed"] == 0


def test_learned_target_score_runs():
    track = registry.get_track("ot")
    task = track.make_task(TASK, {"n": 300}, seed=5)
    cfg = registry.solver_config(registry.get_solver("ot", "scones"), "smoke",
                                 {"target_score": "learned", "steps": 100, "score_steps": 100, "langevin_steps": 50})
    metrics = track.evaluate(task, registry.get_solver("ot", "scones").fn(task, cfg, 1))
    assert np.isfinite(metrics["bw_uvp"])


def test_scones_rejects_an_unknown_target_score():
    track = registry.get_track("ot")
    task = track.make_task(TASK, {"n": 50}, seed=5)
    cfg = registry.solver_config(registry.get_solver("ot", "scones"), "smoke", {"target_score": "magic"})
    with pytest.raises(ValueError, match="'magic'; valid: auto, analytic, learned"):
        registry.get_solver("ot", "scones").fn(task, cfg, 1)


def test_every_solver_returns_conditionals_and_they_beat_independence(results):
    for name in ("scones", "sinkhorn", "floor"):
        assert results[name]["cbw_uvp"] < results["independent"]["cbw_uvp"] / 5, name
    assert results["scones"]["score_learned"] == 0  # "auto" on a Gaussian task: the analytic score


def test_evaluate_rejects_wrong_shapes():
    track = registry.get_track("ot")
    task = track.make_task(TASK, {"n": 50}, seed=5)
    with pytest.raises(ValueError, match="expected"):
        track.evaluate(task, {"mean": np.zeros(3), "cov": np.eye(3)})
    good = {"mean": np.zeros(4), "cov": np.eye(4)}
    with pytest.raises(ValueError, match="lacks 'cond_mean'"):
        track.evaluate(task, good)
    with pytest.raises(ValueError, match=r"cond_cov of shape \(8, 2\), expected \(8, 2, 2\)"):
        track.evaluate(task, {**good, "cond_mean": np.zeros((8, 2)), "cond_cov": np.zeros((8, 2))})
