"""The off-policy training loop both sides of the `rl` track share.

One SAC agent (benchmarks/rl/sac.py), one budget (benchmarks/rl/track.RLTask); the only thing that varies
is the *reward source*: an object deciding what reward each stored transition carries.

- ``label(env_reward)``: the reward stored for a new transition (the handcrafted source stores the
  environment's reward; TdRL stores nothing it could learn from and relabels later);
- ``update(t, rollouts)``: called after every agent step; may relabel ``rollouts.buffer.rew``;
- ``batch(batch, t)``: may rewrite a sampled batch's rewards (TdRL's exploration phase);
- ``curves`` / ``metrics``: what it wants stored besides the loop's own figures;
- ``snapshot`` (optional): ``(step, metric)``: after that many agent steps the loop scores the
  policy once more, on the final evaluation's episodes, and stores its ``norm_return`` as ``metric``
  (TdRL: the policy its exploration phase left, before any learned reward).

Evaluation episodes: the learning curve's evaluations during training play an environment of their own
(seed + 2); the final evaluation, a snapshot and the random row (baselines/random_policy.py) each play
the first ``final_episodes`` episodes of a fresh environment seeded seed + 1, so they are scored on the
same start states and their paired comparisons are paired by episode, not only by seed.

The loop returns the final evaluation episodes for the track to score (benchmarks/rl/track.py).
The agent computes on ``device`` (the cell's); dm_control, the replay buffer and the features the
tests read stay on the host.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tiltbench.benchmarks.rl.track import RLTask, score_episodes
from tiltbench.benchmarks.rl.env import make_env

from .sac import SAC, ReplayBuffer


@dataclass
class Rollouts:
    """Everything collected so far, aligned by step index: the replay buffer (observations,
    actions, stored rewards) and each step's physical features, which the tests read.

    The buffer holds the whole run (no overwriting), so steps [k L, (k+1) L) form segment k of
    one episode whenever L divides the episode length."""

    buffer: ReplayBuffer
    features: dict[str, np.ndarray] = field(default_factory=dict)
    # each step's handcrafted reward, for diagnostics only (TdRL logs how its learned reward ranks
    # segments against it; nothing that learns reads it)
    handcrafted: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.buffer.n

    def add_features(self, i: int, feats: dict[str, float], capacity: int) -> None:
        for k, v in feats.items():
            if k not in self.features:
                self.features[k] = np.zeros(capacity, np.float64)
            self.features[k][i] = v


class HandcraftedReward:
    """The baseline's reward source: the task's own dm_control reward, stored unchanged."""

    def __init__(self):
        self.curves: dict[str, list] = {}
        self.metrics: dict[str, float] = {}

    def label(self, env_reward: float) -> float:
        return env_reward

    def update(self, t: int, rollouts: Rollouts) -> None:
        pass

    def batch(self, batch: dict, t: int) -> dict:
        return batch


def run_episode(env, policy) -> tuple[float, dict[str, np.ndarray]]:
    """One episode with ``policy(obs) -> action``; its handcrafted return and per-step features."""
    obs, total, feats, done = env.reset(), 0.0, {}, False
    while not done:
        obs, reward, done, f = env.step(policy(obs))
        total += reward
        for k, v in f.items():
            feats.setdefault(k, []).append(v)
    return total, {k: np.asarray(v) for k, v in feats.items()}


def evaluate_policy(env, agent, episodes: int) -> tuple[list[float], list[dict]]:
    """``episodes`` episodes of ``agent.act(obs, deterministic=True)`` (the SAC agent, or the random
    reference policy); their handcrafted returns and per-step features."""
    out = [run_episode(env, lambda o: agent.act(o, deterministic=True)) for _ in range(episodes)]
    return [r for r, _ in out], [f for _, f in out]


def evaluate_at(env, agent, task: RLTask, episodes: int, step: int, curves: dict) -> tuple[list[float], list[dict]]:
    """``evaluate_policy`` at agent step ``step``: the episodes' returns and features, with their
    ``norm_return`` and ``pass_all`` appended to the learning ``curves``."""
    returns, feats = evaluate_policy(env, agent, episodes)
    scores = score_episodes(task, returns, feats)
    for key in ("norm_return", "pass_all"):
        curves[key].append((step, scores[key]))
    return returns, feats


def train(task: RLTask, seed: int, source, progress: bool = False, device: str = "cpu") -> dict:
    """Train SAC on ``task`` with rewards from ``source``; return the final evaluation episodes,
    learning curves and timings for the track to score and the store to keep.  The agent and its
    batches live on ``device``; a source with networks of its own is built on the same device."""
    rng = np.random.default_rng(seed)
    env, curve_env = make_env(task.name, seed, task.action_repeat), make_env(task.name, seed + 2, task.action_repeat)
    agent = SAC(env.obs_dim, env.action_dim, width=task.width, lr=task.lr, device=device)
    true_reward = np.zeros(task.steps, np.float32)  # kept for diagnostics only
    rollouts = Rollouts(ReplayBuffer(env.obs_dim, env.action_dim, task.steps), handcrafted=true_reward)
    curves = {"norm_return": [], "pass_all": []}
    update_s = reward_s = 0.0
    updates = 0
    snapshot, snapshot_scores = getattr(source, "snapshot", None), {}
    t_start = time.perf_counter()
    obs = env.reset()
    for t in range(task.steps):
        if t < task.random_steps:
            action = rng.uniform(-1.0, 1.0, env.action_dim).astype(np.float32)
        else:
            action = agent.act(obs)
        next_obs, reward, done, feats = env.step(action)
        if done and (t + 1) % task.episode_len:
            raise RuntimeError(f"episode ended after {(t + 1) % task.episode_len} steps; segments assume "
                               f"{task.episode_len}")
        true_reward[t] = reward
        rollouts.add_features(t, feats, task.steps)
        # dm_control episodes end only by the time limit: not a terminal state, so done = 0.
        rollouts.buffer.add(obs, action, source.label(reward), next_obs, 0.0)
        obs = env.reset() if done else next_obs

        t0 = time.perf_counter()
        source.update(t, rollouts)
        reward_s += time.perf_counter() - t0
        if t >= task.random_steps and t % task.update_every == 0:
            t0 = time.perf_counter()
            agent.update(source.batch(rollouts.buffer.sample(task.batch, rng, agent.device), t))
            update_s += time.perf_counter() - t0
            updates += 1
        if snapshot and t + 1 == snapshot[0]:
            returns, feats_ep = evaluate_policy(make_env(task.name, seed + 1, task.action_repeat), agent,
                                                task.final_episodes)
            snapshot_scores[snapshot[1]] = score_episodes(task, returns, feats_ep)["norm_return"]
        if (t + 1) % task.eval_every == 0 and t + 1 < task.steps:
            evaluate_at(curve_env, agent, task, task.eval_episodes, t + 1, curves)
            if progress:
                print(f"[{task.name}] step {t + 1}: norm_return {curves['norm_return'][-1][1]:.3f}", flush=True)
    train_s = time.perf_counter() - t_start
    final_env = make_env(task.name, seed + 1, task.action_repeat)  # the start states the snapshot and random row see
    returns, feats_ep = evaluate_at(final_env, agent, task, task.final_episodes, task.steps, curves)
    metrics = {"env_steps_per_s": task.steps / train_s, "updates_per_s": updates / max(update_s, 1e-9),
               **snapshot_scores, **source.metrics}
    if hasattr(source, "diagnose"):
        metrics.update(source.diagnose(rollouts, true_reward))
        metrics["reward_s"] = reward_s
    return {"eval_returns": returns, "eval_features": feats_ep, "curves": {**curves, **source.curves},
            "metrics": metrics}
