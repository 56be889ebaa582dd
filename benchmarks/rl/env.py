"""dm_control environments for the `rl` track, with the physical features TdRL's tests read.

``make_env("walker-walk", seed)`` returns an environment whose ``step`` gives the flat observation,
the task's own (handcrafted) reward, and a dict of features (see benchmarks/rl/tests.py) that
the test functions consume.  Real MuJoCo physics through dm_control; no rendering is needed.

``make_env(task, seed, action_repeat=k)`` holds each action for k dm_control steps and returns their
summed reward and the features of the last one: the action repeat of the PlaNet benchmark (Hafner et
al. 2019), used by DrQ, CURL and SAC-AE on these tasks.  An episode is then 1000 / k agent steps and
its return is still the sum of all 1000 dm_control rewards.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("MUJOCO_GL", "disable")  # physics only; set MUJOCO_GL=egl to render frames

TASKS = ("cartpole-swingup", "walker-walk", "cheetah-run", "walker-stand", "walker-run",
         # fast-learning tasks (a competent SAC solves them within the cpu profile's budget)
         "cartpole-balance", "ball_in_cup-catch", "reacher-easy", "point_mass-easy", "finger-spin")


def _features(domain: str, physics, action: np.ndarray) -> dict[str, float]:
    """Physical quantities of the state after a step (and the action taken), read from dm_control's
    physics; never the reward.  The tests of benchmarks/rl/tests.py read them."""
    if domain == "walker":
        return {"torso_height": float(physics.torso_height()), "torso_upright": float(physics.torso_upright()),
                "x_velocity": float(physics.horizontal_velocity())}
    if domain == "cheetah":
        return {"x_velocity": float(physics.speed())}
    if domain == "cartpole":
        return {"pole_cos": float(np.asarray(physics.pole_angle_cosine()).ravel()[0]),
                "cart_position": float(physics.cart_position()), "control": float(np.asarray(action).ravel()[0]),
                "pole_angvel": float(np.asarray(physics.angular_vel()).ravel()[0])}
    if domain == "ball_in_cup":
        dx, dz = np.asarray(physics.ball_to_target(), dtype=float)  # cup's target site minus ball centre (x, z)
        return {"ball_dx": float(dx), "ball_dz": float(dz)}
    if domain == "reacher":
        return {"finger_dist": float(physics.finger_to_target_dist())}  # centre to centre, metres
    if domain == "point_mass":
        return {"mass_dist": float(physics.mass_to_target_dist()),
                "control_sq": float(np.mean(np.square(np.asarray(action, dtype=float))))}
    if domain == "finger":
        return {"hinge_velocity": float(physics.hinge_velocity())}  # the spinner's angular velocity, rad/s
    raise ValueError(f"no features for domain {domain!r}")


class DMCEnv:
    """A dm_control task with flat float32 observations and actions in [-1, 1]."""

    def __init__(self, task: str, seed: int, action_repeat: int = 1):
        if task not in TASKS:
            raise ValueError(f"unknown rl task {task!r}; valid: {', '.join(TASKS)}")
        if not (isinstance(action_repeat, int) and action_repeat >= 1):
            raise ValueError(f"action_repeat = {action_repeat!r}: must be an integer >= 1")
        self.action_repeat = action_repeat
        from dm_control import suite

        self.task = task
        self.domain, name = task.split("-", 1)
        self._env = suite.load(self.domain, name, task_kwargs={"random": seed})
        spec = self._env.action_spec()
        self.action_dim = int(np.prod(spec.shape))
        self._low, self._high = spec.minimum, spec.maximum
        self.obs_dim = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())

    @staticmethod
    def _flat(observation) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in observation.values()])

    @property
    def physics(self):
        """dm_control's physics of this environment (tests set states through it)."""
        return self._env.physics

    def observation(self) -> np.ndarray:
        """The flat observation of the current physics state (after a test has set it)."""
        return self._flat(self._env.task.get_observation(self._env.physics))

    def reset(self) -> np.ndarray:
        return self._flat(self._env.reset().observation)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict]:
        """Returns (observation, handcrafted reward, episode over, features of the new state); with an
        action repeat, the reward summed over the repeated steps and the state after the last."""
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        scaled = self._low + (action + 1.0) * 0.5 * (self._high - self._low)
        reward = 0.0
        for _ in range(self.action_repeat):
            ts = self._env.step(scaled)
            reward += float(ts.reward or 0.0)
            if ts.last():
                break
        return self._flat(ts.observation), reward, ts.last(), _features(self.domain, self._env.physics, action)


def make_env(task: str, seed: int, action_repeat: int = 1) -> DMCEnv:
    return DMCEnv(task, seed, action_repeat)
