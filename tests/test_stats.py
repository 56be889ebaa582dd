import math

from tiltbench import stats


def test_mean_ci_contains_the_mean_and_needs_two_values():
    e = stats.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert e.mean == 2.5 and e.lo <= 2.5 <= e.hi and e.n == 4
    one = stats.mean_ci([5.0])
    assert one.mean == 5.0 and not one.has_ci


def test_bootstrap_is_deterministic():
    assert stats.mean_ci([0.3, 1.2, 2.2, 0.1]) == stats.mean_ci([0.3, 1.2, 2.2, 0.1])


def test_paired_difference_uses_matching_reps_only():
    d = stats.paired_difference({0: 1.0, 1: 2.0, 2: 9.0}, {0: 0.0, 1: 1.0})
    assert d.mean == 1.0 and d.n == 2


def test_probability_of_improvement():
    assert stats.prob_improvement([1, 2], [3, 4], higher_is_better=False).mean == 1.0
    assert stats.prob_improvement([1, 2], [3, 4], higher_is_better=True).mean == 0.0
    assert stats.prob_improvement([1, 1], [1, 1], higher_is_better=True).mean == 0.5


def test_ranks_tie_when_cis_overlap():
    e = {"a": stats.Estimate(1.0, 0.9, 1.1, 3), "b": stats.Estimate(1.05, 0.95, 1.2, 3),
         "c": stats.Estimate(5.0, 4.0, 6.0, 3)}
    assert stats.ranks_with_ties(e, higher_is_better=False) == {"a": 1, "b": 1, "c": 3}


def test_verdict_is_inconclusive_when_the_ci_straddles_zero_or_seeds_are_few():
    assert stats.verdict(stats.Estimate(-1.0, -2.0, 0.5, 5), higher_is_better=False) == "inconclusive"
    assert stats.verdict(stats.Estimate(-1.0, -2.0, -0.5, 5), higher_is_better=False) == "better"
    assert stats.verdict(stats.Estimate(-1.0, -2.0, -0.5, 5), higher_is_better=True) == "worse"
    assert stats.verdict(stats.Estimate(-1.0, -2.0, -0.5, 2), higher_is_better=False) == "inconclusive"
    assert stats.verdict(stats.Estimate(-1.0, math.nan, math.nan, 1), higher_is_better=False) == "inconclusive"


def test_probability_of_improvement_equals_the_all_pairs_definition():
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(0, 4, rng.integers(1, 7)).astype(float)
        b = rng.integers(0, 4, rng.integers(1, 7)).astype(float)
        for higher in (True, False):
            d = (a[:, None] - b[None, :]) * (1 if higher else -1)
            expected = np.mean(d > 0) + 0.5 * np.mean(d == 0)
            assert abs(stats._p_better(a, b, higher) - expected) < 1e-12
