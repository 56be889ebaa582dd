"""The `rl` track: TdRL (reward from test functions) against SAC on dm_control's handcrafted rewards.

Both sides train the same SAC agent (benchmarks/rl/sac.py) in the same loop (benchmarks/rl/loop.py)
with the same budget (the track config); they differ only in where the reward comes from.  A solver hands back its final evaluation
episodes (handcrafted rewards and physical features per step); this module scores them, so no
solver grades itself:

- ``norm_return``: mean undiscounted handcrafted return of the evaluation episodes / 1000
  (dm_control episodes are 1000 steps with rewards in [0, 1], so 1 is the maximum);
- ``pass_<test>``: share of evaluation segments (``segment_len`` steps) passing that pass-fail
  test of the task (benchmarks/rl/tests.py), ``pass_all`` passing all of them.

Aggregates across tasks and seeds (IQM, median, mean, optimality gap, probability of
improvement; Agarwal et al. 2021 via `rliable`) are drawn in the report (benchmarks/rl/report.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tiltbench.errors import unknown
from tiltbench.registry import Metric, Track, check_type, register_track

from .env import TASKS
from .tests import SUITES

# the shared loop, agent, environment wrapper and tests shape every rl solver's results as much as
# its own file does, so they enter each cell's code version
DEPENDS = ("tiltbench.benchmarks.rl.loop", "tiltbench.benchmarks.rl.sac", "tiltbench.benchmarks.rl.env",
           "tiltbench.benchmarks.rl.tests")

EPISODE_LEN = 1000  # dm_control's default time limit at its default control step


@dataclass(frozen=True)
class RLTask:
    """One dm_control task and the budget both sides share (set by the profile's track config)."""

    name: str
    steps: int = 50_000  # environment steps of training
    random_steps: int = 5_000  # uniform random actions before the policy acts
    width: int = 256  # hidden width of actor and critics (two hidden layers)
    batch: int = 256
    lr: float = 3e-4
    update_every: int = 1  # one SAC update every this many environment steps
    eval_every: int = 10_000  # environment steps between evaluations (learning curves)
    eval_episodes: int = 2  # deterministic episodes per evaluation during training
    final_episodes: int = 5  # deterministic episodes scored on the leaderboard
    segment_len: int = 50  # steps per trajectory segment seen by the tests

    @property
    def tests(self):
        return SUITES[self.name]


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
    if EPISODE_LEN % task.segment_len:
        raise ValueError(f"segment_len = {task.segment_len} must divide the episode length {EPISODE_LEN}")
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


_TEST_NAMES = sorted({n for suite in SUITES.values() for n in suite.pass_fail_names})

register_track(Track(
    name="rl",
    description="dm_control continuous control: TdRL (reward learned from test functions only) vs SAC on the "
                "handcrafted reward, same SAC agent and budget",
    task_pattern="{domain}-{task}: " + ", ".join(TASKS),
    metrics=[
        Metric("norm_return", "", True, "handcrafted evaluation return / 1000 (mean of the final deterministic "
               "episodes)"),
        Metric("pass_all", "", True, "share of evaluation segments passing every pass-fail test of the task"),
        *[Metric(f"pass_{n}", "", True, f"share of evaluation segments passing the task's '{n}' test")
          for n in _TEST_NAMES],
        Metric("reward_corr", "", None, "TdRL: Spearman correlation of its learned reward with the handcrafted "
               "one over the replay buffer (computed after training; never used by TdRL)"),
        Metric("return_acc", "", None, "TdRL: agreement of the return network's ordering with the comparison "
               "labels of the last round"),
        Metric("reward_rounds", "", None, "TdRL: reward-learning rounds run"),
        Metric("anchor_stops", "", None, "TdRL: return-network steps skipped by the early-stop rule"),
        Metric("env_steps_per_s", "1/s", True, "environment steps per second of training (incl. updates)",
               kind="cost"),
        Metric("updates_per_s", "1/s", True, "SAC gradient updates per second of update time", kind="cost"),
        Metric("reward_s", "s", False, "TdRL: seconds spent learning the reward and relabelling", kind="cost"),
    ],
    primary="norm_return",
    make_task=make_task,
    evaluate=evaluate,
    pairs={"tdrl": ["sac-handcrafted"]},
    report_extras="tiltbench.benchmarks.rl.report:section",
))
