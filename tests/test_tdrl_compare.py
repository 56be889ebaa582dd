"""TdRL's test functions and lexicographic comparison on hand-built trajectory segments."""

import numpy as np
import pytest

from tiltbench.benchmarks.rl.tests import SUITES
from tiltbench.methods.tdrl import RunningTestStats, compare, compare_many

HIST = RunningTestStats(pass_rate=np.array([0.9, 0.1, 0.5]), ind_std=np.array([1.0, 1.0, 1.0]),
                   ind_skew=np.array([0.0, 2.0, 1.0]))


def test_more_pass_fail_tests_wins():
    assert compare([1, 1, 0], [0, 0, 0], [1, 0, 0], [9, 9, 9], HIST) == 1.0
    assert compare([1, 0, 0], [9, 9, 9], [1, 1, 0], [0, 0, 0], HIST) == 0.0


def test_both_passing_everything_is_a_tie():
    assert compare([1, 1, 1], [5, 0, 0], [1, 1, 1], [0, 0, 0], HIST) == 0.5


def test_the_hardest_differing_test_decides():
    # same count; tau_1 passes test 1 (pass rate 0.1), tau_2 passes test 0 (0.9): tau_1 wins
    assert compare([0, 1, 0], [0, 0, 0], [1, 0, 0], [9, 9, 9], HIST) == 1.0


def test_dominance_on_indicative_tests():
    assert compare([1, 0, 0], [2, 2, 2], [1, 0, 0], [1, 2, 2], HIST) == 1.0
    assert compare([1, 0, 0], [1, 2, 2], [1, 0, 0], [2, 2, 2], HIST) == 0.0


def test_most_skewed_indicative_test_decides_when_nothing_dominates():
    # test 1 has the largest skewness: tau_2 is better there, though tau_1 is better on test 0
    assert compare([0, 0, 0], [5, 0, 0], [0, 0, 0], [0, 1, 0], HIST) == 0.0
    # differences below tol standard deviations on every test: a tie (the old rule, tol 0.1); at the
    # default tol = 0 (the authors') any difference decides
    assert compare([0, 0, 0], [0.05, 0, 0], [0, 0, 0], [0, 0.05, 0], HIST, tol=0.1) == 0.5
    assert compare([0, 0, 0], [0.05, 0, 0], [0, 0, 0], [0, 0.05, 0], HIST) == 0.0


def test_comparison_is_antisymmetric():
    rng = np.random.default_rng(0)
    for _ in range(500):
        pf1, pf2 = rng.integers(0, 2, 3), rng.integers(0, 2, 3)
        ind1, ind2 = rng.integers(0, 3, 3).astype(float), rng.integers(0, 3, 3).astype(float)
        assert compare(pf1, ind1, pf2, ind2, HIST) == 1.0 - compare(pf2, ind2, pf1, ind1, HIST)


def test_history_from_results():
    h = RunningTestStats.from_results(np.array([[1, 0], [1, 1], [0, 0], [1, 0]]),
                                 np.array([[0.0], [0.0], [0.0], [10.0]]))
    np.testing.assert_allclose(h.pass_rate, [0.75, 0.25])
    assert h.ind_skew[0] > 0 and h.ind_std[0] > 0


def _walker_segment(height, upright, speed, n=100):
    return {"torso_height": np.full(n, height), "torso_upright": np.full(n, upright), "x_velocity": np.full(n, speed)}


def test_walker_walk_tests_on_hand_built_segments():
    suite = SUITES["walker-walk"]
    pf, ind = suite(_walker_segment(1.3, 0.95, 1.1))
    assert pf.tolist() == [True, True, True]
    pf, ind = suite(_walker_segment(0.4, 0.2, 0.0))  # fallen over
    assert pf.tolist() == [False, False, False] and ind[0] == pytest.approx(0.4)


def test_cartpole_and_cheetah_tests():
    up = {"pole_cos": np.full(50, 0.99), "cart_position": np.full(50, 0.1), "control": np.zeros(50)}
    down = {"pole_cos": np.full(50, -1.0), "cart_position": np.full(50, 0.1), "control": np.zeros(50)}
    off_centre = dict(up, cart_position=np.full(50, 0.5))
    assert SUITES["cartpole-swingup"](up)[0].tolist() == [True]
    assert SUITES["cartpole-swingup"](down)[0].tolist() == [False]  # centred but hanging: no pass
    assert SUITES["cartpole-swingup"](off_centre)[0].tolist() == [False]
    assert SUITES["cheetah-run"]({"x_velocity": np.full(10, 11.0)})[0].tolist() == [True]
    with pytest.raises(KeyError, match="lacks x_velocity"):
        SUITES["cheetah-run"]({})


def _authors_preference(pf1, pf2, ind1, ind2, pass_rate, ind_std, order):
    """The comparison as the authors' code states it (stellaris112358/TDRL_MARL@9c5c815,
    reward_model/reward_model_tdrl.py, ``get_preference``), written out step by step, with this
    project's label convention (1: the first segment is preferred; theirs returns 0 for it)."""
    if pf1.sum() != pf2.sum():
        return 1.0 if pf1.sum() > pf2.sum() else 0.0
    if pf1.sum() == len(pf1):
        return 0.5
    for i in np.argsort(pass_rate):  # hardest test first: the first one passed by only one side decides
        if pf1[i] != pf2[i]:
            return 1.0 if pf1[i] else 0.0
    if (ind1 > ind2).all():  # strictly better on every indicative test
        return 1.0
    if (ind1 < ind2).all():
        return 0.0
    for i in order:  # the first indicative test that differs, in order of decreasing skewness
        if ind1[i] / ind_std[i] != ind2[i] / ind_std[i]:
            return 1.0 if ind1[i] > ind2[i] else 0.0
    return 0.5


@pytest.mark.parametrize("n_pf,n_ind", [(1, 2), (1, 4), (2, 3), (3, 2)])
def test_compare_agrees_with_the_authors_rule(n_pf, n_ind):
    """At tol = 0 (this project's default) the vectorised rule labels random pairs as the authors' code
    does; values come from a small grid, so ties and partial dominance are frequent."""
    rng = np.random.default_rng(n_pf * 10 + n_ind)
    m = 3000
    pf1, pf2 = rng.random((m, n_pf)) < 0.5, rng.random((m, n_pf)) < 0.5
    ind1, ind2 = rng.integers(0, 3, (m, n_ind)).astype(float), rng.integers(0, 3, (m, n_ind)).astype(float)
    hist = RunningTestStats(rng.permutation(n_pf) / n_pf + 0.05, rng.uniform(0.5, 2.0, n_ind), rng.normal(size=n_ind))
    mine = compare_many(pf1, ind1, pf2, ind2, hist, tol=0.0)
    theirs = [_authors_preference(pf1[k], pf2[k], ind1[k], ind2[k], hist.pass_rate, hist.ind_std, hist.order)
              for k in range(m)]
    assert np.array_equal(mine, theirs)
    assert len(set(theirs)) == 3  # every outcome occurs
    assert [compare(pf1[k], ind1[k], pf2[k], ind2[k], hist) for k in range(50)] == list(mine[:50])
