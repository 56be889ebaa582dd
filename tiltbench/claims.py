"""Paper claims as checkable hypotheses, judged from stored runs.

A claim compares one metric of a method with a comparator (another solver) on the tasks it names,
paired by seed:

- ``less`` / ``greater``: method < factor * comparator (or >).  Paired t-test of the per-seed
  statistic method - factor * comparator against 0.
- ``noworse``: method is no worse than comparator by more than the margin (non-inferiority: "as
  accurate as, or better"), a one-sided t-test of the per-seed (how much worse - margin) against 0;
  *contradicted* when the method is worse by more than the margin.
- ``within``: |method - comparator| <= margin, an equivalence claim, tested with TOST (two one-sided
  t-tests).  The margin is ``max(margin, rel_margin * |comparator|)`` per seed: relative to the
  comparator's score, with an absolute floor, and computed seed by seed so that its own noise
  enters the test.  *Contradicted* needs the difference beyond the margin (one-sided tests on both
  sides, Bonferroni).

Every claim of a report (one track, one profile) is one family: its p-values get Holm's
correction (a judgement that is not judged, or lacks seeds, stays in the family at p = 1), and a verdict is *supported* or *contradicted* only when the adjusted p-value is below
``stats.ALPHA`` (otherwise *inconclusive*, and always so with fewer than
``stats.MIN_SEEDS_FOR_VERDICT`` paired seeds).

- ``trend``: a claim across a task-name parameter, e.g. the sample size n of ``<task>-n{N}``
  (``across = "n"``).  Tasks that differ only in that parameter form one group; over all its
  (task, seed) runs of the method, the least-squares slope of log(metric) on log(parameter) must lie
  below ``slope_below`` (or above ``slope_above``: the metric grows), and every ``also`` bound must hold too (e.g. wall time grows at most
  quadratically while the error does not grow).  The slope is fitted to the mean of log(metric) at
  each value of the parameter (seeds at one value are not independent points on the line), and each
  bound is a one-sided t-test on it (df = values - 2).  *Supported* when every slope is below its bound, with the largest of their
  p-values (an intersection-union test); *contradicted* when a slope is above its bound, with the
  smallest such p-value times the number of bounds (Bonferroni).  Needs at least
  ``MIN_TREND_LEVELS`` values of the parameter, else *not judged*; it has no comparator.  The
  metric may be a run column (``wall_s``, ``cpu_s``, ``peak_mem_mb``).  With ``over = "grid"`` the
  levels are instead the method's grid points on one task, ``across`` naming the grid key (e.g. QRPO's
  ``quantile_samples``): each point's tuning seeds on the validation split, one group per task, the
  claim's gates checked on that task's rows; not judged when the grid varies another key too or its
  points' rows ran with different track settings.

**At a matched divergence.**  A ``less``/``greater``/``within``/``noworse`` claim with ``matched = <x metric>`` (e.g.
"kl") compares quality where both solvers spend the same divergence or cost, not at their tuned rows:
each solver's Pareto frontier over its grid points (validation split, tuning seeds; tiltbench/tuning.py)
is read at x*, the middle of the x range both frontiers cover, per tuning seed, and the claim's test runs
on those paired values.  It needs two or more grid points per solver and overlapping frontiers, else
*not judged*; its seeds are the tuning seeds.  The tuning rule below does not apply to it (its
comparison is over the whole grids).

A claim may state **gates**, preconditions checked per task before it is judged: the comparator is
competent, a reference row is beaten, the operating points match, a solver converged.  When a gate
fails the verdict is *not judged: <reason>*, never supported or contradicted; gates can only
withhold a verdict, not produce one.  A gate with ``blocks = "supported"`` withholds only a supported
verdict (a precondition for crediting the method, such as "its learned reward, not its exploration
bonus, moved the policy"); a contradiction, or an inconclusive result, then stands.

**Tuning.**  A verdict *against* a solver that has hyperparameters (its ``tunable`` keys in the
registry) needs that solver tuned in the profile (a grid, tiltbench/tuning.py); else it is *not
judged*, because its authors would rightly object that it ran at someone else's setting.  Against
means: the comparator of a supported claim, the method of a contradicted one, and the worse of the
two in a contradicted ``within`` claim.  Tuned means: every judged seed of the solver on that task is a
row the tuning protocol selected, from a grid that varied one of its tunable keys.  The rule applies
after Holm's correction, to significant verdicts only, and says which way the verdict went.  A verdict in favour of an untuned solver
stands (it won without tuning), and so does a ``trend`` (a property of the algorithm at the
configuration it ran, such as its cost's growth in n).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from . import registry, stats
from .errors import TiltbenchError, unknown

if TYPE_CHECKING:  # importing the store pulls in duckdb and pandas; registering claims needs neither
    from .store import Store

RELATIONS = ("less", "greater", "within", "noworse", "trend")
READ_LEVELS = ("metric", "curve")
MARGINED = ("within", "noworse")  # relations judged against a margin
RUN_COLUMNS = ("wall_s", "cpu_s", "peak_mem_mb")  # cost columns of a run a trend claim may fit
MIN_TREND_LEVELS = 3  # values of the parameter a trend needs (two points always lie on a line)
TREND_OVER = ("task", "grid")  # where a trend's levels come from: task names, or the method's grid points
GATE_KINDS = ("at_least", "at_most", "beats", "matched", "attainable")
GATE_BLOCKS = ("any", "supported")  # which verdicts a failed gate withholds
AGGREGATES = ("mean", "min", "max")
METHOD, COMPARATOR = "{method}", "{comparator}"  # placeholders a gate may use for its claim's solvers


@dataclass(frozen=True)
class Gate:
    """A precondition of a claim, checked on each task's stored runs.

    - ``at_least`` / ``at_most``: ``agg`` (mean, min or max over seeds) of ``solver``'s ``metric``
      is >= / <= ``value`` (a competence threshold, an ESS floor, "every seed converged"); with
      ``of_setting``, ``value`` is a fraction of the track setting of that name the solver's rows ran
      with (mean length at most 0.75 x ``max_new_tokens``: most samples end before the cap);
    - ``beats``: ``solver`` is better than ``other`` on ``metric`` (paired 95% t-interval of the
      difference wholly on the better side): the comparison is meaningful only if the comparator
      learned something.  The two solvers' rows must have run with the same track settings.  With ``other_metric``, ``other``'s value is that metric instead, which
      compares a solver with an earlier state of itself (TdRL's final return against the return its
      exploration phase left);
    - ``matched``: the claim's method and comparator have ``metric`` means within
      ``max(value * max(|a|, |b|), abs_tol)``: the same operating point (equal KL, equal reward), from
      rows run with the same track settings;
    - ``attainable``: ``solver`` (an ideal reference row, e.g. exact samples of the true answer scored
      the way the method is) would pass the claim's own relation against its comparator, on means.
      Where even the ideal fails, the claim measures the estimator's noise, not the method, unless
      the method is clearly worse than the ideal (paired 95% t-interval): then it is judged.

    Use the constructors below; ``solver`` and ``other`` may be ``METHOD`` or ``COMPARATOR``.
    """

    kind: str
    metric: str
    solver: str = COMPARATOR
    value: float = 0.0
    other: str = ""
    agg: str = "mean"
    abs_tol: float = 0.0
    why: str = ""
    other_metric: str = ""  # beats: ``other``'s metric, when it is not ``metric``
    blocks: str = "any"  # "supported": a failure withholds only a supported verdict (see the module docstring)
    of_setting: str = ""  # at_least/at_most: ``value`` is a fraction of this track setting of the solver's rows

    @staticmethod
    def at_least(solver: str, metric: str, value: float, agg: str = "mean", why: str = "",
                 of_setting: str = "") -> "Gate":
        return Gate("at_least", metric, solver, value, agg=agg, why=why, of_setting=of_setting)

    @staticmethod
    def at_most(solver: str, metric: str, value: float, agg: str = "mean", why: str = "",
                of_setting: str = "") -> "Gate":
        return Gate("at_most", metric, solver, value, agg=agg, why=why, of_setting=of_setting)

    @staticmethod
    def beats(solver: str, other: str, metric: str, why: str = "", other_metric: str = "",
              blocks: str = "any") -> "Gate":
        return Gate("beats", metric, solver, other=other, why=why, other_metric=other_metric, blocks=blocks)

    @staticmethod
    def attainable(ideal: str, why: str = "") -> "Gate":
        return Gate("attainable", "", ideal, why=why)

    @staticmethod
    def matched(metric: str, rel_tol: float, abs_tol: float = 0.0, why: str = "") -> "Gate":
        return Gate("matched", metric, METHOD, rel_tol, other=COMPARATOR, abs_tol=abs_tol, why=why)


@dataclass(frozen=True)
class SlopeBound:
    """A further condition of a ``trend`` claim: the log-log slope of ``metric`` against the claim's
    parameter is below ``below`` (``below = 0.1``: the metric grows by at most 10^0.1 = 26% per decade),
    or, when ``below`` is infinite, above ``above`` (``above = 0``: the metric grows with the parameter)."""

    metric: str
    below: float = math.inf
    above: float = -math.inf

    @property
    def upper(self) -> bool:
        """Whether this bound caps the slope (else it floors it)."""
        return math.isfinite(self.below)

    def holds(self, slope: float) -> bool:
        return slope < self.below if self.upper else slope > self.above

    def p_holds(self, fit) -> float:
        """One-sided p-value against the null that the bound fails."""
        return fit.p_below(self.below) if self.upper else fit.p_above(self.above)

    def p_fails(self, fit) -> float:
        """One-sided p-value against the null that the bound holds."""
        return fit.p_above(self.below) if self.upper else fit.p_below(self.above)

    def text(self) -> str:
        return f"< {self.below:g}" if self.upper else f"> {self.above:g}"


@dataclass(frozen=True)
class Claim:
    track: str
    id: str
    statement: str
    source: str
    metric: str
    method: str
    comparator: str
    relation: str
    factor: float = 1.0  # less/greater: compare with factor * comparator
    margin: float = 0.0  # within: absolute margin (the floor when rel_margin is set)
    rel_margin: float = 0.0  # within: margin relative to the comparator's mean
    tasks: str = ".*"  # regex over task names
    gates: tuple[Gate, ...] = field(default_factory=tuple)
    across: str = ""  # trend: the task-name parameter, "n" for names ending in -n{N} (or a grid key, with over)
    over: str = "task"  # trend: "task" (levels are tasks -<across><N>) or "grid" (the method's grid points' <across>)
    slope_below: float = math.inf  # trend: bound on the slope of log(metric) on log(parameter)
    slope_above: float = -math.inf  # trend: instead, a floor on that slope (e.g. 0: the metric grows)
    also: tuple[SlopeBound, ...] = field(default_factory=tuple)  # trend: further bounds that must hold
    matched: str = ""  # less/greater/within: compare on the frontiers over grid points at a matched value of this metric
    # less/greater: the comparator's value is read off its stored curve ``read_off`` (x: cost, value: quality)
    # at the method's final ``read_metric`` on the same seed (first point reaching it), times ``read_scale``
    read_off: str = ""
    read_metric: str = ""
    read_scale: float = 1.0
    # read_off: where the level comes from.  "metric": the method's final ``read_metric`` (its evaluation);
    # "curve": the last value of the method's own ``read_off`` curve, so both sides are read on the same
    # measurement (e.g. one fixed probe batch) and the level carries none of the gap between the two
    read_level: str = "metric"

    @property
    def bounds(self) -> tuple[SlopeBound, ...]:
        """trend: every slope bound, the claim's own metric first."""
        return (SlopeBound(self.metric, self.slope_below, self.slope_above), *self.also)

    def solver(self, name: str) -> str:
        return {METHOD: self.method, COMPARATOR: self.comparator}.get(name, name)


_CLAIMS: dict[tuple[str, str], Claim] = {}


def register_claim(claim: Claim) -> Claim:
    if claim.relation not in RELATIONS:
        raise unknown(f"relation of claim {claim.id}", claim.relation, RELATIONS)
    if claim.relation in MARGINED and claim.margin <= 0 and claim.rel_margin <= 0:
        raise TiltbenchError(f"claim {claim.id}: a '{claim.relation}' claim needs margin > 0 or rel_margin > 0")
    if claim.over not in TREND_OVER:
        raise unknown(f"over of claim {claim.id}", claim.over, TREND_OVER)
    name = r"[a-z]+" if claim.over == "task" else r"[a-z][a-z_0-9]*"
    if claim.relation == "trend" and not (re.fullmatch(name, claim.across)
                                          and math.isfinite(claim.slope_below) != math.isfinite(claim.slope_above)):
        raise TiltbenchError(f"claim {claim.id}: a 'trend' claim needs across = a parameter name (lowercase "
                             f"letters, e.g. 'n' for tasks named <task>-n{{N}}; with over = 'grid', a grid key) and "
                             f"one finite bound, slope_below or slope_above; got across = {claim.across!r}, "
                             f"slope_below = {claim.slope_below!r}, slope_above = {claim.slope_above!r}")
    if claim.matched and claim.relation == "trend":
        raise TiltbenchError(f"claim {claim.id}: 'matched' compares two solvers' frontiers; a trend has no comparator")
    if claim.read_off and (claim.relation not in ("less", "greater") or not claim.read_metric or claim.matched):
        raise TiltbenchError(f"claim {claim.id}: read_off needs a less/greater claim with a read_metric, and no "
                             "matched")
    if claim.read_level not in READ_LEVELS:
        raise unknown(f"read_level of claim {claim.id}", claim.read_level, READ_LEVELS)
    for gate in claim.gates:
        if gate.kind not in GATE_KINDS:
            raise unknown(f"gate kind of claim {claim.id}", gate.kind, GATE_KINDS)
        if gate.agg not in AGGREGATES:
            raise unknown(f"gate aggregate of claim {claim.id}", gate.agg, AGGREGATES)
        if gate.blocks not in GATE_BLOCKS:
            raise unknown(f"gate blocks of claim {claim.id}", gate.blocks, GATE_BLOCKS)
        if gate.blocks != "any" and (claim.relation == "trend" or claim.matched):
            raise TiltbenchError(f"claim {claim.id}: a gate that withholds only some verdicts is for a pairwise "
                                 "claim, not a trend or a matched claim")
    _CLAIMS[(claim.track, claim.id)] = claim
    return claim


def validate(claim: Claim) -> None:
    """Every solver and metric a claim or its gates name exists in its track (checked once the
    plugins are loaded, before anything is judged)."""
    from . import registry

    track = registry.get_track(claim.track)
    solver_names = [s.name for s in registry.solvers(claim.track)]
    metric_names = [m.name for m in track.metrics]
    names = [("method", claim.method)] + ([("comparator", claim.comparator)] if claim.relation != "trend" else [])
    names += [(f"{g.kind} gate solver", claim.solver(g.solver)) for g in claim.gates]
    names += [(f"{g.kind} gate solver", claim.solver(g.other)) for g in claim.gates if g.other]
    for what, name in names:
        if name not in solver_names:
            raise unknown(f"{what} of claim {claim.id} (track {claim.track})", name, solver_names)
    if claim.relation == "trend" and claim.over == "grid":
        knobs = registry.get_solver(claim.track, claim.method).tunable
        if claim.across not in knobs:
            raise unknown(f"grid key (across) of claim {claim.id} for {claim.method}", claim.across, knobs)
    trend = claim.relation == "trend"  # a trend may also fit a run column (wall_s, ...)
    allowed = [*metric_names, *RUN_COLUMNS] if trend else metric_names
    claimed = [b.metric for b in claim.bounds] if trend else [claim.metric, *([claim.matched] if claim.matched else []),
                                                              *([claim.read_metric] if claim.read_metric else [])]
    if trend and any(g.kind == "attainable" for g in claim.gates):
        raise TiltbenchError(f"claim {claim.id}: an 'attainable' gate needs a comparator; a trend has none")
    gated = [m for g in claim.gates if g.kind != "attainable" for m in (g.metric, g.other_metric) if m]
    for metric in [*claimed, *gated]:
        if metric not in allowed:
            raise unknown(f"metric of claim {claim.id} (track {claim.track})", metric, allowed)
    for g in claim.gates:
        if g.kind == "beats" and track.metric(g.metric).higher_is_better is None:
            raise TiltbenchError(f"claim {claim.id}: a 'beats' gate needs a metric with a direction; "
                                 f"{g.metric!r} is a diagnostic")
        if g.other_metric and g.kind != "beats":
            raise TiltbenchError(f"claim {claim.id}: other_metric is for 'beats' gates, not {g.kind!r}")


def claims(track: str | None = None) -> list[Claim]:
    from .registry import load_plugins

    load_plugins()
    found = sorted((c for c in _CLAIMS.values() if track is None or c.track == track), key=lambda c: (c.track, c.id))
    for claim in found:
        validate(claim)
    return found


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    task: str
    verdict: str  # supported | contradicted | inconclusive | not judged
    effect: stats.Estimate  # the paired statistic whose sign decides the claim (95% t-interval)
    n_seeds: int
    p: float = math.nan  # p-value of the deciding test (t-test, TOST or the outside-margin test)
    p_adj: float = math.nan  # Holm-adjusted over the family the claim was judged in
    margin: float = math.nan  # within: the margin used
    reason: str = ""  # why it is not judged (a failed gate) or inconclusive
    detail: str = ""  # trend: the slopes of the other bounds
    # a failed gate that withholds only support (Gate.blocks == "supported"), on a verdict it left standing:
    # printed beside the verdict, so that a loss is not read as "the method's own mechanism worked"
    note: str = ""
    # whether ``reason`` explains the verdict and is printed beside it: a failed gate, too few seeds, or an
    # unadjusted interval on one side; a bare "Holm-adjusted p ≥ alpha" is not (its p has its own column)
    explained: bool = False


class _Reads:
    """The newest ok rows (``latest_runs``) of one profile that ``judge_family`` reads, fetched once per track:
    every metric of every solver in one query, the run columns and configs in another.  A family reads dozens
    of (metric, solvers) slices; a query each cost ~20 ms on a store of 2,000 runs."""

    def __init__(self, store: Store, profile: str):
        self.store, self.profile = store, profile
        self._runs: dict[str, list[tuple]] = {}
        self._metrics: dict[str, dict[str, list[tuple]]] = {}

    def runs(self, track: str) -> list[tuple]:
        """(task, method, rep, *RUN_COLUMNS, config) of every newest ok row of ``track``."""
        if track not in self._runs:
            self._runs[track] = self.store.rows(
                f"SELECT task, method, rep, {', '.join(RUN_COLUMNS)}, config FROM latest_runs "
                "WHERE profile = ? AND track = ? ORDER BY 1, 2, 3", [self.profile, track])
        return self._runs[track]

    def values(self, track: str, metric: str) -> list[tuple[str, str, int, float]]:
        """(task, method, rep, value) of one metric (or run column), in (task, method, rep) order."""
        if metric in RUN_COLUMNS:
            i = 3 + RUN_COLUMNS.index(metric)
            return [(r[0], r[1], int(r[2]), float(r[i])) for r in self.runs(track) if r[i] is not None]
        if track not in self._metrics:
            by_name: dict[str, list[tuple]] = {}
            for task, method, rep, name, value in self.store.rows(
                    "SELECT r.task, r.method, r.rep, m.name, m.value FROM latest_runs r JOIN metrics m USING (run_id) "
                    "WHERE r.profile = ? AND r.track = ? ORDER BY 1, 2, 3", [self.profile, track]):
                by_name.setdefault(name, []).append((task, method, int(rep), math.nan if value is None else float(value)))
            self._metrics[track] = by_name
        return self._metrics[track].get(metric, [])


def _curves(store: Store, profile: str, track: str, method: str, name: str) -> dict[str, dict[int, list]]:
    """{task: {rep: [(step, value), ...] in step order}} of one stored curve of one solver, newest ok runs."""
    rows = store.rows("SELECT r.task, r.rep, c.step, c.value FROM latest_runs r JOIN curves c USING (run_id) "
                      "WHERE r.profile = ? AND r.track = ? AND r.method = ? AND c.name = ? ORDER BY 1, 2, 3",
                      [profile, track, method, name])
    out: dict[str, dict[int, list]] = {}
    for task, rep, step, value in rows:
        out.setdefault(task, {}).setdefault(int(rep), []).append(
            (float(step), math.nan if value is None else float(value)))
    return out


def read_off(curve: list[tuple[float, float]], level: float, higher_is_better: bool = True) -> float | None:
    """The x of the first curve point whose value reaches ``level`` (at or above it, or at or below it
    for a quality where lower is better); None when the curve never gets there."""
    for x, value in curve:
        if (value >= level) if higher_is_better else (value <= level):
            return x
    return None


def _read_at(claim: Claim) -> str:
    """Where a ``read_off`` claim takes its level, in words."""
    if claim.read_level == "curve":
        return f"the end of {claim.method}'s own `{claim.read_off}`"
    return f"{claim.method}'s {claim.read_metric}"


def _read_off_pairs(claim: Claim, task: str, lookup, curves: dict, own: dict | None = None) -> tuple[dict, dict, str]:
    """(method's values, comparator's values read off its curve, detail) by rep, for a ``read_off`` claim;
    ``own``: the method's own curves, whose last values are the levels when ``read_level`` is "curve"."""
    a = lookup(claim.metric, task, claim.method, claim.track)
    if claim.read_level == "curve":
        level = {rep: curve[-1][1] for rep, curve in (own or {}).get(task, {}).items() if curve}
    else:
        level = lookup(claim.read_metric, task, claim.method, claim.track)
    higher = registry.get_track(claim.track).metric(claim.read_metric).higher_is_better is not False
    b, missing = {}, 0
    for rep, q in level.items():
        if rep not in curves.get(task, {}):
            continue
        x = read_off(curves[task][rep], q, higher)
        if x is None:
            missing += 1
        else:
            b[rep] = x * claim.read_scale
    detail = (f"{claim.comparator}'s `{claim.read_off}` read at {_read_at(claim)}: reached on "
              f"{len(b)} of {len(b) + missing} seed(s)" + (" (seeds that never reach it are left out, which favours "
                                                            f"{claim.comparator})" if missing else ""))
    return a, b, detail


def _values(reads: _Reads, track: str, metric: str, solvers: set[str]) -> dict[str, dict[str, dict]]:
    """{task: {solver: {rep: value}}} of one metric (or run column) from the newest ok run of each cell."""
    out: dict[str, dict[str, dict]] = {}
    for task, method, rep, value in reads.values(track, metric):
        if method in solvers:
            out.setdefault(task, {}).setdefault(method, {})[rep] = value
    return out


def track_settings(runs) -> dict[tuple[str, str], dict[str, set[str]]]:
    """{(task, solver): {track setting: the values (as JSON) its rows ran with}} from rows with ``task``,
    ``method`` and ``config`` columns: the ``track`` part of a cell's config, e.g. a step budget a
    profile's ``task_overrides`` changed."""
    out: dict[tuple[str, str], dict[str, set[str]]] = {}
    for task, method, config in zip(runs.task, runs.method, runs.config):
        for key, value in json.loads(config or "{}").get("track", {}).items():
            out.setdefault((task, method), {}).setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    return out


def _track_settings(reads: _Reads, track: str) -> dict[tuple[str, str], dict[str, set[str]]]:
    """``track_settings`` of the newest rows of every cell of ``track``."""
    rows = reads.runs(track)
    return track_settings(SimpleNamespace(task=[r[0] for r in rows], method=[r[1] for r in rows],
                                          config=[r[-1] for r in rows]))


def _settings_differ(settings: dict, task: str, method: str, comparator: str) -> str:
    """Why a comparison of two solvers' rows on ``task`` is not like for like ('' when it is): their rows
    ran with different track settings (say, one solver re-run at a new budget, the other not yet)."""
    a, b = settings.get((task, method), {}), settings.get((task, comparator), {})
    if not a or not b:
        return ""
    # a solver whose own rows hold two values of a setting (a re-run half done) cannot be paired like for like
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) or len(a.get(k, ())) > 1 or len(b.get(k, ())) > 1)
    if not keys:
        return ""
    shown = "; ".join(f"{k} {' / '.join(sorted(a.get(k, {'—'})))} ({method}) vs "
                      f"{' / '.join(sorted(b.get(k, {'—'})))} ({comparator})" for k in keys)
    return f"the two solvers' rows ran with different track settings: {shown} (re-run the older rows)"


def _aggregate(values: dict, agg: str) -> float:
    return {"mean": lambda v: sum(v) / len(v), "min": min, "max": max}[agg](list(values.values()))


def _setting(settings: dict, task: str, solver: str, key: str) -> float | None:
    """The one numeric value of track setting ``key`` that ``solver``'s rows on ``task`` ran with, else None."""
    values = settings.get((task, solver), {}).get(key, set())
    if len(values) != 1:
        return None
    value = json.loads(next(iter(values)))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _gate_failure(gate: Gate, claim: Claim, task: str, lookup, settings: dict | None = None) -> str:
    """'' when ``gate`` holds on ``task``, else the reason it does not.  ``settings``: the track settings of
    the rows (``track_settings``), with which a two-solver gate checks that the rows are like for like."""
    solver, other = claim.solver(gate.solver), claim.solver(gate.other)
    why = f" ({gate.why})" if gate.why else ""
    settings = settings or {}
    if gate.kind == "attainable":
        return _unattainable(claim, task, solver, lookup, why)
    mine = lookup(gate.metric, task, solver)
    if not mine:
        return f"no {gate.metric} of {solver} stored on this task (not run, or not reported)"
    if gate.kind in ("at_least", "at_most"):
        bound, of = gate.value, ""
        if gate.of_setting:
            base = _setting(settings, task, solver, gate.of_setting)
            if base is None:
                return f"{solver}'s rows on this task ran with no single numeric {gate.of_setting}{why}"
            bound, of = gate.value * base, f" ({gate.value:g} × {gate.of_setting} {base:g})"
        v = _aggregate(mine, gate.agg)
        ok = v >= bound if gate.kind == "at_least" else v <= bound
        return "" if ok else f"{gate.agg} {gate.metric} of {solver} is {v:.3g}, needs {_op(gate)} {bound:.3g}{of}{why}"
    theirs_metric = gate.other_metric or gate.metric
    theirs = lookup(theirs_metric, task, other)
    if not theirs:
        return f"no {theirs_metric} of {other} stored on this task (not run, or not reported)"
    # (the claim's own pair is checked beside its gates, unless it reads grid points)
    own_pair = {solver, other} == {claim.method, claim.comparator} and not claim.matched
    if solver != other and not own_pair and (differ := _settings_differ(settings, task, solver, other)):
        return f"{gate.kind} gate {solver} vs {other}: {differ}"
    if gate.kind == "matched":
        a, b = _aggregate(mine, "mean"), _aggregate(theirs, "mean")
        tol = max(gate.value * max(abs(a), abs(b)), gate.abs_tol)
        return "" if abs(a - b) <= tol else (f"operating points differ: {gate.metric} {a:.3g} ({solver}) vs "
                                             f"{b:.3g} ({other}), tolerance {tol:.3g}{why}")
    from . import registry  # beats: the paired interval must lie on the better side

    higher = registry.get_track(claim.track).metric(gate.metric).higher_is_better
    diff = stats.paired_difference(mine, theirs)
    if stats.verdict(diff, higher) != "better":
        ci = (f"[{diff.lo:.3g}, {diff.hi:.3g}]" if diff.has_ci
              else f"with no interval: {diff.n} paired seed(s)" if diff.n else "with no paired seeds")
        mean = f"{diff.mean:+.3g} " if diff.n else ""
        if solver == other:  # a solver against another metric of its own (e.g. TdRL vs its exploration phase)
            return (f"{solver}'s {gate.metric} does not clearly beat its own {theirs_metric} "
                    f"({mean}{ci}){why}")
        on = f"{gate.metric}" if not gate.other_metric else f"{gate.metric} vs its {gate.other_metric}"
        return f"{solver} does not clearly beat {other} on {on} ({mean}{ci}){why}"
    return ""


def _higher_is_better(claim: Claim) -> bool:
    """The direction of the claim's metric (a run column such as wall_s is a cost: lower is better)."""
    from . import registry

    names = {m.name: m for m in registry.get_track(claim.track).metrics}
    return bool(names[claim.metric].higher_is_better) if claim.metric in names else False


def _unattainable(claim: Claim, task: str, ideal: str, lookup, why: str) -> str:
    """'' when ``ideal`` passes ``claim``'s relation against its comparator on ``task`` (means), else why not."""
    mine, theirs = lookup(claim.metric, task, ideal), lookup(claim.metric, task, claim.comparator)
    for solver, values in ((ideal, mine), (claim.comparator, theirs)):
        if not values:
            return f"no {claim.metric} of {solver} stored on this task (not run, or not reported)"
    a, b = _aggregate(mine, "mean"), _aggregate(theirs, "mean")
    method = lookup(claim.metric, task, claim.method)
    if method and stats.verdict(stats.paired_difference(method, mine), _higher_is_better(claim)) == "worse":
        return ""  # clearly worse than the ideal: the estimator's noise does not explain its result
    if claim.relation == "within":
        bound = max(claim.margin, claim.rel_margin * abs(b))
        ok, test = abs(a - b) <= bound, f"|{a:.3g} − {b:.3g}| > {bound:.3g}"
    elif claim.relation == "noworse":
        bound, sign = max(claim.margin, claim.rel_margin * abs(b)), -1.0 if _higher_is_better(claim) else 1.0
        ok, test = sign * (a - b) <= bound, f"{a:.3g} is worse than {b:.3g} by more than {bound:.3g}"
    else:
        ok = a < claim.factor * b if claim.relation == "less" else a > claim.factor * b
        test = f"{a:.3g} {'≥' if claim.relation == 'less' else '≤'} {claim.factor:g}·{b:.3g}"
    return "" if ok else f"even {ideal} fails this claim ({claim.metric}: {test}){why}"


def judge_family(store: Store, profile: str, family: list[Claim],
                 tasks: dict[str, set[str]] | None = None,
                 grids: dict[str, set[str]] | None = None) -> list[Judgement]:
    """Judge every claim of ``family`` on every task it covers that has runs, then apply Holm's
    correction over the whole family (entries not judged count at p = 1).  ``tasks``: per track, the
    only tasks to judge (the profile's current ones; stored rows of tasks it has since dropped are
    left out of the verdicts and of the family); a track not in it is not filtered.  ``grids``: per
    track, the grid-point labels the profile runs now (``dpo[beta=0.1]``); stored rows of points it has
    since dropped stay out of frontiers and grid trends.  A track not in it is not filtered."""
    cache: dict[tuple[str, str], dict] = {}
    reads = _Reads(store, profile)

    def keep(track: str, by_task: dict) -> dict:
        allowed = (tasks or {}).get(track)
        return by_task if allowed is None else {t: v for t, v in by_task.items() if t in allowed}

    def table(metric: str, track: str) -> dict:
        if (track, metric) not in cache:
            cache[(track, metric)] = keep(track, _values(reads, track, metric, all_solvers[track]))
        return cache[(track, metric)]

    def lookup(metric: str, task: str, solver: str, track: str) -> dict:
        return table(metric, track).get(task, {}).get(solver, {})

    all_solvers: dict[str, set[str]] = {}
    for c in family:
        all_solvers.setdefault(c.track, set()).update(
            {c.method, c.comparator, *(c.solver(g.solver) for g in c.gates), *(c.solver(g.other) for g in c.gates if g.other)})
        all_solvers[c.track].discard("")  # a trend claim has no comparator
    raw, read_curves, settings = [], {}, {}

    def settings_of(track: str) -> dict:
        if track not in settings:
            settings[track] = _track_settings(reads, track)
        return settings[track]

    for claim in family:
        labels = (grids or {}).get(claim.track)
        if claim.relation == "trend":
            points = _grid_points(reads, claim, labels) if claim.over == "grid" else {}
            raw += _judge_trend(claim, lambda m, track=claim.track: table(m, track),
                                lambda m, t, s, track=claim.track: lookup(m, t, s, track),
                                settings_of(claim.track), keep(claim.track, points))
            continue
        if claim.matched:
            judged = points = keep(claim.track, _grid_points(reads, claim, labels))
        else:
            judged = keep(claim.track, _values(reads, claim.track, claim.metric,
                                               {claim.method, claim.comparator}))
        for task in sorted(t for t in judged if re.fullmatch(claim.tasks, t)):
            detail = ""
            if claim.matched:
                a, b, detail, unmatched = _at_matched(claim, points[task])
                unmatched = _grid_settings_differ(settings_of(claim.track), task, points[task]) or unmatched
            elif claim.read_off:
                if claim.id not in read_curves:
                    read_curves[claim.id] = (
                        _curves(store, profile, claim.track, claim.comparator, claim.read_off),
                        _curves(store, profile, claim.track, claim.method, claim.read_off)
                        if claim.read_level == "curve" else {})
                a, b, detail = _read_off_pairs(claim, task, lookup, *read_curves[claim.id])
                unmatched = ""
            else:
                a = lookup(claim.metric, task, claim.method, claim.track)
                b = lookup(claim.metric, task, claim.comparator, claim.track)
                unmatched = ""
            reps = sorted(set(a) & set(b))
            factor = 1.0 if claim.relation in MARGINED else claim.factor
            diffs = [a[r] - factor * b[r] for r in reps]
            effect = stats.mean_ci(diffs)
            gate_lookup = lambda m, t, s: lookup(m, t, s, claim.track)  # noqa: E731
            track_set = settings_of(claim.track)
            failed = [f for g in claim.gates if g.blocks == "any"
                      and (f := _gate_failure(g, claim, task, gate_lookup, track_set))]
            credit = [f for g in claim.gates if g.blocks == "supported"
                      and (f := _gate_failure(g, claim, task, gate_lookup, track_set))]
            failed = [unmatched] * bool(unmatched) + failed
            if not claim.matched:  # a matched claim reads grid points, checked above
                if differ := _settings_differ(track_set, task, claim.method, claim.comparator):
                    failed.insert(0, differ)
            margin = math.nan
            if claim.relation in MARGINED and reps:  # per seed: its noise enters the test (stats.equivalence_p)
                margins = [max(claim.margin, claim.rel_margin * abs(b[r])) for r in reps]
                lower = [d + m for d, m in zip(diffs, margins)]
                upper = [d - m for d, m in zip(diffs, margins)]
                margin = sum(margins) / len(margins)
            if failed:
                raw.append(dict(claim=claim, task=task, effect=effect, margin=margin, p=math.nan,
                                verdict="not judged", reason="; ".join(failed), detail=detail))
                continue
            if effect.n < stats.MIN_SEEDS_FOR_VERDICT or not effect.has_ci:
                raw.append(dict(claim=claim, task=task, effect=effect, margin=margin, p=math.nan,
                                verdict="inconclusive",
                                reason=f"{effect.n} paired seed(s) with finite values"
                                       + (f" (seeds whose grid points all ran and whose frontiers both reach the "
                                          f"matched {claim.matched})" if claim.matched else "")
                                       + f"; a verdict needs {stats.MIN_SEEDS_FOR_VERDICT}", detail=detail))
                continue
            if claim.relation == "within":
                inside = sum(upper) < 0 < sum(lower)
                p = stats.equivalence_p(lower, upper) if inside else stats.outside_p(lower, upper)
                outcome = "supported" if inside else "contradicted"
            elif claim.relation == "noworse":  # the worse side only: worse_i = (how much worse) - margin
                worse = [-v for v in lower] if _higher_is_better(claim) else upper
                ok = sum(worse) < 0
                p = stats.one_sided_p(worse, "less" if ok else "greater")
                outcome = "supported" if ok else "contradicted"
            else:
                p = stats.t_test_p(diffs)
                right_side = effect.mean < 0 if claim.relation == "less" else effect.mean > 0
                outcome = "supported" if right_side else "contradicted"
            if outcome == "supported" and credit:  # a gate on crediting the method: the support is withheld
                raw.append(dict(claim=claim, task=task, effect=effect, margin=margin, p=math.nan,
                                verdict="not judged", reason="; ".join(credit), detail=detail))
                continue
            raw.append(dict(claim=claim, task=task, effect=effect, margin=margin, p=p, verdict=outcome, reason="",
                            detail=detail, note="; ".join(credit)))
    # The family is every judgement the claims cover: one that is not judged, or lacks seeds, stays in
    # it at p = 1, so a failed gate can never make another claim's verdict easier.
    adjusted = stats.holm([r["p"] if math.isfinite(r["p"]) else 1.0 for r in raw])
    untuned = _Tuning(reads).untuned
    out = []
    for r, p_adj in zip(raw, adjusted):
        verdict, reason = r["verdict"], r["reason"]
        explained = verdict in ("not judged", "inconclusive")
        if not math.isfinite(r["p"]):
            p_adj = math.nan
        if verdict in ("supported", "contradicted") and not p_adj < stats.ALPHA:
            e = r["effect"]  # say which way an unadjusted interval points when it excludes 0: a reader must not
            # take "inconclusive" for "no difference" when the raw interval lies wholly on one side
            side = ("" if r["claim"].relation not in ("less", "greater") or not e.has_ci or e.lo <= 0 <= e.hi
                    else "; its unadjusted interval lies "
                    + ("for" if verdict == "supported" else "against") + " the claim")
            verdict, reason = "inconclusive", f"Holm-adjusted p = {p_adj:.2g} ≥ {stats.ALPHA:g}{side}"
            explained = bool(side)
        elif verdict in ("supported", "contradicted"):
            claim = r["claim"]  # a trend is a property of the algorithm at the configuration it ran, and a
            # matched claim compares whole grids: both exempt
            loser = "" if claim.relation == "trend" or claim.matched else _against(claim, verdict, r["effect"])
            if loser and (knobs := untuned(claim.track, r["task"], loser)):
                verdict, reason = "not judged", (f"{verdict} (Holm p = {p_adj:.2g}) only against an untuned "
                                                 f"{loser}: {knobs}")
                explained = True
        out.append(Judgement(r["claim"], r["task"], verdict, r["effect"], r["effect"].n, r["p"], p_adj,
                             r["margin"], reason, r.get("detail", ""), r.get("note", ""), explained))
    return out


def _grid_points(reads: _Reads, claim: Claim, labels: set[str] | None = None) -> dict[str, dict[str, dict]]:
    """{task: {solver: {grid-point label: {seed: (x, quality)}}}}, newest ok run of each cell: a matched
    claim's two solvers' grid points as (``claim.matched``, ``claim.metric``) pairs, or a grid trend's
    method's points as (the point's value of ``claim.across``, ``claim.metric``).  ``labels``: the grid
    points the profile runs now (None: every stored one)."""
    from .tuning import base_name, is_grid_point, point_of

    trend = claim.relation == "trend"
    metrics = (claim.metric,) if trend else (claim.matched, claim.metric)
    values = {}
    for metric in metrics:
        values[metric] = {(task, method, rep): value for task, method, rep, value in reads.values(claim.track, metric)
                          if "[" in method}
    out: dict[str, dict[str, dict]] = {}
    for (task, label, rep), q in values[claim.metric].items():
        solver = base_name(label)
        if not is_grid_point(label) or (labels is not None and label not in labels):
            continue
        if solver not in ((claim.method,) if trend else (claim.method, claim.comparator)):
            continue
        if trend:
            x = point_of(label).get(claim.across)  # a float, or the text of a non-numeric value
            x = x if isinstance(x, float) else None
        else:
            x = values[claim.matched].get((task, label, rep))
        if x is not None and math.isfinite(x) and math.isfinite(q):
            out.setdefault(task, {}).setdefault(solver, {}).setdefault(label, {})[rep] = (x, q)
    return out


def _grid_settings_differ(settings: dict, task: str, points: dict[str, dict]) -> str:
    """Why the grid points ``points`` ({solver: {label: ...}}) on ``task`` are not like for like ('' when they
    are): their rows ran with different track settings (a budget or data set changed since some ran)."""
    merged: dict[str, set[str]] = {}
    for by_label in points.values():
        for label in by_label:
            for key, values in settings.get((task, label), {}).items():
                merged.setdefault(key, set()).update(values)
    keys = sorted(k for k, v in merged.items() if len(v) > 1)
    if not keys:
        return ""
    shown = "; ".join(f"{k}: {' / '.join(sorted(merged[k]))}" for k in keys)
    return f"the grid points' rows ran with different track settings ({shown}; re-run the older points)"


def _at_matched(claim: Claim, points: dict[str, dict]) -> tuple[dict, dict, str, str]:
    """(method's, comparator's {seed: quality} at the matched x, detail, '' or why it cannot be judged)."""
    from . import tuning

    mine, theirs = points.get(claim.method, {}), points.get(claim.comparator, {})
    few = [f"{s} has {len(p)}" for s, p in ((claim.method, mine), (claim.comparator, theirs)) if len(p) < 2]
    if few:
        return {}, {}, "", (f"a frontier in {claim.matched} needs 2 or more grid points per solver on this task; "
                            + ", ".join(few))
    # x is a divergence or cost (lower is better) unless the matched metric is an achievement (e.g. reward)
    lower_x = registry.get_track(claim.track).metric(claim.matched).higher_is_better is not True
    x_star, a, b = tuning.at_matched_x(mine, theirs, _higher_is_better(claim), lower_x)
    if not math.isfinite(x_star):
        spans = []
        for s, p in ((claim.method, mine), (claim.comparator, theirs)):
            xs = [float(np.mean([x for x, _ in p[k].values()])) for k in tuning.frontier(p, _higher_is_better(claim),
                                                                                         lower_x)]
            spans.append(f"{s} {min(xs):.3g}–{max(xs):.3g}")
        return {}, {}, "", f"the frontiers do not overlap in {claim.matched} ({'; '.join(spans)}: means of their " \
                           "Pareto-optimal grid points)"
    return a, b, (f"at {claim.matched} = {x_star:.3g} on the frontiers over {len(mine)} and {len(theirs)} grid "
                  "points (validation split, tuning seeds)"), ""


class _Tuning:
    """Whether a solver's judged rows on a task were tuned: every one of them (``latest_runs``) records
    the grid point it was selected from, and that task's grid varied one of the solver's tunable keys
    over at least two values."""

    def __init__(self, reads: _Reads):
        self.reads, self.cache = reads, {}

    def _rows(self, track: str):
        """({(task, solver): (judged rows, of which tuned)}, {(task, solver): [grid points run, any status]})"""
        from .tuning import base_name

        if track not in self.cache:
            judged: dict[tuple[str, str], list[int]] = {}
            for task, method, *_, config in self.reads.runs(track):
                counts = judged.setdefault((task, method), [0, 0])
                counts[0] += 1
                counts[1] += "grid" in json.loads(config or "{}")
            grid: dict[tuple[str, str], list[dict]] = {}
            for task, method, point in self.reads.store.rows(
                    "SELECT DISTINCT task, method, CAST(json_extract(config, '$.grid') AS VARCHAR) FROM runs "
                    "WHERE profile = ? AND track = ? AND contains(method, '[')", [self.reads.profile, track]):
                if point:
                    grid.setdefault((task, base_name(method)), []).append(json.loads(point))
            self.cache[track] = judged, grid
        return self.cache[track]

    def untuned(self, track: str, task: str, solver: str) -> str:
        """'' when ``solver`` needs no tuning or was tuned on ``task``, else why it counts as untuned."""
        knobs = registry.get_solver(track, solver).tunable
        if not knobs:
            return ""
        judged, grid = self._rows(track)
        n, tuned = judged.get((task, solver), (0, 0))
        points = grid.get((task, solver), [])
        varied = [k for k in knobs if len({json.dumps(p.get(k)) for p in points if k in p}) >= 2]
        what = f"its hyperparameters ({', '.join(knobs)})"
        if not n or tuned < n:
            return f"{what} were not tuned (no grid selection for every judged seed on this task)"
        if not varied:
            return f"its grid varied none of {what} over two or more values"
        return ""


def _against(claim: Claim, verdict: str, effect: stats.Estimate) -> str:
    """The solver a verdict goes against (see "Tuning" in the module docstring), or ''."""
    if verdict == "contradicted" and claim.relation == "within":
        method_worse = effect.mean < 0 if _higher_is_better(claim) else effect.mean > 0
        return claim.method if method_worse else claim.comparator
    if verdict == "contradicted":
        return claim.method
    if verdict == "supported":  # beating, or matching, an untuned comparator says little
        return claim.comparator
    return ""


def trend_groups(claim: Claim, tasks) -> dict[str, dict[str, float]]:
    """{group: {task: parameter value}}: the tasks matching the claim whose names carry
    ``-{across}{value}``, grouped by the name without it (gaussian-d16-lam32-n1000 -> gaussian-d16-lam32)."""
    part = re.compile(rf"-{claim.across}(\d+(?:\.\d+)?)(?=-|$)")
    groups: dict[str, dict[str, float]] = {}
    for task in sorted(tasks):
        match = part.search(task)
        if match and re.fullmatch(claim.tasks, task) and float(match.group(1)) > 0:
            group = task[:match.start()] + task[match.end():]
            groups.setdefault(group, {})[task] = float(match.group(1))
    return groups


def _grid_levels(claim: Claim, points: dict) -> dict[str, tuple[dict, dict, list[str]]]:
    """A grid trend's groups: {task: ({label: level}, {label: {rep: value}}, [the tasks its gates check])}
    from ``points`` ({task: {method: {label: {rep: (level, value)}}}}, ``_grid_points``)."""
    out = {}
    for task, by_solver in sorted(points.items()):
        if not re.fullmatch(claim.tasks, task):
            continue
        mine = {lab: p for lab, p in by_solver.get(claim.method, {}).items() if p and next(iter(p.values()))[0] > 0}
        level = {lab: next(iter(p.values()))[0] for lab, p in mine.items()}
        out[task] = (level, {lab: {rep: v for rep, (_, v) in p.items()} for lab, p in mine.items()}, [task])
    return out


def _judge_trend(claim: Claim, table, lookup, settings: dict | None = None, points: dict | None = None) -> list[dict]:
    """One raw judgement per group of a ``trend`` claim (see the module docstring for the rule).

    ``table(metric)`` gives {task: {solver: {rep: value}}}; ``lookup(metric, task, solver)`` one cell;
    ``points``: a grid trend's grid points (``_grid_points``)."""
    if claim.over == "grid":
        groups = {f"{task} ({claim.method}'s grid points, validation split)": g
                  for task, g in _grid_levels(claim, points or {}).items()}
    else:
        ran = [t for t, by_solver in table(claim.metric).items() if by_solver.get(claim.method)]
        groups = {group: (level, None, list(level)) for group, level in trend_groups(claim, ran).items()}
    raw = []
    for group, (level, grid_values, gated) in groups.items():
        if not level:
            continue
        label = f"{group} ({claim.across} = {min(level.values()):g}…{max(level.values()):g})"
        base = dict(claim=claim, task=label, margin=math.nan, p=math.nan,
                    effect=stats.Estimate(math.nan, math.nan, math.nan, 0))
        gates_failed = [f"{task}: {f}" for task in gated for g in claim.gates
                        if (f := _gate_failure(g, claim, task, lookup, settings))]
        unlike = []  # levels that are not like for like: no slope is fitted at all
        if grid_values is not None and (differ := _grid_settings_differ(
                settings or {}, gated[0], {claim.method: dict.fromkeys(level)})):
            unlike.append(differ)
        if grid_values is not None:
            from .tuning import point_of
            keys = {k for lab in level for k in point_of(lab)} - {claim.across}
            if varied := sorted(k for k in keys if len({str(point_of(lab).get(k)) for lab in level}) > 1):
                unlike.insert(0, f"the grid varies {', '.join(varied)} besides {claim.across}: a level's mean would "
                                 "mix settings")
        if unlike:
            raw.append(dict(base, verdict="not judged", reason="; ".join(unlike + gates_failed)))
            continue
        if len(set(level.values())) < MIN_TREND_LEVELS:
            raw.append(dict(base, verdict="not judged",
                            reason="; ".join([f"{len(set(level.values()))} value(s) of {claim.across} stored; a trend "
                                              f"needs {MIN_TREND_LEVELS}", *gates_failed])))
            continue
        fits, bad = [], []
        for bound in claim.bounds:
            if grid_values is not None and bound.metric != claim.metric:
                bad.append(f"a grid trend fits only its own metric ({claim.metric}), not {bound.metric}")
                continue
            values = (lambda t: grid_values[t]) if grid_values is not None else \
                (lambda t, m=bound.metric: lookup(m, t, claim.method))
            points = [(math.log(level[t]), v) for t in level for v in values(t).values()]
            if any(not v > 0 for _, v in points):
                bad.append(f"{bound.metric} has values ≤ 0 (no logarithm)")
                continue
            fits.append((bound, stats.level_slope([x for x, _ in points], [math.log(v) for _, v in points])))
        if bad or any(fit.df < 1 for _, fit in fits):
            raw.append(dict(base, verdict="not judged", reason="; ".join(bad + gates_failed) or "too few points for a slope"))
            continue
        detail = "; ".join(f"{bound.metric} slope {fit.slope:.3g} [{fit.interval().lo:.3g}, {fit.interval().hi:.3g}]"
                           f" (bound {bound.text()})" for bound, fit in fits[1:])
        if gates_failed:  # the slope is still shown, as a paired claim shows its statistic when a gate fails
            raw.append(dict(base, effect=fits[0][1].interval(), detail=detail, verdict="not judged",
                            reason="; ".join(gates_failed)))
            continue
        holds = [bound.holds(fit.slope) for bound, fit in fits]
        if all(holds):
            outcome, p = "supported", max(bound.p_holds(fit) for bound, fit in fits)
        else:
            outcome = "contradicted"
            p = min(1.0, len(fits) * min(bound.p_fails(fit) for (bound, fit), ok in zip(fits, holds) if not ok))
        raw.append(dict(base, effect=fits[0][1].interval(), p=p, verdict=outcome, reason="", detail=detail))
    return raw


def judge(store: Store, profile: str, claim: Claim) -> list[Judgement]:
    """One claim judged alone (a family of one: no multiplicity correction)."""
    return judge_family(store, profile, [claim])


def describe(claim: Claim) -> str:
    if claim.relation == "trend":
        return " and ".join(f"slope of log {b.metric} on log {claim.across} {b.text()}" for b in claim.bounds) \
            + f" ({claim.method}{'; its grid points' if claim.over == 'grid' else ''})"
    if claim.relation in MARGINED:
        if claim.rel_margin:
            margin = f"max({claim.margin:g}, {claim.rel_margin:g}·|{claim.comparator}|)" if claim.margin \
                else f"{claim.rel_margin:g}·|{claim.comparator}|"
        else:
            margin = f"{claim.margin:g}"
        text = (f"|{claim.method} − {claim.comparator}| ≤ {margin} on {claim.metric}" if claim.relation == "within"
                else f"{claim.method} no worse than {claim.comparator} by more than {margin} on {claim.metric}")
    else:
        op = "<" if claim.relation == "less" else ">"
        scaled = claim.comparator if claim.factor == 1 else f"{claim.factor:g}·{claim.comparator}"
        text = f"{claim.method} {op} {scaled} on {claim.metric}"
    if claim.read_off:
        text += f", {claim.comparator}'s read off its `{claim.read_off}` curve at {_read_at(claim)}"
    return text + (f" at matched {claim.matched} (frontiers over grid points)" if claim.matched else "")


def _op(gate: Gate) -> str:
    """The comparison of an ``at_least`` / ``at_most`` gate, as printed."""
    return "≥" if gate.kind == "at_least" else "≤"


def describe_gate(claim: Claim, gate: Gate) -> str:
    solver, other = claim.solver(gate.solver), claim.solver(gate.other)
    if gate.kind in ("at_least", "at_most"):
        bound = f"{gate.value:g} × {gate.of_setting}" if gate.of_setting else f"{gate.value:g}"
        return f"{gate.agg} {gate.metric} of {solver} {_op(gate)} {bound}"
    if gate.kind == "beats":
        only = " (withholds only a supported verdict)" if gate.blocks == "supported" else ""
        if gate.other_metric:
            return f"{gate.metric} of {solver} beats {gate.other_metric} of {other}{only}"
        return f"{solver} beats {other} on {gate.metric}{only}"
    if gate.kind == "attainable":
        return f"{solver} would pass it"
    if gate.value and gate.abs_tol:
        tol = f"max({gate.value:g}×, {gate.abs_tol:g})"
    else:
        tol = f"{gate.value:g}× the larger" if gate.value else f"{gate.abs_tol:g}"
    return f"{gate.metric} of {solver} and {other} within {tol}"
