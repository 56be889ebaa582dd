"""The rl track's `sac-sb3` reference row: stable-baselines3's SAC on our dm_control wrapper, budget and scoring."""

import numpy as np
import pytest

pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")
pytest.importorskip("stable_baselines3", reason="the rl extra is not installed (tox -e py installs it)")


def test_the_gymnasium_adapter_passes_gymnasiums_env_checker():
    from gymnasium.utils.env_checker import check_env

    from tiltbench.baselines.sac_sb3 import gym_env

    env = gym_env("reacher-easy", 0)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset()
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    steps, truncated, terminated = 0, False, False
    while not (truncated or terminated):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
    assert (steps, truncated, terminated) == (1000, True, False)  # the time limit truncates, never terminates


def test_sb3_sac_runs_the_tracks_budget_and_is_scored_like_ours():
    from tiltbench.benchmarks.rl.tests import SUITES
    from tiltbench.benchmarks.rl.track import evaluate, make_task
    from tiltbench.registry import get_solver, solver_config

    solver = get_solver("rl", "sac-sb3")
    assert solver.role == "reference"
    task = make_task("cartpole-balance", {"steps": 1200, "random_steps": 400, "width": 32, "batch": 32,
                                          "eval_every": 500, "eval_episodes": 1, "final_episodes": 1}, 0)
    out = solver.fn(task, solver_config(solver, "smoke", {}), 0)
    scores = evaluate(task, out)
    expected = {"norm_return", "pass_all"} | {f"pass_{n}" for n in SUITES["cartpole-balance"].pass_fail_names}
    assert set(scores) == expected and 0.0 <= scores["norm_return"] <= 1.0
    assert [s for s, _ in out["curves"]["norm_return"]] == [500, 1000, 1200]
    assert out["metrics"]["env_steps_per_s"] > 0
    assert len(out["eval_features"][0]["pole_cos"]) == 1000
