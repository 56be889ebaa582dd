"""Paper claims as checkable hypotheses, judged from stored runs.

A claim compares one metric of a method with a comparator (another solver) on the tasks it names:

- ``less`` / ``greater``: method < factor * comparator (or >), per seed, paired;
- ``within``: |method - comparator| <= margin (an equivalence claim).

The verdict per task is 'supported' when the 95% CI of the paired statistic lies wholly on the
claimed side, 'contradicted' when it lies wholly on the other, and 'inconclusive' otherwise,
including whenever fewer than ``stats.MIN_SEEDS_FOR_VERDICT`` paired seeds exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import stats
from .store import Store

RELATIONS = ("less", "greater", "within")


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
    margin: float = 0.0  # within: allowed |difference|
    tasks: str = ".*"  # regex over task names


_CLAIMS: dict[tuple[str, str], Claim] = {}


def register_claim(claim: Claim) -> Claim:
    if claim.relation not in RELATIONS:
        raise ValueError(f"claim {claim.id}: relation {claim.relation!r}; valid: {', '.join(RELATIONS)}")
    _CLAIMS[(claim.track, claim.id)] = claim
    return claim


def claims(track: str | None = None) -> list[Claim]:
    from .registry import load_plugins

    load_plugins()
    return sorted((c for c in _CLAIMS.values() if track is None or c.track == track), key=lambda c: (c.track, c.id))


@dataclass(frozen=True)
class Judgement:
    claim: Claim
    task: str
    verdict: str
    effect: stats.Estimate  # the paired statistic whose sign decides the claim
    n_seeds: int


def _paired_values(store: Store, profile: str, claim: Claim) -> dict[str, tuple[dict, dict]]:
    df = store.query("SELECT r.task, r.method, r.rep, m.value FROM latest_runs r JOIN metrics m USING (run_id) "
                     "WHERE r.profile = ? AND r.track = ? AND m.name = ? AND r.method IN (?, ?) ORDER BY 1, 2, 3",
                     [profile, claim.track, claim.metric, claim.method, claim.comparator])
    out: dict[str, tuple[dict, dict]] = {}
    for row in df.itertuples():
        if not re.fullmatch(claim.tasks, row.task):
            continue
        a, b = out.setdefault(row.task, ({}, {}))
        (a if row.method == claim.method else b)[int(row.rep)] = float(row.value)
    return out


def judge(store: Store, profile: str, claim: Claim) -> list[Judgement]:
    """One judgement per task the claim covers and the store has runs for."""
    result = []
    for task, (a, b) in sorted(_paired_values(store, profile, claim).items()):
        reps = sorted(set(a) & set(b))
        if claim.relation == "within":
            diffs = [a[r] - b[r] for r in reps]
        else:  # statistic that must be negative for 'less', positive for 'greater'
            diffs = [a[r] - claim.factor * b[r] for r in reps]
        effect = stats.mean_ci(diffs)
        enough = effect.n >= stats.MIN_SEEDS_FOR_VERDICT and effect.has_ci
        if not enough:
            verdict = "inconclusive"
        elif claim.relation == "within":
            inside = -claim.margin <= effect.lo and effect.hi <= claim.margin
            outside = effect.lo > claim.margin or effect.hi < -claim.margin
            verdict = "supported" if inside else ("contradicted" if outside else "inconclusive")
        else:
            sign = -1 if claim.relation == "less" else 1
            lo, hi = sorted((sign * effect.lo, sign * effect.hi))
            verdict = "supported" if lo > 0 else ("contradicted" if hi < 0 else "inconclusive")
        result.append(Judgement(claim, task, verdict, effect, effect.n))
    return result


def describe(claim: Claim) -> str:
    if claim.relation == "within":
        return f"|{claim.method} − {claim.comparator}| ≤ {claim.margin:g} on {claim.metric}"
    op = "<" if claim.relation == "less" else ">"
    scaled = claim.comparator if claim.factor == 1 else f"{claim.factor:g}·{claim.comparator}"
    return f"{claim.method} {op} {scaled} on {claim.metric}"
