"""The `rl` track: TdRL (reward from test functions) against SAC on dm_control's handcrafted rewards.

Both sides train the same SAC agent (benchmarks/rl/sac.py) in the same loop (benchmarks/rl/loop.py)
with the same budget (the track config); they differ only in where the reward comes from.  A solver hands back its final evaluation
episodes (handcrafted rewards and physical features per step); this module scores them, so no
solver grades itself:

- ``norm_return``: mean undiscounted handcrafted return of the evaluation episodes / 1000
  (dm_control episodes are 1000 steps with rewards in [0, 1], so 1 is the maximum; with an action
  repeat the return still sums all 1000 steps' rewards);
- ``pass_<test>``: share of evaluation segments (``segment_len`` steps) passing that pass-fail
  test of the task (benchmarks/rl/tests.py), ``pass_all`` passing all of them.

Aggregates across tasks and seeds (IQM, median, mean, optimality gap, probability of
improvement; Agarwal et al. 2021 via `rliable`) are drawn in the report (benchmarks/rl/report.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tiltbench.errors import unknown
from tiltbench.registry import check_type

from .env import TASKS
from .tests import SUITES


EPISODE_LEN = 1000  # dm_control's default time limit at its default control step


@dataclass(frozen=True)
class RLTask:
    """One dm_control task and the budget both sides share (set by the profile's track config)."""

    name: str
    steps: int = 50_000  # agent steps of training (each action_repeat dm_control steps)
    random_steps: int = 5_000  # uniform random actions before the policy acts
    # each action is held for this many dm_control steps, rewards summed (PlaNet's action repeat); an
    # episode is 1000 / action_repeat agent steps.  1: every dm_control step is an agent step
    action_repeat: int = 1
    width: int = 256  # hidden width of actor and critics (two hidden layers)
    batch: int = 256
    lr: float = 3e-4
    update_every: int = 1  # one SAC update every this many agent steps
    eval_every: int = 10_000  # agent steps between evaluations (learning curves)
    eval_episodes: int = 2  # deterministic episodes per evaluation during training
    final_episodes: int = 5  # deterministic episodes scored on the leaderboard
    segment_len: int = 50  # agent steps per trajectory segment seen by the tests

    @property
    def tests(self):
        return SUITES[self.name]

    @property
    def episode_len(self) -> int:
        """Agent steps per episode."""
        return EPISODE_LEN // self.action_repeat


def make_task(name: str, config: dict, seed: int) -> RLTask:
    if name not in TASKS:
        raise ValueError(f"unknown rl task {name!r}; valid: {', '.join(TASKS)}")
    known = {f.name: f for f in fields(RLTask) if f.name != "name"}
    kwargs = {}
    for key, value in config.items():
        if key in ("tasks", "reps", "solvers"):
            continue
        if key not in known:
            raise unknown("rl track config key", key, known)
        kwargs[key] = check_type(f"rl track config {key}", value, known[key].default)
    task = RLTask(name, **kwargs)
    if task.action_repeat < 1 or EPISODE_LEN % task.action_repeat:
        raise ValueError(f"action_repeat = {task.action_repeat} must be >= 1 and divide dm_control's episode "
                         f"length {EPISODE_LEN} (e.g. 1, 2, 4, 5, 8)")
    if task.episode_len % task.segment_len:
        raise ValueError(f"segment_len = {task.segment_len} must divide the episode length {task.episode_len} "
                         f"agent steps ({EPISODE_LEN} / action_repeat {task.action_repeat})")
    if not 0 <= task.random_steps < task.steps:
        raise ValueError(f"random_steps = {task.random_steps} must lie in [0, steps = {task.steps})")
    return task


def segments(episode: dict, segment_len: int) -> list[dict]:
    """Cut one episode's per-step feature arrays into consecutive segments of ``segment_len`` steps."""
    n = len(next(iter(episode.values())))
    return [{k: np.asarray(v[i:i + segment_len]) for k, v in episode.items()}
            for i in range(0, n - segment_len + 1, segment_len)]


def score_episodes(task: RLTask, returns: list[float], features: list[dict]) -> dict[str, float]:
    """norm_return and pass rates of the task's pass-fail tests over the episodes' segments."""
    if not returns:
        raise ValueError("no evaluation episodes to score")
    suite = task.tests
    passed = np.array([suite(seg)[0] for ep in features for seg in segments(ep, task.segment_len)])
    out = {"norm_return": float(np.mean(returns)) / EPISODE_LEN, "pass_all": float(passed.all(1).mean())}
    out.update({f"pass_{name}": float(passed[:, i].mean()) for i, name in enumerate(suite.pass_fail_names)})
    return out


def evaluate(task: RLTask, output: dict) -> dict:
    return score_episodes(task, output["eval_returns"], output["eval_features"])
