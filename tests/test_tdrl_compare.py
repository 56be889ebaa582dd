"""TdRL's test functions and lexicographic comparison on hand-built trajectory segments."""

import numpy as np
import pytest

from tiltbench.benchmarks.rl.tests import SUITES
from tiltbench.methods.tdrl import RunningTestStats, compare

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
    # differences below tol standard deviations on every test: a tie
    assert compare([0, 0, 0], [0.05, 0, 0], [0, 0, 0], [0, 0.05, 0], HIST) == 0.5


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
