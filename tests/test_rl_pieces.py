"""The rl track's building blocks: the shared SAC agent and the dm_control wrapper (real physics)."""

import numpy as np
import pytest
import torch

from tiltbench.benchmarks.rl.sac import SAC, Actor, ReplayBuffer
from tiltbench.benchmarks.rl.tests import SUITES


def test_tanh_gaussian_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    actor = Actor(3, 2, 16)
    obs = torch.randn(5, 3)
    torch.manual_seed(1)
    action, logp = actor(obs)
    mu, log_std = actor.net(obs).chunk(2, dim=-1)
    log_std = Actor.LOG_STD_MIN + 0.5 * (Actor.LOG_STD_MAX - Actor.LOG_STD_MIN) * (torch.tanh(log_std) + 1)
    dist = torch.distributions.TransformedDistribution(torch.distributions.Normal(mu, log_std.exp()),
                                                       [torch.distributions.TanhTransform(cache_size=1)])
    torch.testing.assert_close(logp, dist.log_prob(action).sum(-1), atol=1e-3, rtol=1e-3)


def _reach_episode(agent, rng, deterministic):
    x, total = rng.uniform(-1, 1), 0.0
    for _ in range(20):
        a = agent(np.array([x], np.float32)) if deterministic else rng.uniform(-1, 1, 1)
        x = float(np.clip(x + 0.2 * a[0], -1, 1))
        total += -abs(x - 0.5)
    return total


def test_sac_learns_a_tiny_task():
    """1-D reach: move x towards 0.5.  A few hundred updates beat the random policy clearly."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    agent = SAC(1, 1, width=64, lr=1e-3, gamma=0.9)
    buf = ReplayBuffer(1, 1, 10_000)
    x = 0.0
    for step in range(1000):
        a = rng.uniform(-1, 1, 1) if step < 200 else agent.act(np.array([x], np.float32))
        nx = float(np.clip(x + 0.2 * a[0], -1, 1))
        buf.add([x], a, -abs(nx - 0.5), [nx], 0.0)
        x = nx if step % 20 else rng.uniform(-1, 1)
        if step >= 200:
            losses = agent.update(buf.sample(128, rng))
    assert all(np.isfinite(v) for v in losses.values())
    random_return = np.mean([_reach_episode(None, rng, False) for _ in range(50)])
    learned = np.mean([_reach_episode(lambda o: agent.act(o, deterministic=True), rng, True) for _ in range(50)])
    assert learned > random_return + 3.0, (learned, random_return)


def test_replay_rewards_can_be_relabelled():
    buf = ReplayBuffer(2, 1, 4)
    for i in range(6):  # wraps around
        buf.add([i, i], [0.0], float(i), [i, i], 0.0)
    assert buf.n == 4 and sorted(buf.rew.tolist()) == [2.0, 3.0, 4.0, 5.0]
    buf.rew[: buf.n] = -1.0
    assert (buf.sample(8, np.random.default_rng(0))["rew"] == -1.0).all()


@pytest.mark.parametrize("task", ["cartpole-swingup", "walker-walk", "cheetah-run", "cartpole-balance",
                                  "ball_in_cup-catch", "reacher-easy", "point_mass-easy", "finger-spin"])
def test_dm_control_env_gives_what_the_tests_need(task):
    pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")
    from tiltbench.benchmarks.rl.env import make_env

    env = make_env(task, seed=0)
    obs = env.reset()
    assert obs.shape == (env.obs_dim,) and obs.dtype == np.float32
    segment, rewards = {}, []
    for _ in range(30):
        obs, reward, done, feats = env.step(np.random.default_rng(0).uniform(-1, 1, env.action_dim))
        rewards.append(reward)
        for k, v in feats.items():
            segment.setdefault(k, []).append(v)
    assert all(0.0 <= r <= 1.0 for r in rewards)  # dm_control rewards live in [0, 1]
    z_pf, z_ind = SUITES[task]({k: np.array(v) for k, v in segment.items()})
    assert z_pf.dtype == bool and np.isfinite(z_ind).all()


def test_unknown_rl_task_names_the_valid_ones():
    pytest.importorskip("dm_control")
    from tiltbench.benchmarks.rl.env import make_env

    with pytest.raises(ValueError, match="unknown rl task 'walker-fly'; valid: cartpole-swingup"):
        make_env("walker-fly", 0)
