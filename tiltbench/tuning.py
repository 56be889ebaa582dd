"""Parameter grids, the tuning protocol and frontiers: pure functions, no store, no plotting.

Protocol (benchopt-style grids, with the selection kept off the reported numbers):

1. A profile gives a solver a grid, ``[<profile>.tracks.<track>.solvers.<solver>.grid]`` with
   ``key = [v1, v2, ...]``.  Every point of the cartesian product is its own cell, labelled
   ``solver[key=value,...]``, run on the track's *validation* split (the same task family, its
   instance drawn from a separate seed stream) with ``tune_reps`` tuning seeds (a seed stream of its
   own, never one of the evaluation seeds).
2. For each task, the point with the best mean validation score of the track's selection metric is
   the solver's *tuned* configuration.
3. The tuned configuration runs the profile's ``reps`` evaluation seeds on the test split, under the
   solver's plain name; that row is what leaderboards and claims compare.

Frontiers: a track may name a (quality, divergence-or-cost) pair.  Over a solver's grid points
(validation runs), the Pareto frontier is the set of points no other point beats on both axes; the
quality at a given divergence is read off the frontier by linear interpolation, per tuning seed, so
its interval comes from the seeds.  Two solvers are compared at a *matched* divergence: the middle of
the range both frontiers cover (``at_matched_x``); a claim can be stated that way (``Claim.matched``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

VALIDATION, TEST = "validation", "test"


def grid_points(grid: dict[str, list]) -> list[dict]:
    """Every combination of a grid, keys in sorted order: {'a': [1, 2], 'b': [3]} -> [{a: 1, b: 3}, {a: 2, b: 3}].
    No grid (an empty table) gives no points."""
    if not grid:
        return []
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def label(solver: str, point: dict) -> str:
    """``dpo[beta=0.1]``: the stored method name of one grid point."""
    return f"{solver}[{','.join(f'{k}={_fmt(v)}' for k, v in sorted(point.items()))}]"


def base_name(method: str) -> str:
    """The solver a stored method name belongs to: ``dpo[beta=0.1]`` -> ``dpo``."""
    return method.split("[", 1)[0]


def is_grid_point(method: str) -> bool:
    return "[" in method


def point_of(method: str) -> dict:
    """The grid point a label names, numbers as floats: ``qrpo[beta=0.01,quantile_samples=4]`` ->
    {"beta": 0.01, "quantile_samples": 4.0}; {} for a plain solver name."""
    inside = method.partition("[")[2].rstrip("]")
    out = {}
    for key, _, value in (p.partition("=") for p in inside.split(",") if p):
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def point_order(method: str) -> tuple:
    """Sort key of a label by its values, numbers as numbers: ``a[x=0]`` before ``a[x=0.4]``."""
    def value(v):
        return (0, v, "") if isinstance(v, float) else (1, 0.0, v)

    return (base_name(method), tuple((k, value(v)) for k, v in point_of(method).items()))


def at_edge(chosen: str, labels: list[str]) -> list[str]:
    """The grid keys in which ``chosen`` sits at the lowest or highest of three or more numeric values
    its grid ran (``labels``), e.g. ``['reward_lr lowest']``: the best setting may lie outside the grid
    (with two values every choice is an edge, so such a key is not named)."""
    def numbers(label: str) -> dict[str, float]:
        return {k: v[1] for k, v in point_order(label)[1] if v[0] == 0}

    mine, values = numbers(chosen), {}
    for lab in labels:
        for k, v in numbers(lab).items():
            values.setdefault(k, set()).add(v)
    out = []
    for k, v in sorted(mine.items()):
        if len(values.get(k, ())) >= 3 and v in (min(values[k]), max(values[k])):
            out.append(f"{k} {'lowest' if v == min(values[k]) else 'highest'}")
    return out


def select(scores: dict[str, list[float]], higher_is_better: bool) -> str | None:
    """The grid point (label) with the best mean score; ties go to the point with the smallest
    values (``point_order``).  None when no point has a finite score."""
    means = {k: float(np.mean(v)) for k, v in scores.items() if v and np.all(np.isfinite(v))}
    if not means:
        return None
    best = max if higher_is_better else min
    target = best(means.values())
    return min((k for k, m in means.items() if m == target), key=point_order)


def pareto(points: list[tuple[float, float]], higher_quality: bool, lower_x: bool = True) -> list[int]:
    """Indices of the Pareto-optimal (x, quality) points, sorted by x.  A point is dominated when
    another is at least as good on both axes and better on one (lower x is better by default:
    a divergence or a cost)."""
    def better_or_equal(a, b):  # a at least as good as b
        x_ok = a[0] <= b[0] if lower_x else a[0] >= b[0]
        q_ok = a[1] >= b[1] if higher_quality else a[1] <= b[1]
        return x_ok and q_ok

    keep = [i for i, p in enumerate(points)
            if all(not (better_or_equal(q, p) and q != p) for j, q in enumerate(points) if j != i)]
    return sorted(keep, key=lambda i: points[i][0])


def interpolate(xs: list[float], qs: list[float], x: float) -> float:
    """Quality at ``x`` by linear interpolation along a frontier sorted by x; NaN outside its range."""
    if not xs or not (min(xs) <= x <= max(xs)):
        return math.nan
    return float(np.interp(x, xs, qs))


def matched_x(frontiers: list[list[float]]) -> float:
    """A divergence every frontier reaches (each given by its points' x values): the middle of the
    overlap of their x ranges; NaN if they do not overlap."""
    if not frontiers or any(not f for f in frontiers):
        return math.nan
    lo, hi = max(min(f) for f in frontiers), min(max(f) for f in frontiers)
    return (lo + hi) / 2 if lo <= hi else math.nan


Points = dict[str, dict[int, tuple[float, float]]]  # grid-point label -> {seed: (x, quality)}


def frontier(points: Points, higher_quality: bool, lower_x: bool = True) -> list[str]:
    """Labels of the Pareto-optimal grid points, judged on their mean (x, quality) over seeds, sorted by x.
    ``lower_x``: x is a divergence or cost (less is better); False for an x that is itself an achievement,
    such as the training reward a held-out score is read at (more is better)."""
    labels = [k for k, reps in points.items() if reps]
    means = [(float(np.mean([x for x, _ in points[k].values()])), float(np.mean([q for _, q in points[k].values()])))
             for k in labels]
    return [labels[i] for i in pareto(means, higher_quality, lower_x)]


def at_matched_x(a: Points, b: Points, higher_quality: bool,
                 lower_x: bool = True) -> tuple[float, dict[int, float], dict[int, float]]:
    """Two solvers' quality at one divergence both reach: x* = ``matched_x`` of their frontiers' mean x,
    and per seed each solver's quality read off its frontier at x* (linear interpolation between that
    seed's frontier points; a seed counts where every frontier point has it and x* is inside its range).
    x* is NaN, with no values, when the frontiers do not overlap.  ``lower_x`` as in ``frontier``."""
    fronts = [(p, frontier(p, higher_quality, lower_x)) for p in (a, b)]
    x_star = matched_x([[float(np.mean([x for x, _ in p[k].values()])) for k in f] for p, f in fronts])
    out: list[dict[int, float]] = []
    for p, f in fronts:
        per_seed = {}
        if math.isfinite(x_star) and f:
            for rep in sorted(set.intersection(*(set(p[k]) for k in f))):
                pts = sorted(p[k][rep] for k in f)
                value = interpolate([x for x, _ in pts], [q for _, q in pts], x_star)
                if math.isfinite(value):
                    per_seed[rep] = value
        out.append(per_seed)
    return x_star, out[0], out[1]
