"""The rl track's random-policy reference row: evaluated and scored by the same code as SAC."""

import numpy as np
import pytest

pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")


def _run(task_name, seed, episodes=2):
    from tiltbench.benchmarks.rl.track import evaluate, make_task
    from tiltbench.registry import get_solver, solver_config

    s = get_solver("rl", "random")
    assert s.role == "reference"
    task = make_task(task_name, {"final_episodes": episodes}, seed)
    out = s.fn(task, solver_config(s, "cpu", {}), seed)
    return out, evaluate(task, out)


def test_random_row_reports_the_metrics_sac_reports():
    from tiltbench.benchmarks.rl.tests import SUITES

    out, scores = _run("point_mass-easy", 3)
    expected = {"norm_return", "pass_all"} | {f"pass_{n}" for n in SUITES["point_mass-easy"].pass_fail_names}
    assert set(scores) == expected
    assert len(out["eval_returns"]) == 2 and all(len(f["mass_dist"]) == 1000 for f in out["eval_features"])
    assert scores["norm_return"] < 0.1 and scores["pass_all"] == 0.0  # a random mass rarely sits on the target


def test_random_row_is_reproducible_and_varies_with_the_seed():
    a, _ = _run("cartpole-balance", 0, 1)
    b, _ = _run("cartpole-balance", 0, 1)
    c, _ = _run("cartpole-balance", 1, 1)
    assert a["eval_returns"] == b["eval_returns"] and a["eval_returns"] != c["eval_returns"]
    # a random cart lets the upright-started pole fall: far below a balancing agent's ~1000
    assert 0.0 < a["eval_returns"][0] < 600.0


def test_random_policy_acts_uniformly_in_the_action_box():
    from tiltbench.baselines.random_policy import RandomPolicy

    acts = np.array([RandomPolicy(2, 0).act(np.zeros(3))] + [RandomPolicy(2, 0).act(None, True)])
    assert np.all(acts[0] == acts[1])  # same seed, same draw, deterministic flag or not
    pol = RandomPolicy(3, 7)
    draws = np.array([pol.act(None) for _ in range(4000)])
    assert draws.shape == (4000, 3) and draws.min() >= -1 and draws.max() <= 1
    assert np.all(np.abs(draws.mean(0)) < 0.05) and np.all(np.abs(draws.std(0) - 1 / np.sqrt(3)) < 0.02)
