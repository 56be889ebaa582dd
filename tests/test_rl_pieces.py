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


def test_action_repeat_holds_the_action_and_sums_every_dm_control_reward():
    """An agent step of action_repeat k is k dm_control steps with that action: the same rewards (summed)
    and the same final state as stepping k times by hand; an episode is 1000 / k agent steps."""
    pytest.importorskip("dm_control")
    from tiltbench.benchmarks.rl.env import make_env

    actions = np.random.default_rng(3).uniform(-1, 1, (250, 2))
    repeated, plain = make_env("reacher-easy", 4, action_repeat=4), make_env("reacher-easy", 4)
    repeated.reset(), plain.reset()
    total_r, total_p, steps, done = 0.0, 0.0, 0, False
    while not done:
        obs_r, r, done, feats = repeated.step(actions[steps])
        total_r += r
        for _ in range(4):
            obs_p, p, done_p, feats_p = plain.step(actions[steps])
            total_p += p
        steps += 1
        np.testing.assert_allclose(obs_r, obs_p)
        assert feats["finger_dist"] == feats_p["finger_dist"]
        assert done == done_p
    assert steps == 250 and total_r == pytest.approx(total_p) and total_p > 0  # the random arm touched the target


def test_action_repeat_must_divide_the_episode_and_leave_whole_segments():
    from tiltbench.benchmarks.rl.track import make_task

    assert make_task("reacher-easy", {"action_repeat": 4}, 0).episode_len == 250
    with pytest.raises(ValueError, match=r"action_repeat = 3 must be >= 1 and divide dm_control's episode length 1000"):
        make_task("reacher-easy", {"action_repeat": 3}, 0)
    with pytest.raises(ValueError, match=r"segment_len = 50 must divide the episode length 125 agent steps"):
        make_task("reacher-easy", {"action_repeat": 8}, 0)


def test_the_training_loop_runs_whole_episodes_at_an_action_repeat():
    """Two 250-step episodes of reacher at action repeat 4 (500 agent steps, 2000 dm_control steps); the
    evaluation episodes are 250 agent steps too and their returns sum every dm_control reward."""
    pytest.importorskip("dm_control")
    from tiltbench.benchmarks.rl.loop import HandcraftedReward, train
    from tiltbench.benchmarks.rl.track import make_task

    task = make_task("reacher-easy", {"steps": 500, "random_steps": 400, "batch": 32, "width": 16,
                                      "eval_every": 250, "final_episodes": 1, "action_repeat": 4}, 0)
    out = train(task, 0, HandcraftedReward())
    assert [step for step, _ in out["curves"]["norm_return"]] == [250, 500]
    assert len(out["eval_features"][0]["finger_dist"]) == 250 and 0 <= out["eval_returns"][0] <= 1000


def test_final_evaluation_plays_the_first_episodes_of_a_fresh_environment(monkeypatch):
    """The learning curve's evaluations play their own environment (seed + 2), so the final evaluation
    starts from the same states as the random row and TdRL's snapshot: episodes 1..final_episodes of a
    fresh seed + 1 environment."""
    pytest.importorskip("dm_control")
    from tiltbench.benchmarks.rl import loop
    from tiltbench.benchmarks.rl.track import make_task

    made = []

    def counting_env(name, seed, action_repeat=1):
        env = make_env_real(name, seed, action_repeat)
        env.resets, reset = 0, env.reset

        def counted():
            env.resets += 1
            return reset()
        env.reset = counted
        made.append((seed, env))
        return env

    make_env_real = loop.make_env
    monkeypatch.setattr(loop, "make_env", counting_env)
    task = make_task("reacher-easy", {"steps": 500, "random_steps": 400, "batch": 32, "width": 16, "eval_every": 250,
                                      "eval_episodes": 2, "final_episodes": 2, "action_repeat": 4}, 3)
    loop.train(task, 3, loop.HandcraftedReward())
    seeds = [seed for seed, _ in made]
    assert seeds == [3, 5, 4]  # training, learning-curve, final evaluation
    assert made[1][1].resets == 2 and made[2][1].resets == 2  # the curve's one evaluation; the final two
