"""The report's tuning section: every grid point with its validation score, the selected point of
each solver, its grid size, and the track's frontier over grid points (a plot, and each pair of
solvers compared at a matched divergence or cost).  Protocol: tiltbench/tuning.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from . import registry, stats, tuning
from .report import values_by_rep


def split_grid(data: dict) -> tuple[dict, dict]:
    """(leaderboard rows, grid-point rows): grid points are labelled ``solver[key=value]``."""
    main, grid = dict(data), dict(data)
    for key in ("runs", "failed", "curves"):
        frame = data[key]
        mask = frame.method.map(tuning.is_grid_point).astype(bool)
        main[key], grid[key] = frame[~mask], frame[mask]
    return main, grid


def _points(grid, task: str, solver: str) -> list[str]:
    """The solver's grid points on ``task`` that ran, ok or failed (a point whose every seed failed is listed
    too, with its reason)."""
    labels = set(grid["runs"][grid["runs"].task == task].method) | set(grid["failed"][grid["failed"].task == task].method)
    return sorted({m for m in labels if tuning.base_name(m) == solver}, key=tuning.point_order)


def _recorded_choice(tuned_runs, task: str, solver: str) -> str | None:
    """The grid point the solver's evaluation rows on ``task`` record (``config.grid``), as a label."""
    rows = tuned_runs[(tuned_runs.task == task) & (tuned_runs.method == solver)] if len(tuned_runs) else tuned_runs
    points = {json.dumps(json.loads(c).get("grid", {}), sort_keys=True) for c in rows.config} if len(rows) else set()
    points.discard("{}")
    return tuning.label(solver, json.loads(points.pop())) if len(points) == 1 else None


def tuning_section(track: registry.Track, grid: dict, tasks: list[str], plot_dir: Path, prefix: str,
                   tuned_runs=None) -> list[str]:
    """``tuned_runs``: the leaderboard's rows, whose configs record the grid point each solver was run with."""
    from .report import cell, fmt_est

    if not len(grid["runs"]) and not len(grid["failed"]):
        return []
    default = track.selection_metric()
    own = {s.name: s.selection_metric(track) for s in registry.solvers(track.name) if s.selection}
    better = "higher" if default.higher_is_better else "lower"
    others = "".join(f"; `{name}` on its `{m.name}`" for name, m in sorted(own.items()))
    lines = ["## Tuning", "",
             f"Grid points run on the validation split ({cell(track.validation)}) with tuning seeds of their own; "
             f"the point with the best mean `{default.name}` ({better} is better{others}) is selected (✓) and its "
             "configuration runs the evaluation seeds on the test split under the solver's plain name, which is "
             "what the leaderboard and the claims compare (✓ marks the point those rows record). A point with a "
             "failed seed is left out of the selection. A selected point at the lowest or highest value a key's "
             "grid ran (of three or more) says *grid edge*: the best setting may lie outside the grid. Grid sizes "
             "differ between solvers, so tuning budgets are listed.", ""]
    solvers = sorted({tuning.base_name(m) for m in grid["runs"].method} | {tuning.base_name(m) for m in grid["failed"].method})
    sizes = []
    for s in solvers:
        n_points = len({m for m in grid["runs"].method if tuning.base_name(m) == s}
                       | {m for m in grid["failed"].method if tuning.base_name(m) == s})
        n_seeds = len(set(grid["runs"][grid["runs"].method.map(tuning.base_name) == s].rep)
                      | set(grid["failed"][grid["failed"].method.map(tuning.base_name) == s].rep))
        sizes.append(f"`{s}`: {n_points} point(s) × {n_seeds} tuning seed(s)")
    lines += ["Tuning budget per solver: " + "; ".join(sizes) + ".", ""]
    for task in tasks:
        rows = []
        for s in solvers:
            metric = own.get(s, default)
            labels = _points(grid, task, s)
            scores = {m: list(values_by_rep(grid, task, m, metric.name).values()) for m in labels}
            recorded = _recorded_choice(tuned_runs, task, s) if tuned_runs is not None else None
            chosen = recorded or tuning.select(scores, bool(metric.higher_is_better))
            edge = tuning.at_edge(chosen, labels) if chosen else []
            for m in labels:
                fails = grid["failed"][(grid["failed"].task == task) & (grid["failed"].method == m)]
                mark = ("✓" + (f" (grid edge: {', '.join(edge)})" if edge else "")) if m == chosen else ""
                rows.append(f"| {s} | `{m}` | {metric.name} | {fmt_est(stats.mean_ci(scores[m]))} | {len(scores[m])} | "
                            f"{mark} | {cell(fails.reason.iloc[0][:60]) if len(fails) else ''} |")
        if rows:
            lines += [f"### {task}: grid points", "",
                      "| solver | grid point | selected on | validation score [95% CI] | seeds | selected | failed |",
                      "|---|---|---|---|---|---|---|", *rows, ""]
        if track.frontier:
            lines += frontier_lines(track, grid, task, solvers, plot_dir, prefix)
    return lines


def _grid_points(grid, task: str, solver: str, quality: str, cost: str) -> tuning.Points:
    """{label: {seed: (cost, quality)}} of the solver's grid points on ``task``."""
    out = {}
    for m in _points(grid, task, solver):
        q, c = values_by_rep(grid, task, m, quality), values_by_rep(grid, task, m, cost)
        out[m] = {r: (c[r], q[r]) for r in sorted(set(q) & set(c))}
    return out


def frontier_lines(track: registry.Track, grid, task: str, solvers: list[str], plot_dir: Path, prefix: str) -> list[str]:
    from .report import fmt, fmt_est

    quality, cost = track.frontier
    higher = bool(track.metric(quality).higher_is_better)
    points = {s: _grid_points(grid, task, s, quality, cost) for s in solvers}
    fronts = {s: f for s in solvers if (f := tuning.frontier(points[s], higher))}
    if not fronts:
        return []
    lines = []
    name = f"frontier_{task}.png"
    if plot_frontier(grid, task, fronts, solvers, quality, cost, higher, plot_dir / name):
        lines += [f"![{quality} vs {cost}, {task}]({prefix}/{name})", ""]
    pairs = [(a, b) for i, a in enumerate(sorted(fronts)) for b in sorted(fronts)[i + 1:]]
    rows = []
    for a, b in pairs:
        x_star, qa, qb = tuning.at_matched_x(points[a], points[b], higher)
        if not math.isfinite(x_star):
            rows.append(f"| {a} − {b} | — | — | frontiers do not overlap in {cost} |")
            continue
        diff = stats.paired_difference(qa, qb)
        note = "" if diff.n >= stats.MIN_SEEDS_FOR_VERDICT else f"fewer than {stats.MIN_SEEDS_FOR_VERDICT} seeds: descriptive"
        rows.append(f"| {a} − {b} | {fmt(x_star)} | {fmt_est(diff)} ({diff.n} seeds) | {note} |")
    if rows:
        lines += [f"{quality} at a matched {cost} (read off each solver's frontier by linear interpolation, per "
                  f"tuning seed, at the middle of the range both frontiers cover; paired t-interval):", "",
                  f"| difference | at {cost} | {quality} difference [95% CI] | note |", "|---|---|---|---|", *rows, ""]
    return lines


def plot_frontier(grid, task, fronts, solvers, quality, cost, higher, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import _save

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    drawn = False
    for i, s in enumerate(solvers):
        color = f"C{i}"
        pts = []
        for m in _points(grid, task, s):
            q, c = values_by_rep(grid, task, m, quality), values_by_rep(grid, task, m, cost)
            reps = sorted(set(q) & set(c))
            if not reps:
                continue
            eq, ec = stats.mean_ci([q[r] for r in reps]), stats.mean_ci([c[r] for r in reps])
            yerr = [[eq.mean - eq.lo], [eq.hi - eq.mean]] if eq.has_ci else None
            xerr = [[ec.mean - ec.lo], [ec.hi - ec.mean]] if ec.has_ci else None
            ax.errorbar([ec.mean], [eq.mean], yerr=yerr, xerr=xerr, fmt="o", color=color, ms=4, capsize=2,
                        alpha=1.0 if m in fronts.get(s, []) else 0.35)
            ax.annotate(m[len(s):], (ec.mean, eq.mean), fontsize=6, xytext=(3, 3), textcoords="offset points")
            pts.append((m, ec.mean, eq.mean))
            drawn = True
        front = [(x, y) for m, x, y in pts if m in fronts.get(s, [])]
        if front:
            front.sort()
            ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=color, label=f"{s} (frontier)")
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xlabel(f"{cost} (lower is better)")
    ax.set_ylabel(f"{quality} ({'higher' if higher else 'lower'} is better)")
    lo, hi = ax.get_xlim()
    if lo > 0 and hi > 10 * lo:
        ax.set_xscale("log")
    ax.set_title(f"{task}: grid points (validation), 95% t-intervals", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True
