"""TdRL's learned pieces: the return network ranks a known order, the reward network relabels the
buffer, the exploration reward, and both solvers end to end on real dm_control physics."""

import numpy as np
import pytest
import torch

from tiltbench.benchmarks.rl.sac import ReplayBuffer
from tiltbench.methods.tdrl import (ReturnEnsemble, RewardEnsemble, RunningTestStats, compare, compare_many, fit_reward,
                                   relabel, state_entropy_reward, train_return_round)

CFG = dict(return_steps=300, return_batch=128, return_lr=3e-3, anchor="early-stop", anchor_ratio=10.0,
           reward_epochs=40, reward_batch=8)


def _ranked_segments(n=200, seed=0):
    """Two indicative tests; test 0 is strongly skewed (exponential), so the comparison consults it
    first whenever neither segment dominates: the labels order segments by z_0."""
    rng = np.random.default_rng(seed)
    z = np.stack([rng.exponential(1.0, n), rng.standard_normal(n)], 1)
    return z, z[:, 0]


def _labels(z, rng, m=600):
    pf = np.zeros((len(z), 1), bool)
    hist = RunningTestStats.from_results(pf, z)
    pairs = rng.integers(0, len(z), (m, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return pairs, np.array([compare(pf[i], z[i], pf[j], z[j], hist) for i, j in pairs])


@pytest.mark.parametrize("anchor", ["early-stop", "skip", "balance"])
def test_return_network_recovers_a_known_order(anchor):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    z, quality = _ranked_segments()
    pairs, mu = _labels(z, rng)
    net = ReturnEnsemble(2, members=3, width=32)
    cfg = dict(CFG, anchor=anchor)
    first = train_return_round(net, z, pairs, mu, cfg, rng, anchored=False)
    second = train_return_round(net, z, pairs, mu, cfg, rng, anchored=True)  # anchored round runs too
    with torch.no_grad():
        r = net(torch.as_tensor(z, dtype=torch.float32)).mean(0).numpy()
    from scipy.stats import spearmanr

    assert spearmanr(r, quality).statistic > 0.9
    assert first["accuracy"] > 0.9 and second["accuracy"] > 0.9
    assert np.isfinite(first["ce"]) and np.isfinite(second["ce"])


def test_anchoring_keeps_the_previous_return_when_labels_flip():
    """Trained on reversed labels, the anchored early-stop round moves R less than a fresh round."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    z, _ = _ranked_segments()
    pairs, mu = _labels(z, rng)
    zt = torch.as_tensor(z, dtype=torch.float32)
    net = ReturnEnsemble(2, 3, 32)
    train_return_round(net, z, pairs, mu, CFG, rng, anchored=False)
    with torch.no_grad():
        before = net(zt).mean(0)
    import copy

    free = copy.deepcopy(net)
    train_return_round(net, z, pairs, 1 - mu, dict(CFG, return_steps=100), rng, anchored=True)
    # the same number of steps on the flipped labels, without the penalty
    from tiltbench.methods.tdrl import bradley_terry_loss

    opt = torch.optim.Adam(free.parameters(), lr=CFG["return_lr"])
    i1, i2 = torch.as_tensor(pairs[:, 0]), torch.as_tensor(pairs[:, 1])
    for _ in range(100):
        out = free(zt)
        loss = bradley_terry_loss(out[:, i1], out[:, i2], torch.as_tensor(1 - mu, dtype=torch.float32))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        moved_anchored = (net(zt).mean(0) - before).abs().mean()
        moved_free = (free(zt).mean(0) - before).abs().mean()
    assert moved_anchored < moved_free


def test_reward_network_fits_segment_returns_and_relabels_the_buffer():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    L, n_seg = 10, 40
    buf = ReplayBuffer(3, 1, L * n_seg)
    for _ in range(L * n_seg):
        buf.add(rng.standard_normal(3), rng.uniform(-1, 1, 1), 0.0, rng.standard_normal(3), 0.0)
    # target: segments whose states have a larger first coordinate are better
    target = 1 / (1 + np.exp(-buf.obs[:, 0].reshape(n_seg, L).mean(1) * 3))
    net = RewardEnsemble(4, members=1, width=64)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = fit_reward(net, opt, buf.obs, buf.act, target, L, dict(CFG, reward_epochs=1), rng)
    last = fit_reward(net, opt, buf.obs, buf.act, target, L, CFG, rng)
    assert np.isfinite(last) and last < first
    before = buf.rew.copy()
    relabel(net, buf)
    assert not np.allclose(buf.rew, before)
    seg_mean = buf.rew.reshape(n_seg, L).mean(1)
    assert np.corrcoef(seg_mean, target)[0, 1] > 0.8


def test_state_entropy_reward_prefers_isolated_states():
    """Distances to the k-th nearest *stored* state: the batch's own copy (distance 0) is skipped."""
    torch.manual_seed(0)
    crowd = torch.zeros(20, 2) + 0.01 * torch.randn(20, 2)
    stored = torch.cat([crowd, torch.tensor([[5.0, 5.0], [5.0, 6.0], [5.0, 8.0], [9.0, 9.0]])])
    batch = stored[[0, 1, 20]]
    r = state_entropy_reward(batch, stored, k=3)
    assert r[2] > r[:2].max() and torch.isfinite(r).all()
    assert torch.isclose(r[2], torch.dist(stored[20], stored[23]))  # neighbours (5, 6), (5, 8), then (9, 9)
    assert torch.isclose(state_entropy_reward(batch, stored[:3], k=5), torch.cdist(batch, stored[:3]).max(1).values).all()


def test_running_std_matches_numpy_over_batches():
    from tiltbench.methods.tdrl import RunningStd

    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, n) for n in (5, 128, 1, 40)]
    rs = RunningStd()
    for c in chunks:
        got = rs.update(torch.as_tensor(c))
    assert np.isclose(got, np.concatenate(chunks).std())


@pytest.mark.parametrize("solver", ["sac-handcrafted", "tdrl"])
def test_solvers_run_end_to_end_on_dm_control(solver):
    pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")
    from tiltbench.benchmarks.rl.track import evaluate, make_task
    from tiltbench.registry import get_solver, solver_config

    task = make_task("cartpole-swingup", dict(steps=1500, random_steps=500, width=32, batch=32, eval_every=1000,
                                              eval_episodes=1, final_episodes=1), 0)
    s = get_solver("rl", solver)
    cfg = solver_config(s, "smoke", {"explore_steps": 200, "round_every": 400} if solver == "tdrl" else {})
    out = s.fn(task, cfg, 0)
    scores = evaluate(task, out)
    assert 0 <= scores["norm_return"] <= 1 and set(scores) >= {"pass_all", "pass_balanced"}
    assert [step for step, _ in out["curves"]["norm_return"]] == [1000, 1500]
    if solver == "tdrl":
        assert out["metrics"]["reward_rounds"] == 2  # rounds at steps 700 and 1100
        assert -1 <= out["metrics"]["reward_corr"] <= 1
        curves = out["curves"]
        assert [s for s, _ in curves["return_acc"]] == [s for s, _ in curves["reward_rank_corr"]] == [700, 1100]
        assert [s for s, _ in curves["label_agreement"]] == [1100]  # needs a previous round
        assert all(0 <= v <= 1 for _, v in curves["label_agreement"] + curves["return_acc"])
        assert all(-1 <= v <= 1 for _, v in curves["reward_rank_corr"])


def test_bad_rl_config_values_are_named():
    from tiltbench.benchmarks.rl.track import make_task
    from tiltbench.errors import TiltbenchError

    with pytest.raises(ValueError, match="unknown rl task 'cartpole-two_poles'.*cartpole-swingup"):
        make_task("cartpole-two_poles", {}, 0)
    with pytest.raises(TiltbenchError, match="stepz"):
        make_task("walker-walk", {"stepz": 10}, 0)
    with pytest.raises(TiltbenchError, match="steps = 1.5"):
        make_task("walker-walk", {"steps": 1.5}, 0)
    with pytest.raises(ValueError, match="segment_len = 30"):
        make_task("walker-walk", {"segment_len": 30}, 0)


def test_transitions_after_a_round_get_the_learned_reward():
    """Between rounds TdRL labels each new transition with r(s, a) at once, never leaving it at 0."""
    pytest.importorskip("dm_control")
    from tiltbench.benchmarks.rl.loop import Rollouts
    from tiltbench.benchmarks.rl.track import make_task
    from tiltbench.methods.tdrl import TdRLReward
    from tiltbench.registry import get_solver, solver_config

    task = make_task("cartpole-swingup", dict(steps=400, random_steps=100, segment_len=50), 0)
    cfg = solver_config(get_solver("rl", "tdrl"), "smoke", {"explore_steps": 100, "round_every": 100,
                                                             "reward_epochs": 2, "return_passes": 2})
    src = TdRLReward(task, cfg, obs_dim=5, act_dim=1, seed=0)
    rng = np.random.default_rng(0)
    roll = Rollouts(ReplayBuffer(5, 1, 400))
    for t in range(250):
        roll.buffer.add(rng.standard_normal(5), rng.uniform(-1, 1, 1), src.label(1.0), rng.standard_normal(5), 0.0)
        roll.add_features(t, {"pole_cos": rng.uniform(-1, 1), "cart_position": rng.normal(), "control": 0.0}, 400)
        src.update(t, roll)
    assert src.rounds == 1  # at step 200
    assert np.all(roll.buffer.rew[:250] != 0.0) and np.all(roll.buffer.rew[:250] != 1.0)


PASS_CFG = dict(return_batch=64, return_passes=50, acc_threshold=0.99, anchor_ratio=10.0)


def _labeller(z, hist):
    pf = np.zeros((len(z), 1), bool)
    return lambda pairs: compare_many(pf[pairs[:, 0]], z[pairs[:, 0]], pf[pairs[:, 1]], z[pairs[:, 1]], hist)


def test_per_pass_return_learning_recovers_the_order_and_keeps_learning_in_later_rounds():
    """The authors' scheme: a new anchoring snapshot each pass, so a later round can still learn new
    labels (the round-level early stop held the network after one step); one Adam across rounds."""
    from tiltbench.methods.tdrl import train_return_passes

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    z, quality = _ranked_segments()
    pairs, mu = _labels(z, rng)
    net = ReturnEnsemble(2, members=3, width=32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = train_return_passes(net, opt, z, _labeller(z, RunningTestStats.from_results(np.zeros((len(z), 1)), z)),
                                PASS_CFG, rng)
    zt = torch.as_tensor(z, dtype=torch.float32)
    from scipy.stats import spearmanr
    from tiltbench.methods.tdrl import return_accuracy

    with torch.no_grad():
        assert spearmanr(net(zt).mean(0).numpy(), quality).statistic > 0.9
    assert first["train_acc"] > 0.9 and first["ran"] >= first["passes"]
    assert return_accuracy(net, z, pairs, mu) > 0.9  # pairs it was not trained on (fresh draws each minibatch)
    # round 2: the labels now order segments by test 1 instead (what a changed skewness order does)
    hist = RunningTestStats(np.zeros(1), z.std(0), np.zeros(2), ind_order=np.array([1, 0]))
    pf = np.zeros((len(z), 1), bool)
    mu2 = np.array([compare(pf[i], z[i], pf[j], z[j], hist) for i, j in pairs])
    before = return_accuracy(net, z, pairs, mu2)
    second = train_return_passes(net, opt, z, _labeller(z, hist), PASS_CFG, rng)
    after = return_accuracy(net, z, pairs, mu2)
    assert second["ran"] > 10 and after > 0.85 and after > before + 0.1  # it learned the new labels
    held = ReturnEnsemble(2, members=3, width=32)  # the round-level early stop, for contrast
    torch.manual_seed(0)
    train_return_round(held, z, pairs, mu, CFG, rng, anchored=False)
    stuck = train_return_round(held, z, pairs, mu2, CFG, rng, anchored=True)
    assert stuck["accuracy"] < after - 0.2


def test_sum_decomposition_fits_segment_sums_with_a_reward_ensemble():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    L, n_seg = 10, 40
    obs, act = rng.standard_normal((L * n_seg, 3)).astype(np.float32), rng.uniform(-1, 1, (L * n_seg, 1)).astype(np.float32)
    target = 4.0 * obs[:, 0].reshape(n_seg, L).mean(1)  # a learned return on an arbitrary scale (no squashing)
    net = RewardEnsemble(4, members=3, width=64)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = fit_reward(net, opt, obs, act, target, L, dict(CFG, reward_epochs=1), rng, reduce="sum")
    last = fit_reward(net, opt, obs, act, target, L, dict(CFG, reward_epochs=120), rng, reduce="sum")
    assert last < first
    with torch.no_grad():
        sums = net(torch.as_tensor(np.concatenate([obs, act], 1))).view(n_seg, L).sum(1).numpy()
    assert np.corrcoef(sums, target)[0, 1] > 0.9 and abs(sums.std() / target.std() - 1) < 0.3
