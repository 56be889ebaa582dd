"""Reference row of the `rl` track: the uniformly random policy, scored like every solver.

Actions are drawn uniformly from [-1, 1]^d (the range the SAC agent's tanh squashes into), on the
same evaluation environment (seed + 1), with the same number of final episodes and the same
scoring (benchmarks/rl/track.py) as SAC and TdRL.  It sets the floor a learning agent must beat.
That floor is not always near 0: measured here on 2026-11-27 (5 episodes, seed 0, action repeat 1), the
random policy scores 0.32 on cartpole-balance (the smooth reward pays a pole that starts upright while it falls) and
at most 0.03 on ball_in_cup-catch, reacher-easy, point_mass-easy, finger-spin, cartpole-swingup and
walker-walk.  So the claims gate on beating this row, not on a fixed number alone.
"""

from __future__ import annotations

import time

import numpy as np

from tiltbench.benchmarks.rl.env import make_env
from tiltbench.benchmarks.rl.loop import evaluate_policy
from tiltbench.benchmarks.rl.track import RLTask


class RandomPolicy:
    """``act`` draws a uniform action in [-1, 1]^d from its own seeded generator, whatever
    ``deterministic`` says (there is no mode to take)."""

    def __init__(self, action_dim: int, seed: int):
        self.action_dim, self.rng = action_dim, np.random.default_rng(seed)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)


def random_policy(task: RLTask, config: dict, seed: int) -> dict:
    """Uniformly random actions, evaluated like SAC's final policy (no training)."""
    from tiltbench.benchmarks.rl.track import score_episodes

    eval_env = make_env(task.name, seed + 1, task.action_repeat)  # SAC's evaluation environment (benchmarks/rl/loop.py)
    t0 = time.perf_counter()
    returns, feats = evaluate_policy(eval_env, RandomPolicy(eval_env.action_dim, seed), task.final_episodes)
    scores = score_episodes(task, returns, feats)
    steps = task.final_episodes * len(next(iter(feats[0].values())))
    return {"eval_returns": returns, "eval_features": feats,
            "curves": {"norm_return": [(0, scores["norm_return"])], "pass_all": [(0, scores["pass_all"])]},
            "metrics": {"env_steps_per_s": steps / (time.perf_counter() - t0)}}
