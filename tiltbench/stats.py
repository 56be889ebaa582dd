"""Aggregation over seeds: means and paired differences with Student-t intervals, tests for
claims (paired t, TOST equivalence, slope of a least-squares line, Holm's correction), probability
of improvement, and ranks with tie groups.  Deterministic: nothing here draws random numbers, so a report re-rendered from the
same rows is byte-identical.

Why Student-t and not the bootstrap: with 3-10 seeds a percentile-bootstrap interval of the mean is
too narrow (simulated coverage 76% at n = 3, 84% at n = 5, 90% at n = 10 for normal data, nominal
95%); the t-interval covers 95% at every n for normal data.  It undercovers heavily skewed data
(about 83% for lognormal sigma = 1), which the report states; tests/test_stats.py measures both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# scipy is imported inside the functions that use it, so that registering claims (`tiltbench list`,
# errors on bad names) does not pay for it; intervals and t-tests use scipy.special's Student-t
# functions (0.2 s to import) rather than scipy.stats (over a second), which only the report's
# probability of improvement needs.

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
# Fewer paired seeds than this never give a verdict.
MIN_SEEDS_FOR_VERDICT = 3
INTERVAL = "Student-t"


@dataclass(frozen=True)
class Estimate:
    mean: float
    lo: float
    hi: float
    n: int

    @property
    def has_ci(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided Student-t interval of the mean: mean +- t_{(1+c)/2, n-1} s / sqrt(n)."""
    from scipy.special import stdtrit  # the Student-t quantile (what scipy.stats.t.ppf calls)

    v = np.asarray(values, dtype=float)
    m, se = float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))
    half = float(stdtrit(v.size - 1, (1 + confidence) / 2)) * se
    return m - half, m + half


def mean_ci(values, confidence: float = CONFIDENCE) -> Estimate:
    """Mean and Student-t CI; no CI (NaN) from fewer than two values, a point CI when all are equal."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    m = float(v.mean())
    if v.size < 2:
        return Estimate(m, math.nan, math.nan, 1)
    if np.all(v == v[0]):
        return Estimate(m, m, m, int(v.size))
    return Estimate(m, *t_interval(v, confidence), int(v.size))


def paired_difference(a: dict, b: dict) -> Estimate:
    """Mean of a[k] - b[k] over keys (reps) both have, with a paired Student-t CI."""
    keys = sorted(set(a) & set(b))
    return mean_ci([a[k] - b[k] for k in keys])


def _one_sided_p(values, null: float, alternative: str) -> float:
    """p-value of the one-sample t-test of mean(values) against ``null`` ('greater' or 'less').

    With no spread the t-test is undefined; then an exact sign test of the n equal signs decides
    (p = 0.5^n on the claimed side), so three identical seeds never give p = 0."""
    v = np.asarray(values, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        return math.nan
    if np.all(v == v[0]):
        on_side = v[0] > null if alternative == "greater" else v[0] < null
        return 0.5 ** v.size if on_side else 1.0
    from scipy.special import stdtr  # the Student-t CDF (what scipy.stats.ttest_1samp calls)

    t = (float(v.mean()) - null) / (float(v.std(ddof=1)) / math.sqrt(v.size))
    return float(stdtr(v.size - 1, -t if alternative == "greater" else t))


def one_sided_p(values, alternative: str) -> float:
    """One-sided p-value of the one-sample (paired) t-test of mean(values) against 0: ``alternative``
    "less" (mean < 0) or "greater"."""
    return _one_sided_p(values, 0.0, alternative)


def t_test_p(values, null: float = 0.0) -> float:
    """Two-sided p-value of the one-sample (paired) t-test of mean(values) = ``null``."""
    greater, less = _one_sided_p(values, null, "greater"), _one_sided_p(values, null, "less")
    return min(1.0, 2 * min(greater, less)) if math.isfinite(greater) and math.isfinite(less) else math.nan


def equivalence_p(lower, upper) -> float:
    """TOST (two one-sided tests, Schuirmann 1987) on per-seed statistics: ``lower_i = d_i + M_i``
    and ``upper_i = d_i - M_i`` for a difference d and a margin M that may vary by seed (a margin
    relative to the comparator's score is computed per seed, so its noise enters the test).  The
    p-value for -M < d < M is the larger of the one-sided p-values of mean(lower) > 0 and
    mean(upper) < 0; at 5% this is the 90% interval lying inside the margin."""
    return max(_one_sided_p(lower, 0.0, "greater"), _one_sided_p(upper, 0.0, "less"))


def outside_p(lower, upper) -> float:
    """p-value for the difference lying beyond the margin on either side, mean(upper) > 0 or
    mean(lower) < 0: the smaller one-sided p-value, doubled (Bonferroni over the two sides)."""
    p = min(_one_sided_p(upper, 0.0, "greater"), _one_sided_p(lower, 0.0, "less"))
    return min(1.0, 2 * p) if math.isfinite(p) else math.nan


def tost_p(values, margin: float) -> float:
    """``equivalence_p`` with one fixed margin."""
    v = np.asarray(values, dtype=float)
    return equivalence_p(v + margin, v - margin)


@dataclass(frozen=True)
class Slope:
    """Least-squares slope of y on x with its standard error and degrees of freedom (points - 2)."""

    slope: float
    se: float
    df: int

    def interval(self, confidence: float = CONFIDENCE) -> Estimate:
        """The slope with its two-sided Student-t interval, slope +- t_{(1+c)/2, df} se."""
        from scipy.special import stdtrit

        if self.df < 1 or not math.isfinite(self.se):
            return Estimate(self.slope, math.nan, math.nan, self.df + 2)
        half = float(stdtrit(self.df, (1 + confidence) / 2)) * self.se
        return Estimate(self.slope, self.slope - half, self.slope + half, self.df + 2)

    def p_below(self, bound: float) -> float:
        """One-sided t-test p-value of slope < bound (against slope >= bound)."""
        from scipy.special import stdtr

        if self.df < 1 or not math.isfinite(self.se):
            return math.nan
        if self.se == 0:  # points exactly on a line
            return 0.0 if self.slope < bound else 1.0
        return float(stdtr(self.df, (self.slope - bound) / self.se))

    def p_above(self, bound: float) -> float:
        """One-sided t-test p-value of slope > bound."""
        return Slope(-self.slope, self.se, self.df).p_below(-bound)


def ols_slope(x, y) -> Slope:
    """Ordinary least squares of y on x (with intercept): slope, standard error, df = len - 2.
    With fewer than three points, or no spread in x, the error is NaN."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2 or np.all(x == x[0]):
        return Slope(math.nan, math.nan, max(x.size - 2, 0))
    xc = x - x.mean()
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    if x.size < 3:
        return Slope(slope, math.nan, 0)
    resid = y - y.mean() - slope * xc
    se = math.sqrt(float(resid @ resid) / (x.size - 2) / float(xc @ xc))
    return Slope(slope, se, x.size - 2)


def level_slope(x, y) -> Slope:
    """OLS slope of y on x fitted to the mean of y at each distinct x (df = levels - 2).

    Seeds at one x share that level's deviations from a straight line (a fixed cost beside a linear
    one, machine load, a bias beside a 1/n error), so pooling every seed as an independent point
    understates the slope's error: with 5 levels x 3 seeds and a true slope at the bound, the pooled
    test said "below" 19% of the time at nominal 5%, the fit to level means 5%."""
    levels: dict[float, list[float]] = {}
    for xi, yi in zip(x, y):
        levels.setdefault(float(xi), []).append(float(yi))
    xs = sorted(levels)
    return ols_slope(xs, [float(np.mean(levels[v])) for v in xs])


def holm(pvalues: list[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values: family-wise error control over the list.
    NaN entries (no test) are left out of the family and stay NaN."""
    idx = [i for i, p in enumerate(pvalues) if math.isfinite(p)]
    order = sorted(idx, key=lambda i: pvalues[i])
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[i]))
        out[i] = running
    return out


def _p_better(a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> float:
    """Share of pairs (a_i, b_j) where a_i is better, ties counting 1/2: the Mann-Whitney U statistic
    over n * m, computed from ranks in O((n + m) log(n + m)) rather than from all n * m pairs."""
    from scipy import stats as sps

    if not higher_is_better:
        a, b = -a, -b
    ranks = sps.rankdata(np.concatenate([a, b]))  # average ranks: a tie counts 1/2
    u = ranks[: a.size].sum() - a.size * (a.size + 1) / 2
    return float(u / (a.size * b.size))


def prob_improvement(a, b, higher_is_better: bool) -> Estimate:
    """P(X_a better than X_b) for independent draws (ties count one half), as in rliable
    (Agarwal et al. 2021).  A point estimate only: no resampling interval at a handful of seeds
    has shown coverage, so none is printed."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    return Estimate(_p_better(a, b, higher_is_better), math.nan, math.nan, int(min(a.size, b.size)))


def ranks_with_ties(estimates: dict[str, Estimate], higher_is_better: bool) -> dict[str, int]:
    """Rank = 1 + the number of entries clearly better (CIs disjoint); overlapping CIs tie.

    Entries without a CI (one seed) are compared on their means alone.
    """
    def clearly_better(o: Estimate, e: Estimate) -> bool:
        if o.has_ci and e.has_ci:
            return o.lo > e.hi if higher_is_better else o.hi < e.lo
        return o.mean > e.mean if higher_is_better else o.mean < e.mean

    valid = {k: e for k, e in estimates.items() if math.isfinite(e.mean)}
    return {k: 1 + sum(clearly_better(o, e) for j, o in valid.items() if j != k) for k, e in valid.items()}


def verdict(diff: Estimate, higher_is_better: bool) -> str:
    """'better', 'worse' or 'inconclusive' for a method-minus-baseline difference."""
    if diff.n < MIN_SEEDS_FOR_VERDICT or not diff.has_ci or diff.lo <= 0 <= diff.hi:
        return "inconclusive"
    better = diff.lo > 0 if higher_is_better else diff.hi < 0
    return "better" if better else "worse"
