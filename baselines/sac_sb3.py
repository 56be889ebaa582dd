"""Reference row of the `rl` track: stable-baselines3's SAC, an implementation nobody here wrote.

It shows whether our SAC (benchmarks/rl/sac.py, which both `sac-handcrafted` and TdRL train) is handicapped:
same task, same environment wrapper (benchmarks/rl/env.py, seen through a gymnasium adapter), same budget
(environment steps, uniformly random steps first, width, batch, learning rate, one update per
``update_every`` steps, gamma 0.99, tau 0.005, automatic temperature with target entropy -|A|), same
evaluation environments (curves on seed + 2, the final episodes on a fresh seed + 1), evaluation
schedule and final deterministic episodes, scored by the same code (benchmarks/rl/track.py).

What differs is SB3's own: its actor's log-std is clipped to [-20, 2] and its initialisation and
optimiser defaults are its own.  dm_control episodes end only by their time limit, which the adapter
reports as a truncation, not a terminal state, so SB3 bootstraps through it as our loop does.
"""

from __future__ import annotations

import time

import numpy as np

from tiltbench.benchmarks.rl.env import make_env
from tiltbench.benchmarks.rl.loop import evaluate_at
from tiltbench.benchmarks.rl.track import RLTask


def gym_env(task: str, seed: int, action_repeat: int = 1):
    """Our dm_control wrapper as a gymnasium.Env (flat float32 observations, actions in [-1, 1])."""
    import gymnasium as gym

    class DMCGym(gym.Env):
        def __init__(self):
            self.env = make_env(task, seed, action_repeat)
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.env.obs_dim,), np.float32)
            self.action_space = gym.spaces.Box(-1.0, 1.0, (self.env.action_dim,), np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            if seed is not None:  # a seeded reset starts the task's random stream over (gymnasium's contract)
                self.env = make_env(task, seed, action_repeat)
            return self.env.reset(), {}

        def step(self, action):
            obs, reward, done, _ = self.env.step(action)
            return obs, reward, False, done, {}  # the time limit truncates; nothing terminates

    return DMCGym()


class _Policy:
    """The trained SB3 model behind the ``act`` interface the track's evaluation calls."""

    def __init__(self, model):
        self.model = model

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]


def sac_sb3(task: RLTask, config: dict, seed: int) -> dict:
    """stable-baselines3 SAC on the task's handcrafted reward, with the track's budget and evaluation."""
    try:
        from stable_baselines3 import SAC
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError as exc:
        raise RuntimeError(f"sac-sb3 needs stable-baselines3 (pip install 'tiltbench[rl]'); import failed: {exc}") \
            from None

    curve_env = make_env(task.name, seed + 2, task.action_repeat)  # as benchmarks/rl/loop.py: curves on their own
    curves = {"norm_return": [], "pass_all": []}

    class Evaluate(BaseCallback):
        """Every ``eval_every`` environment steps (before the last), the deterministic evaluation episodes."""

        def _on_step(self) -> bool:
            t = self.num_timesteps
            if t % task.eval_every == 0 and t < task.steps:
                evaluate_at(curve_env, _Policy(self.model), task, task.eval_episodes, t, curves)
            return True

    model = SAC("MlpPolicy", gym_env(task.name, seed, task.action_repeat), learning_rate=task.lr,
                buffer_size=task.steps, learning_starts=task.random_steps, batch_size=task.batch, tau=0.005, gamma=0.99,
                train_freq=task.update_every, gradient_steps=1, ent_coef="auto", target_entropy="auto",
                policy_kwargs={"net_arch": [task.width, task.width]}, seed=seed,
                device=config.get("device", "cpu"), verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=task.steps, callback=Evaluate(), progress_bar=False)
    train_s = time.perf_counter() - t0
    final_env = make_env(task.name, seed + 1, task.action_repeat)  # the final evaluation's start states
    returns, feats = evaluate_at(final_env, _Policy(model), task, task.final_episodes, task.steps, curves)
    return {"eval_returns": returns, "eval_features": feats, "curves": curves,
            "metrics": {"env_steps_per_s": task.steps / train_s}}
