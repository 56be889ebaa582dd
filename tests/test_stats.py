import math

import numpy as np

from tiltbench import stats


def test_mean_ci_contains_the_mean_and_needs_two_values():
    e = stats.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert e.mean == 2.5 and e.lo <= 2.5 <= e.hi and e.n == 4
    one = stats.mean_ci([5.0])
    assert one.mean == 5.0 and not one.has_ci


def test_mean_ci_is_the_student_t_interval():
    e = stats.mean_ci([0.3, 1.2, 2.2, 0.1])
    # mean 0.95, s = 0.96090, t_{0.975, 3} = 3.18245: half-width 1.52900
    assert abs(e.lo - (0.95 - 1.52900)) < 1e-4 and abs(e.hi - (0.95 + 1.52900)) < 1e-4


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


# Coverage of the 95% interval of the mean, measured on simulated seeds.  The bands are stated
# before the numbers are looked at: normal data within 1.5 points of 95% (the simulation's own
# standard error is 0.35 points); moderately skewed data (lognormal sigma = 0.5, like per-seed
# wall times) at least 90%.  Heavily skewed data (sigma = 1) is measured and printed in the stats
# module's docstring as a known weakness: about 83%.
def _coverage(draw, true_mean, n, reps=4000):
    import numpy as np

    rng = np.random.default_rng(n)
    hits = 0
    for row in draw(rng, (reps, n)):
        e = stats.mean_ci(row)
        hits += e.lo <= true_mean <= e.hi
    return hits / reps


import pytest  # noqa: E402


@pytest.mark.parametrize("n", [3, 5, 10])
def test_interval_coverage_normal(n):
    cov = _coverage(lambda rng, shape: rng.normal(2.0, 3.0, shape), 2.0, n)
    assert 0.935 <= cov <= 0.965, cov


@pytest.mark.parametrize("n", [3, 5, 10])
def test_interval_coverage_skewed(n):
    cov = _coverage(lambda rng, shape: rng.lognormal(0.0, 0.5, shape), math.exp(0.125), n)
    assert 0.90 <= cov <= 0.965, cov


def test_t_test_and_tost_agree_with_the_interval():
    import numpy as np

    rng = np.random.default_rng(1)
    for _ in range(200):
        v = rng.normal(rng.normal(0, 1), 1, rng.integers(3, 8))
        e = stats.mean_ci(v)
        # the 95% interval excludes 0 exactly when the two-sided p-value is below 0.05
        assert (stats.t_test_p(v) < 0.05) == (e.lo > 0 or e.hi < 0)
        # TOST at 5% is the 90% interval lying inside (-margin, margin)
        lo, hi = stats.t_interval(v, 0.90)
        assert (stats.tost_p(v, 1.0) < 0.05) == (-1.0 < lo and hi < 1.0)


def test_holm_adjusts_step_down_and_keeps_order():
    adj = stats.holm([0.01, 0.04, 0.03, math.nan])
    assert adj[:3] == pytest.approx([0.03, 0.06, 0.06]) and math.isnan(adj[3])
    assert stats.holm([]) == []


def test_no_spread_uses_an_exact_sign_test_not_p_zero():
    assert stats.t_test_p([1.0, 1.0, 1.0]) == pytest.approx(0.25)  # 2 * 0.5^3
    assert stats.tost_p([0.5, 0.5, 0.5], 0.6) == pytest.approx(0.125)
    assert stats.t_test_p([0.0, 0.0, 0.0]) == 1.0
    assert math.isnan(stats.t_test_p([1.0])) and math.isnan(stats.t_test_p([1.0, math.nan, 2.0]))


def test_outside_margin_test_keeps_its_level():
    """At the boundary (true difference = margin) the two-sided outside test rejects at most 5%."""
    import numpy as np

    rng = np.random.default_rng(3)
    for n in (3, 5):
        rejections = 0
        for _ in range(4000):
            v = rng.normal(0.01, 1.0, n)
            rejections += stats.outside_p(v + 0.01, v - 0.01) < 0.05
        assert rejections / 4000 <= 0.06, (n, rejections / 4000)


def test_t_functions_match_scipy_stats():
    import numpy as np
    from scipy import stats as sps

    rng = np.random.default_rng(7)
    for _ in range(100):
        v = rng.normal(rng.normal(), 1.0, rng.integers(2, 12))
        for alt in ("greater", "less"):
            assert stats._one_sided_p(v, 0.3, alt) == pytest.approx(sps.ttest_1samp(v, 0.3, alternative=alt).pvalue,
                                                                     rel=1e-9, abs=1e-15)
        lo, hi = stats.t_interval(v)
        ref = sps.t.interval(0.95, v.size - 1, loc=v.mean(), scale=sps.sem(v))
        assert (lo, hi) == pytest.approx(ref, rel=1e-12)


def test_the_trend_slope_test_holds_its_level_when_seeds_share_each_levels_deviation():
    """5 values of log n x 3 seeds, true slope at the bound, a deviation shared by the seeds of one n
    (sd 0.10) plus per-seed noise (sd 0.05): fitting the level means keeps the false 'below' rate
    near 5%; pooling every seed as a point (what level_slope replaced) does not."""
    rng = np.random.default_rng(1)
    x = np.repeat(np.log([1e3, 3e3, 1e4, 3e4, 1e5]), 3)
    hits_level, hits_pooled, reps = 0, 0, 2000
    for _ in range(reps):
        shared = np.repeat(rng.normal(0, 0.10, 5), 3)
        y = 2.0 * x + shared + rng.normal(0, 0.05, x.size)
        hits_level += stats.level_slope(x, y).p_below(2.0) < 0.05
        hits_pooled += stats.ols_slope(x, y).p_below(2.0) < 0.05
    assert 0.03 < hits_level / reps < 0.075
    assert hits_pooled / reps > 0.12
