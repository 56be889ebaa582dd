"""TdRL end to end on real dm_control segments where the answer is known: after one reward round on
point_mass-easy segments (the mass started at rest at random distances from the target), its
learned r(s, a) ranks clearly good segments (the mass on the target) above clearly bad ones (far
from it), and its round's rank correlation with the handcrafted reward is high."""

import numpy as np
import pytest
import torch

pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")

from tiltbench.benchmarks.rl.env import make_env  # noqa: E402
from tiltbench.benchmarks.rl.loop import Rollouts  # noqa: E402
from tiltbench.benchmarks.rl.sac import ReplayBuffer  # noqa: E402

L, N = 50, 60


def _segment(env, distance, rng):
    """One segment: the mass put at rest ``distance`` from the target (at the origin), zero force."""
    env.reset()
    angle = rng.uniform(0, 2 * np.pi)
    with env.physics.reset_context():
        env.physics.named.data.qpos["root_x"] = distance * np.cos(angle)
        env.physics.named.data.qpos["root_y"] = distance * np.sin(angle)
        env.physics.named.data.qvel[:] = 0.0
    obs = env.observation()
    out = []
    for _ in range(L):
        act = np.zeros(env.action_dim, np.float32)
        nxt, r, _, f = env.step(act)
        out.append((obs, act, r, nxt, f))
        obs = nxt
    return out


def _learned_segment_reward(net, seg):
    x = torch.as_tensor(np.array([np.concatenate([o, a]) for o, a, *_ in seg]), dtype=torch.float32)
    with torch.no_grad():
        return float(net(x).mean())


def test_tdrl_reward_ranks_good_real_segments_above_bad_ones():
    from tiltbench.benchmarks.rl.track import make_task
    from tiltbench.methods.tdrl import TdRLReward
    from tiltbench.registry import get_solver, solver_config

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    env = make_env("point_mass-easy", 0)
    task = make_task("point_mass-easy", dict(steps=N * L + L, random_steps=0), 0)
    cfg = solver_config(get_solver("rl", "tdrl"), "smoke",
                        {"return_batch": 16, "reward_epochs": 500, "reward_batch": 20, "pairs": 512})
    src = TdRLReward(task, cfg, env.obs_dim, env.action_dim, seed=0)
    roll = Rollouts(ReplayBuffer(env.obs_dim, env.action_dim, N * L), handcrafted=np.zeros(N * L, np.float32))
    t = 0
    # half near the target, where the handcrafted reward grades distance, half anywhere up to 0.3 m,
    # where it is about 0 (a Gaussian tail: 0.1 at twice the target's radius)
    for d in np.concatenate([rng.uniform(0.0, 0.045, N // 2), rng.uniform(0.0, 0.3, N - N // 2)]):
        for obs, act, r, nxt, f in _segment(env, d, rng):
            roll.buffer.add(obs, act, src.label(r), nxt, 0.0)
            roll.add_features(t, f, N * L)
            roll.handcrafted[t] = r
            t += 1
    src.reward_round(t, roll)
    assert src.rounds == 1 and src.curves["return_acc"][0][1] > 0.9
    assert src.curves["reward_rank_corr"][0][1] > 0.8, src.curves
    good = [_learned_segment_reward(src.reward_net, _segment(env, d, rng)) for d in (0.0, 0.003, 0.006, 0.01)]
    bad = [_learned_segment_reward(src.reward_net, _segment(env, d, rng)) for d in (0.2, 0.25, 0.28)]
    assert min(good) > max(bad), (good, bad)
