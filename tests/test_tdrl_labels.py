"""TdRL holds its labels: the indicative tests' order is fixed at the first round (the old per-round
re-sort by skewness flipped labels mid-run), and the early-stop anchoring rule stops a round."""

import numpy as np
import pytest
import torch

from tiltbench.methods.tdrl import ReturnEnsemble, TdRLReward, train_return_round


class _Task:  # what TdRLReward reads of a task: a suite of three indicative tests, one pass-fail test
    from tiltbench.benchmarks.rl.tests import SUITES

    name, segment_len, random_steps, steps, episode_len = "cartpole-swingup", 50, 0, 10_000, 1000
    tests = SUITES["cartpole-swingup"]


def _source(ind_order):
    from tiltbench.registry import get_solver, solver_config

    cfg = solver_config(get_solver("rl", "tdrl"), "smoke", {"ind_order": ind_order, "history_episodes": 0})
    return TdRLReward(_Task(), cfg, obs_dim=5, act_dim=1, seed=0)


def _flip_skewness(src, rng):
    """Round 1: test 0 right-skewed, test 1 symmetric.  Then many segments that skew test 1 harder."""
    first = np.stack([rng.exponential(1.0, 300), rng.standard_normal(300), rng.standard_normal(300)], 1)
    later = np.stack([rng.standard_normal(3000), rng.exponential(1.0, 3000) * 5, rng.standard_normal(3000)], 1)
    src.z_pf, src.z_ind = [np.zeros(1, bool)] * 300, list(first)
    h1 = src.history()
    pairs = rng.integers(0, 300, (2000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    mu1 = src._labels(pairs, h1)
    src.z_pf, src.z_ind = src.z_pf + [np.zeros(1, bool)] * 3000, src.z_ind + list(later)
    h2 = src.history()
    return h1, h2, float(np.mean(src._labels(pairs, h2) == mu1))


def test_first_round_order_holds_the_labels_when_skewness_flips():
    h1, h2, agree = _flip_skewness(_source("first-round"), np.random.default_rng(0))
    assert h1.order[0] == 0 and np.argmax(h2.ind_skew) == 1  # the skewness did flip ...
    assert list(h2.order) == list(h1.order) and agree > 0.9  # ... the order and the labels did not


def test_every_round_order_flips_the_labels():
    """The old labelling: the re-sort makes test 1 decide, and most labels of the same pairs change."""
    h1, h2, agree = _flip_skewness(_source("every-round"), np.random.default_rng(0))
    assert h1.order[0] == 0 and h2.order[0] == 1 and agree < 0.7


def test_bad_ind_order_and_anchor_are_named():
    with pytest.raises(ValueError, match="ind_order = 'sometimes'; valid: first-round, every-round"):
        _source("sometimes")
    from tiltbench.registry import get_solver, solver_config

    cfg = solver_config(get_solver("rl", "tdrl"), "smoke", {"anchor": "stop"})
    with pytest.raises(ValueError, match="anchor = 'stop'; valid: per-pass, early-stop, skip, balance"):
        TdRLReward(_Task(), cfg, 5, 1, 0)


@pytest.mark.parametrize("anchor", ["early-stop", "skip"])
def test_anchoring_rule_stops_or_skips(anchor):
    """A second round on labels the first already fits: the penalty's gradient soon dominates.
    early-stop ends the round there (every later step is cut); skip only drops such steps."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200, 2))
    pairs = rng.integers(0, 200, (600, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    mu = (z[pairs[:, 0], 0] > z[pairs[:, 1], 0]).astype(float)
    cfg = dict(return_steps=200, return_batch=64, return_lr=3e-3, anchor=anchor, anchor_ratio=10.0)
    net = ReturnEnsemble(2, 3, 32)
    train_return_round(net, z, pairs, mu, cfg, rng, anchored=False)
    calls = []
    step = torch.optim.Adam.step

    def counting(self, *a, **k):
        calls.append(1)
        return step(self, *a, **k)

    torch.optim.Adam.step = counting
    try:
        out = train_return_round(net, z, pairs, mu, cfg, rng, anchored=True)
    finally:
        torch.optim.Adam.step = step
    assert out["ran"] == len(calls) and out["ran"] + out["skipped"] == cfg["return_steps"]
    assert out["skipped"] > 0 and out["accuracy"] > 0.9
    if anchor == "early-stop":
        assert out["ran"] < 20  # stopped early, not merely thinned out


def test_the_comparison_statistics_come_from_the_last_episodes_only():
    """history_episodes: the pass rates, scales and skewness order read the window (the authors' code keeps
    the last 100 trajectories), not every segment since the start."""
    from tiltbench.methods.tdrl import RunningTestStats
    from tiltbench.registry import get_solver, solver_config

    cfg = solver_config(get_solver("rl", "tdrl"), "smoke", {"history_episodes": 2})
    src = TdRLReward(_Task(), cfg, obs_dim=5, act_dim=1, seed=0)
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.standard_normal((300, 3)), 10 + 5 * rng.exponential(1.0, (40, 3))])
    src.z_pf, src.z_ind = [np.zeros(1, bool)] * 340, list(z)
    assert src.window == 40 and src._window_start() == 300  # 2 episodes x 1000 / 50 segments each
    expected = RunningTestStats.from_results(np.zeros((40, 1)), z[300:])
    got = src.history()
    assert np.allclose(got.ind_std, expected.ind_std) and np.allclose(got.ind_skew, expected.ind_skew)
