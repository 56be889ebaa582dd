"""Markdown leaderboards and PNG plots, rendered from stored runs only.

For one profile, each track gets ``<out>/<track>.md`` with plots in ``<out>/<track>/``, plus an
index ``<out>/index.md``.  Rendering is a pure function of the stored rows: the same rows give the
same bytes (no timestamps; seeded bootstrap; PNGs written without version metadata).
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from . import claims as claims_mod
from . import registry, stats
from .formatting import cell, fmt, fmt_est, fmt_p
from .profiles import find_profile, profile_grids, profile_methods, profile_tasks
from .store import Store

if TYPE_CHECKING:
    import pandas as pd

# curves named image/... hold small sample images (pixel index as step) for a track's own report section;
# they are not learning curves
IMAGE_PREFIX = "image/"
COST_COLUMNS = {"wall_s": "wall s", "cpu_s": "CPU s", "gpu_s": "GPU s", "peak_mem_mb": "peak MB"}


def aggregation_version() -> str:
    """Hash of the code that turns rows into tables (this module, stats, claims, the tuning section and the
    number formats): their syntax trees without comments and docstrings, as a cell's code version is, so
    that editing prose does not re-stamp every report."""
    from .runner import module_source_hash

    return module_source_hash("tiltbench.report", "tiltbench.stats", "tiltbench.claims", "tiltbench.tuning",
                              "tiltbench.report_tuning", "tiltbench.formatting")[:12]


def _mean(values) -> float:
    """Plain mean (cost columns show no CI, so no bootstrap is spent on them)."""
    values = list(values)
    return float(sum(values) / len(values)) if values else math.nan


def fmt_values(values: list[float]) -> str:
    """Mean [95% CI] of values over seeds, or a dash when there are none."""
    return fmt_est(stats.mean_ci(values)) if values else "—"


def load(store: Store, profile: str, track: str) -> dict[str, pd.DataFrame]:
    q = store.query
    runs = q("SELECT * FROM latest_runs WHERE profile = ? AND track = ? ORDER BY task, method, rep",
             [profile, track])
    failed = q("SELECT f.* FROM failures f WHERE profile = ? AND track = ? ORDER BY task, method, rep",
               [profile, track])
    if len(failed) and len(runs):  # a failure a later ok run of the same cell (e.g. after a fix) superseded
        later = failed.merge(runs[["task", "method", "rep", "finished_at"]], on=["task", "method", "rep"],
                             how="left", suffixes=("", "_ok"))
        failed = failed[~(later.finished_at_ok > later.finished_at).to_numpy()].reset_index(drop=True)
    metrics = q("SELECT m.run_id, m.name, m.value FROM metrics m JOIN latest_runs r USING (run_id) "
                "WHERE r.profile = ? AND r.track = ? ORDER BY m.run_id, m.name", [profile, track])
    curves = q("SELECT r.task, r.method, r.rep, c.name, c.step, c.value FROM curves c JOIN latest_runs r "
               "USING (run_id) WHERE r.profile = ? AND r.track = ? ORDER BY 1, 2, 3, 4, 5", [profile, track])
    envs = q("SELECT * FROM environments WHERE env_id IN (SELECT env_id FROM latest_runs WHERE profile = ? AND "
             "track = ? UNION SELECT r.env_id FROM failures f JOIN runs r USING (run_id) WHERE f.profile = ? AND "
             "f.track = ?) ORDER BY env_id", [profile, track, profile, track])
    return {"runs": runs, "failed": failed, "metrics": metrics, "curves": curves, "envs": envs}


def metric_values(data, method: str, metric: str, task: str | None = None) -> list[float]:
    """Every stored value of one metric of one solver, over seeds (and over all tasks when ``task`` is None)."""
    runs, m = data["runs"], data["metrics"]
    sel = runs[(runs.method == method) & ((runs.task == task) if task is not None else True)]
    return m[(m.name == metric) & m.run_id.isin(sel.run_id)].value.tolist()


def values_by_rep(data, task: str, method: str, metric: str) -> dict[int, float]:
    runs = data["runs"]
    sel = runs[(runs.task == task) & (runs.method == method)]
    if metric in COST_COLUMNS:
        return dict(zip(sel.rep, sel[metric]))
    m = data["metrics"]
    m = m[(m.name == metric) & m.run_id.isin(sel.run_id)].merge(sel[["run_id", "rep"]], on="run_id")
    return dict(zip(m.rep, m.value))


def stamp(data, profile: str) -> list[str]:
    runs, envs = data["runs"], data["envs"]
    hw = sorted({f"{e.cpu_model} ({e.cores} cores, {e.ram_gb:g} GiB"
                 + (f", {e.gpu_name} {e.gpu_mem_gb:g} GiB" if e.gpu_name else ", no GPU") + ")"
                 for e in envs.itertuples()})
    commits = sorted({f"{e.git_commit[:10]}{'+dirty' if e.git_dirty else ''}" for e in envs.itertuples()})
    seeds = sorted({int(s) for s in runs.seed}) if len(runs) else []
    about = getattr(find_profile(profile)[0], "description", "")
    return [f"- profile: `{profile}`{' (' + about + ')' if about else ''}; seeds per cell: "
            f"{runs.rep.nunique() if len(runs) else 0} "
            f"(cell seeds {', '.join(map(str, seeds[:6]))}{' …' if len(seeds) > 6 else ''})",
            f"- hardware: {'; '.join(hw) or 'unknown'}",
            f"- code: commit {', '.join(commits) or 'unknown'}; aggregation `{aggregation_version()}`; "
            f"executor {', '.join(sorted({f'{e.executor}×{e.workers}' for e in envs.itertuples()}))}"
            + ("" if not any("+dirty" in c for c in commits) else
               " (`+dirty`: the checkout had uncommitted edits when those rows ran; what identifies a row's code "
               "is its code version, a hash of its solver's and track's modules, and a row whose code version "
               "differs from this checkout's is marked stale)"),
            f"- CIs: {stats.CONFIDENCE:.0%} {stats.INTERVAL} intervals over seeds (they undercover heavily skewed "
            "metrics); rank = 1 + number of rows whose CI is entirely better (overlapping CIs tie; a row without "
            "an interval, e.g. one seed, is compared on means); P(method better) is a point estimate"]


def task_settings_note(runs: pd.DataFrame) -> list[str]:
    """A line naming the track settings that differ between the shown tasks (a profile's
    ``task_overrides``, e.g. a longer budget on one task), read from the rows themselves."""
    per_task: dict[str, dict[str, set[str]]] = {}
    for (task, _), settings in claims_mod.track_settings(runs).items():
        for key, values in settings.items():
            per_task.setdefault(task, {}).setdefault(key, set()).update(values)
    keys = sorted({k for values in per_task.values() for k in values})
    differing = [k for k in keys if len(set().union(*(v.get(k, {"—"}) for v in per_task.values()))) > 1]
    if not differing:
        return []
    parts = [f"`{task}`: " + ", ".join(f"{k} = {' / '.join(sorted(per_task[task].get(k, {'—'})))}" for k in differing)
             for task in sorted(per_task, key=_task_order)]
    return [f"- settings that differ by task (the profile's `task_overrides`): {'; '.join(parts)}"]


def stale_note(track: registry.Track, runs: pd.DataFrame) -> list[str]:
    """A warning naming the solvers whose shown runs were made by other code than this checkout's
    (their numbers may not be what the code computes now; ``tiltbench run`` re-runs them)."""
    from .runner import code_version
    from .tuning import base_name

    current, stale = {}, set()
    for method, code in zip(runs.method, runs.code_version):
        name = base_name(method)
        try:
            if name not in current:
                current[name] = code_version(registry.get_solver(track.name, name), track)
        except Exception:  # noqa: BLE001 - a solver no longer registered is stale too
            current[name] = None
        if code != current[name]:
            stale.add(method)
    if not stale:
        return []
    return [f"- **stale rows**: {', '.join(f'`{m}`' for m in sorted(stale))} were computed by other code than "
            "this checkout's (a solver's or the track's module changed since); their numbers may differ from "
            "what the code computes now, and `tiltbench run` re-runs them"]


PROTOCOL = (
    "Each claim is a hypothesis judged per task from the seeds both solvers ran (paired). "
    "`less`/`greater` claims: two-sided paired t-test of the per-seed statistic. `noworse` claims (\"as good as\"): "
    "non-inferiority, a one-sided t-test that the method is worse than the comparator by less than the "
    "margin (per seed when it is relative to the comparator); contradicted when it is worse by more, never "
    "for being better. `within` claims: TOST equivalence "
    "test with the stated margin, computed per seed when it is relative to the comparator (supported: the "
    "90% interval lies inside the margin at 5%; contradicted: the difference lies beyond it, both sides "
    "tested, Bonferroni). `trend` claims: least-squares slope of log metric on log parameter (e.g. n), fitted "
    "to the mean over seeds at each value of the parameter, one-sided t-test against each stated bound (supported: every "
    "slope below its bound, largest p; contradicted: a slope above its bound, smallest p times the number of "
    "bounds). With no spread across seeds an exact sign test replaces the t-test. All claims "
    "of this report form one family: their p-values get Holm's correction, with every judgement that is "
    f"not judged or lacks seeds counted at p = 1, and a verdict is *supported* or *contradicted* only when "
    f"the adjusted p-value is below {stats.ALPHA:g}, otherwise *inconclusive* (always with fewer than "
    f"{stats.MIN_SEEDS_FOR_VERDICT} seeds). A claim whose gate (precondition) fails is *not judged*, with the "
    f"reason. Intervals are {stats.CONFIDENCE:.0%} Student-t intervals of the paired statistic, unadjusted; "
    "they cover seed-to-seed variation on one problem instance per task.")


def claims_section(store: Store, profile: str, track: str) -> list[str]:
    """The paper's claims for this track, each judged per task from the stored runs."""
    track_claims = claims_mod.claims(track)
    if not track_claims:
        return []
    lines = ["## Claims", "", PROTOCOL, "",
             "| claim | hypothesis | task | verdict | statistic [95% CI] | p (Holm) | seeds |",
             "|---|---|---|---|---|---|---|"]
    judgements = claims_mod.judge_family(store, profile, track_claims, profile_tasks(profile), profile_grids(profile))
    for claim in track_claims:
        mine = [j for j in judgements if j.claim.id == claim.id]
        if not mine:
            lines.append(f"| `{claim.id}` | {cell(claims_mod.describe(claim))} | — | not run on this profile | — | — | 0 |")
        for j in mine:
            verdict = _verdict_text(j)
            margin = f" (margin {fmt(j.margin)})" if claim.relation in claims_mod.MARGINED and math.isfinite(j.margin) else ""
            lines.append(f"| `{claim.id}` | {cell(claims_mod.describe(claim))} | {j.task} | {cell(verdict)} | "
                         f"{fmt_est(j.effect)}{margin}{cell('; ' + j.detail) if j.detail else ''} | "
                         f"{fmt_p(j.p_adj)} | {j.n_seeds} |")
    lines += ["", "Statistic: method − factor·comparator per seed (`less`/`greater`), method − comparator "
              "(`within`, `noworse`), or the fitted slope [95% CI] with the other bounds' slopes (`trend`; seeds: the number "
              "of values of the parameter, each the mean over its seeds). Claims, their gates and sources:", ""]
    for c in track_claims:
        gates = "; ".join(claims_mod.describe_gate(c, g) for g in c.gates)
        lines.append(f"- `{c.id}`: {c.statement}." + (f" Gates: {gates}." if gates else "") + f" Source: {c.source}.")
    return lines + [""]


def task_section(track: registry.Track, data, task: str, plots: dict,
                 planned: set[str] | None = None) -> list[str]:
    """One task's leaderboard table and its method-vs-baseline pairs.  ``planned`` names the solvers
    the profile runs (None: all); a solver outside it reads "not in this profile", not "not run"."""
    primary = track.metric(track.primary)
    runs, failed = data["runs"], data["failed"]
    solvers = registry.solvers(track.name)
    present = set(runs[runs.task == task].method) | set(failed[failed.task == task].method)
    quality = [m for m in track.metrics if m.kind == "quality" and m.name != primary.name and any(
        values_by_rep(data, task, s.name, m.name) for s in solvers)]
    est = {s.name: stats.mean_ci(list(values_by_rep(data, task, s.name, primary.name).values())) for s in solvers}
    ranks = stats.ranks_with_ties(est, primary.higher_is_better)
    arrow = "↑" if primary.higher_is_better else "↓"
    head = ["rank", "solver", "role", "n", f"{primary.name} {primary.unit} {arrow}".replace("  ", " "),
            *[m.name for m in quality], *COST_COLUMNS.values(), "failed"]
    lines = [f"### {task}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in solvers:
        fails = failed[(failed.task == task) & (failed.method == s.name)]
        fail_txt = f"{len(fails)}: {fails.reason.iloc[0][:80]}" if len(fails) else ""
        if s.name not in present:
            why = "not run" if planned is None or s.name in planned else "not in this profile"
            lines.append("| " + " | ".join(["—", s.name, s.role, "0", why] + [""] * (len(head) - 5)) + " |")
            continue
        if not est[s.name].n and not len(fails):  # ran, but reports only checks (e.g. backend parity)
            n_runs = int(((runs.task == task) & (runs.method == s.name)).sum())
            lines.append("| " + " | ".join(["—", s.name, s.role, str(n_runs), "a check, not scored: see its "
                                            "section above"] + [""] * (len(head) - 5)) + " |")
            continue
        cols = [str(ranks.get(s.name, "—")), s.name, s.role, str(est[s.name].n), fmt_est(est[s.name])]
        cols += [fmt_est(stats.mean_ci(list(values_by_rep(data, task, s.name, m.name).values()))) for m in quality]
        cols += [fmt(_mean(values_by_rep(data, task, s.name, c).values())) for c in COST_COLUMNS]
        lines.append("| " + " | ".join(cols + [cell(fail_txt)]) + " |")
    pair_rows = []
    for method, baselines in track.pairs.items():
        a = values_by_rep(data, task, method, primary.name)
        for base in baselines:
            b = values_by_rep(data, task, base, primary.name)
            if not a or not b:
                outside = planned is not None and not {method, base} <= planned
                pair_rows.append(f"| {method} vs {base} | — | — | {'not in this profile' if outside else 'not run'} |")
                continue
            diff = stats.paired_difference(a, b)
            p = stats.prob_improvement(list(a.values()), list(b.values()), primary.higher_is_better)
            pair_rows.append(f"| {method} vs {base} | {fmt_est(diff)} | {fmt_est(p)} | "
                             f"{stats.verdict(diff, primary.higher_is_better)} |")
    if pair_rows:
        lines += ["", f"Method vs baseline on `{primary.name}` (paired by seed; difference = method − baseline, "
                  f"{'higher' if primary.higher_is_better else 'lower'} is better; 95% t-interval). Descriptive: "
                  "no multiple-comparison correction, gates or tuning rule; the claims above give the verdicts:", "",
                  "| comparison | difference [95% CI] | P(method better) | interval says |", "|---|---|---|---|",
                  *pair_rows]
    if task in plots:
        lines += ["", f"![learning curves, {task}]({plots[task]})"]
    return lines + [""]


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=90, metadata={"Software": None}, bbox_inches="tight")


def _spans_decades(values: list[float]) -> bool:
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) >= 10 * min(finite)


def plot_cost_quality(track: registry.Track, data, tasks: list[str], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not len(data["runs"]):
        return False
    primary = track.metric(track.primary)
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    solvers = registry.solvers(track.name)
    colors = {s.name: f"C{i}" for i, s in enumerate(solvers)}
    for ax, task in zip(axes.flat, tasks):
        xs, ys = [], []
        for s in solvers:
            q = values_by_rep(data, task, s.name, primary.name)
            w = values_by_rep(data, task, s.name, "wall_s")
            reps = sorted(set(q) & set(w))
            if reps:
                x, y = [w[r] for r in reps], [q[r] for r in reps]
                xs += x
                ys += y
                ax.scatter(x, y, color=colors[s.name], label=s.name,
                           marker="o" if s.role == "method" else ("s" if s.role == "baseline" else "x"))
        # a log axis only where every value is positive and they span a decade or more: below that the
        # log axis has no major label (and overlapping minor ones), and it cannot show values <= 0
        if _spans_decades(xs):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        if _spans_decades(ys):
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("wall time per cell (s)")
        ax.set_ylabel(f"{primary.name} ({'higher' if primary.higher_is_better else 'lower'} is better)")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _save(fig, path)
    plt.close(fig)
    return True


def plot_curves(data, task: str, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = data["curves"]
    c = c[(c.task == task) & ~c.name.str.startswith(IMAGE_PREFIX)]
    if not len(c):
        return False
    groups = sorted({(m, n) for m, n in zip(c.method, c.name)})
    ncols = min(4, len(groups))  # a grid of panels, not one long strip
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    for ax, (method, name) in zip(axes.flat, groups):
        sel = c[(c.method == method) & (c.name == name)]
        wide = sel.pivot_table(index="step", columns="rep", values="value")
        mean = wide.mean(axis=1)
        ax.plot(wide.index, mean, color="C0", marker="o" if len(wide) == 1 else None)  # one step: a dot
        if wide.shape[1] > 1:
            ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), color="C0", alpha=0.25,
                            label="min–max over seeds")
            ax.legend(fontsize=7)
        ax.set_title(f"{method}: {name}", fontsize=9)
        ax.set_xlabel("step")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True


def render_track(store: Store, profile: str, track: registry.Track, out: Path) -> Path | None:
    from .report_tuning import split_grid

    data, dropped = load_current(store, profile, track.name)
    data, grid = split_grid(data)
    if not len(data["runs"]) and not len(data["failed"]) and not len(grid["runs"]):
        return None
    plot_dir = out / track.name
    plot_dir.mkdir(parents=True, exist_ok=True)
    tasks = sorted(set(data["runs"].task) | set(data["failed"].task), key=_task_order)
    lines = [f"# `{track.name}` leaderboard — profile `{profile}`", "", track.description, "", *stamp(data, profile),
             *task_settings_note(data["runs"]), *stale_note(track, data["runs"]), *dropped, ""]
    primary = track.metric(track.primary)
    lines += [f"Primary metric: **{primary.name}** ({primary.description}); "
              f"{'higher' if primary.higher_is_better else 'lower'} is better.", ""]
    lines += claims_section(store, profile, track.name)
    if track.report_extras:
        lines += _extras(track, data, plot_dir)
    lines += ["## Leaderboard", ""]
    lines += ["Solvers:", ""] + [f"- `{s.name}` ({s.role}): {s.description} — {s.citation}"
                                 for s in registry.solvers(track.name)] + [""]
    if plot_cost_quality(track, data, tasks, plot_dir / "cost_quality.png"):
        lines += [f"![cost vs quality]({track.name}/cost_quality.png)", ""]
    plots = {}
    for task in tasks:
        if plot_curves(data, task, plot_dir / f"curves_{task}.png"):
            plots[task] = f"{track.name}/curves_{task}.png"
    planned = profile_methods(profile).get(track.name)
    for task in tasks:
        lines += task_section(track, data, task, plots, planned)
    lines += _tuning_lines(track, grid, data, plot_dir, track.name)
    for other in _companions(profile, track.name):
        lines += companion_section(store, profile, other, track, plot_dir)
    metric_lines = [f"- `{m.name}` ({m.unit or 'unitless'}, {m.direction}, {m.kind}): {m.description}"
                    for m in track.metrics]
    lines += ["## Metrics", "", *metric_lines, ""]
    path = out / f"{track.name}.md"
    path.write_text("\n".join(lines))
    return path


def load_current(store: Store, profile: str, track: str) -> tuple[dict, list[str]]:
    """``load`` without the rows of tasks, and of grid points, the profile no longer runs, and a line naming
    them (none for a profile no profile file defines)."""
    from .tuning import is_grid_point

    data = load(store, profile, track)
    allowed = (profile_tasks(profile) or {}).get(track)
    if allowed is None:
        return data, []
    points = (profile_grids(profile) or {}).get(track, set())

    def current(frame):
        return frame.task.isin(allowed) & frame.method.map(lambda m: not is_grid_point(m) or m in points).astype(bool)

    both = list(data["runs"][["task", "method"]].itertuples(index=False)) + \
        list(data["failed"][["task", "method"]].itertuples(index=False))
    gone = sorted({t for t, _ in both} - allowed, key=_task_order)
    dropped = sorted({m for t, m in both if t in allowed and is_grid_point(m) and m not in points})
    if not gone and not dropped:
        return data, []
    runs = data["runs"][current(data["runs"])]
    kept = {**data, "runs": runs, "failed": data["failed"][current(data["failed"])],
            "metrics": data["metrics"][data["metrics"].run_id.isin(runs.run_id)],
            "curves": data["curves"][current(data["curves"])]}
    notes = []
    if gone:
        notes.append(f"- left out: stored rows of {', '.join(f'`{t}`' for t in gone)}, task(s) this profile no "
                     "longer runs (they stay in the store and in `tiltbench query`)")
    if dropped:
        notes.append(f"- left out: stored rows of grid point(s) {', '.join(f'`{m}`' for m in dropped)}, which this "
                     "profile's grids no longer hold (they stay in the store and in `tiltbench query`)")
    return kept, notes


def _verdict_text(j: claims_mod.Judgement) -> str:
    return (f"**{j.verdict}**" + (f": {j.reason}" if j.explained else "")
            + (f" (a gate that withholds only support is not met: {j.note})" if j.note else ""))


def _extras(track: registry.Track, data, plot_dir: Path, prefix: str | None = None) -> list[str]:
    """The track's own report section (``Track.report_extras``, "module:function") on ``data``: its plots go
    to ``plot_dir``, linked as ``prefix``/<file> (default: the track's name, the report's own plot folder)."""
    module, _, function = track.report_extras.partition(":")
    return getattr(importlib.import_module(module), function)(data, plot_dir, prefix or track.name)


def default_out(profile: str) -> Path:
    """Where `tiltbench report` writes a profile's reports: results/ for the published profile of the
    file that defines it, else results/<profile>/."""
    from .profiles import published_profile
    path = find_profile(profile)[1]
    return Path("results") if path and profile == published_profile(path) else Path("results") / profile


def _companions(profile: str, track: str) -> list[str]:
    """The profiles named by ``[<profile>.tracks.<track>] report_with`` (none for an unknown profile)."""
    known = find_profile(profile)[0]
    return list(known.tracks.get(track, {}).get("report_with", [])) if known else []


def companion_section(store: Store, profile: str, other: str, track: registry.Track, plot_dir: Path) -> list[str]:
    """Another profile's verdicts and track section (e.g. a scaling sweep) appended to this report, so that
    one page holds the board and the study beside it.  Headings are demoted one level."""
    from .report_tuning import split_grid

    data, grid = split_grid(load_current(store, other, track.name)[0])
    link = Path(*[".."] * len(default_out(profile).parts[1:]), default_out(other).relative_to("results"),
                f"{track.name}.md").as_posix()
    lines = [f"## Beside this board: profile `{other}`", ""]
    if not len(data["runs"]) and not len(data["failed"]):
        return lines + [f"No stored runs of profile `{other}` for this track: not run.", ""]
    lines += [f"From the same store: the `{other}` profile's verdicts and its part of this track's report "
              f"(the whole report, with the claims' gates and sources: [{link}]({link})). Its claims are their "
              "own Holm family.", "",
              "| claim | task | verdict | statistic [95% CI] | p (Holm) | seeds |", "|---|---|---|---|---|---|"]
    track_claims = claims_mod.claims(track.name)
    order = {c.id: i for i, c in enumerate(track_claims)}
    for j in sorted(claims_mod.judge_family(store, other, track_claims, profile_tasks(other), profile_grids(other)),
                    key=lambda j: (order[j.claim.id], _task_order(j.task))):
        lines.append(f"| `{j.claim.id}` | {j.task} | {cell(_verdict_text(j))} | {fmt_est(j.effect)}"
                     f"{cell('; ' + j.detail) if j.detail else ''} | {fmt_p(j.p_adj)} | {j.n_seeds} |")
    # its plots go to a folder of their own: the track's file names would replace the board's
    own, prefix = plot_dir / other, f"{track.name}/{other}"
    own.mkdir(parents=True, exist_ok=True)
    extra = _extras(track, data, own, prefix) if track.report_extras else []
    extra += _tuning_lines(track, grid, data, own, prefix)
    lines += [""] + [("#" + line) if line.startswith("#") else line for line in extra]
    return lines + [""]


def _tuning_lines(track: registry.Track, grid, data, plot_dir: Path, prefix: str) -> list[str]:
    """The tuning section of ``grid`` (the grid points' rows), on every task a point ran or failed on."""
    from .report_tuning import tuning_section

    tasks = sorted(set(grid["runs"].task) | set(grid["failed"].task), key=_task_order)
    return tuning_section(track, grid, tasks, plot_dir, prefix, tuned_runs=data["runs"])


def _task_order(name: str):
    """Natural order: gaussian-d2 before gaussian-d16."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


# import names whose distribution is called otherwise
_DIST_OF_MODULE = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}


def extra_for_module(module: str) -> str | None:
    """The optional-dependency group ("extra") of the installed tiltbench that provides ``module``."""
    from importlib import metadata

    try:
        requires = metadata.requires("tiltbench") or []
    except metadata.PackageNotFoundError:
        return None

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    wanted = norm(_DIST_OF_MODULE.get(module, module))
    for req in requires:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*).*?;.*?\bextra\s*==\s*['\"]([^'\"]+)['\"]", req)
        if m and norm(m.group(1)) == wanted:
            return m.group(2)
    return None


def missing_module_note(exc: ModuleNotFoundError) -> str:
    module = (exc.name or str(exc)).split(".")[0]
    extra = extra_for_module(module)
    if extra:
        return f"needs the `{extra}` extra (module `{module}` is not installed): pip install 'tiltbench[{extra}]'"
    return f"needs the module `{module}`, which is not installed"


def render(store: Store, profile: str, out: Path, tracks: list[str] | None = None) -> list[Path]:
    return render_with_notes(store, profile, out, tracks)[0]


def render_with_notes(store: Store, profile: str, out: Path,
                      tracks: list[str] | None = None) -> tuple[list[Path], dict[str, str]]:
    """Render every track (and the index); a track whose report needs an optional package that is not
    installed is skipped with a note (in the index and in the returned dict), and the others render.
    Every read goes through one store connection (``Store.reading``)."""
    with store.reading():
        return _render_all(store, profile, out, tracks)


def _render_all(store: Store, profile: str, out: Path, tracks: list[str] | None) -> tuple[list[Path], dict[str, str]]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    notes: dict[str, str] = {}
    for name in tracks or sorted(registry.tracks()):
        try:
            path = render_track(store, profile, registry.get_track(name), out)
        except ModuleNotFoundError as exc:
            notes[name] = missing_module_note(exc)
            continue
        if path:
            written.append(path)
    counts = store.query("SELECT track, count(*) FILTER (status = 'ok') AS ok, count(*) FILTER (status = 'failed') "
                         "AS failed FROM runs WHERE profile = ? GROUP BY track ORDER BY track", [profile])
    index = [f"# tiltbench results — profile `{profile}`", "", "| track | leaderboard | ok runs | failed runs |",
             "|---|---|---|---|"]
    for row in counts.itertuples():
        link = f"[{row.track}.md]({row.track}.md)" if (out / f"{row.track}.md").exists() else "—"
        if row.track in notes:
            link = "not rendered (see below)"
        index.append(f"| {row.track} | {link} | {row.ok} | {row.failed} |")
    if notes:
        index += ["", *[f"- `{track}` was not rendered: {note}." for track, note in notes.items()]]
    (out / "index.md").write_text("\n".join(index + [""]))
    written.append(out / "index.md")
    return written, notes
