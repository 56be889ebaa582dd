"""The `ot` report's scaling section: cost and accuracy of each solver against the sample size n.

Shown when a profile's tasks carry several n through the ``-n{N}`` suffix (``gaussian-d16-lam32-n30000``,
as in the cpu-scaling profile).  For each task family (the name without the suffix): wall time, peak
memory and BW-UVP against n on log-log axes, one point per seed; failed cells (a solver that does not
fit in memory, a timeout) marked with their reason; and per solver the fitted exponent of wall time,
the least-squares slope of log wall time on log n, fitted to the mean over seeds at each n
(``stats.level_slope``), with a Student-t 95% interval.

The report core calls ``section(data, plot_dir, prefix)`` (see ``Track.report_extras``); this module
is imported only when a report is rendered.
"""

from __future__ import annotations

import math
from pathlib import Path

from tiltbench import stats
from tiltbench.report import cell, fmt, fmt_est

from .track import split_n

PANELS = (("wall_s", "wall time per cell (s)"), ("peak_mem_mb", "peak memory (MB)"), ("bw_uvp", "BW-UVP (%)"))


def sizes(tasks) -> dict[str, dict[str, int]]:
    """{family: {task: n}} for the tasks named ``<family>-n{N}``; families with one n are left out."""
    out: dict[str, dict[str, int]] = {}
    for task in tasks:
        family, n = split_n(task)  # stored tasks passed the same parser when they were planned
        if n is not None:
            out.setdefault(family, {})[task] = n
    return {family: by_task for family, by_task in sorted(out.items()) if len(set(by_task.values())) > 1}


def points(data, tasks: dict[str, int], column: str) -> dict[str, list[tuple[int, float]]]:
    """{solver: [(n, value) per ok run]} of a run column (wall_s, peak_mem_mb) or a metric."""
    runs = data["runs"][data["runs"].task.isin(list(tasks))]
    if column not in runs.columns:
        m = data["metrics"]
        m = m[m.name == column].merge(runs[["run_id", "task", "method"]], on="run_id")
        rows = zip(m.method, m.task, m.value)
    else:
        rows = zip(runs.method, runs.task, runs[column])
    out: dict[str, list[tuple[int, float]]] = {}
    for method, task, value in rows:
        if value is not None and math.isfinite(value):
            out.setdefault(method, []).append((tasks[task], float(value)))
    return {k: sorted(v) for k, v in sorted(out.items())}


def exponent(pts: list[tuple[int, float]]) -> stats.Estimate:
    """Slope of log value on log n (OLS on the mean log value at each n) with its 95% Student-t interval."""
    pts = [(n, v) for n, v in pts if v > 0]
    return stats.level_slope([math.log(n) for n, _ in pts], [math.log(v) for _, v in pts]).interval()


def fitted(pts: list[tuple[int, float]]) -> str:
    """The exponent [CI] where three or more values of n were run (two points always lie on a line)."""
    levels = len({n for n, _ in pts})
    return fmt_est(exponent(pts)) if levels >= 3 else f"— ({levels} value{'s' if levels != 1 else ''} of n)"


def failures(data, tasks: dict[str, int]) -> list[tuple[str, int, int, str]]:
    """(solver, n, failed seeds, the newest attempt's reason) of the family's failed cells, by solver
    and n.  A seed tried twice counts once."""
    f = data["failed"][data["failed"].task.isin(list(tasks))]
    out = []
    for (method, task), group in f.groupby(["method", "task"], sort=True):
        group = group.sort_values("finished_at") if "finished_at" in group else group
        out.append((method, tasks[task], group.rep.nunique(), str(group.reason.iloc[-1])))
    return sorted(out, key=lambda r: (r[0], r[1]))


def plot(data, family: str, tasks: dict[str, int], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    solvers = sorted(set(data["runs"].method) | set(data["failed"].method))
    colors = {s: f"C{i}" for i, s in enumerate(solvers)}
    failed = failures(data, tasks)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
    drawn = False
    for ax, (column, label) in zip(axes, PANELS):
        for solver, pts in points(data, tasks, column).items():
            pts = [(n, v) for n, v in pts if v > 0]
            if not pts:
                continue
            drawn = True
            ax.scatter([n for n, _ in pts], [v for _, v in pts], s=12, color=colors[solver], label=solver)
            means = {}
            for n, v in pts:
                means.setdefault(n, []).append(v)
            ns = sorted(means)
            ax.plot(ns, [sum(means[n]) / len(means[n]) for n in ns], color=colors[solver], lw=1)
        for solver, n, _, _ in failed:  # a failed cell: a cross on the axis at its n
            ax.scatter([n], [0.02], marker="x", color=colors[solver], transform=ax.get_xaxis_transform(), clip_on=False)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (samples per marginal)")
        ax.set_ylabel(label)
    if not drawn:
        plt.close(fig)
        return False
    axes[0].set_title(f"{family} (×: failed cell)", fontsize=9, loc="left")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8, bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=90, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return True


def section(data, plot_dir: Path, prefix: str) -> list[str]:
    """Markdown lines (and one PNG per task family in ``plot_dir``) for the scaling study."""
    families = sizes(set(data["runs"].task) | set(data["failed"].task))
    if not families:
        return []
    lines = ["## Scaling with n", "",
             "Cost and accuracy against the number of samples per marginal n (tasks `<task>-n{N}`, one problem "
             "instance per family). Exponent: least-squares slope of log wall time (or peak memory) on log n, fitted "
             "to the mean over seeds at each n (three or more values of n), with its 95% Student-t interval (1 = linear, 2 = quadratic; a fixed cost such as SCONES' minibatch "
             "training pulls it below the asymptotic rate). Peak memory is the cell's host memory and includes the "
             "~320 MB of a worker with torch loaded (on a GPU the device memory is not measured). Failed cells keep their reason (a cell that cannot fit in memory refuses to start). \"÷ floor\": the mean BW-UVP over the `floor` row's at the same n, i.e. against a perfect sampler scored on n pairs as SCONES is (a discrete plan, scored on its n² weighted pairs, can go below 1).", ""]
    for family, tasks in families.items():
        lines += [f"### {family}", ""]
        wall, mem, uvp = (points(data, tasks, c) for c in ("wall_s", "peak_mem_mb", "bw_uvp"))
        lines += ["| solver | n range | points | wall-time exponent [95% CI] | peak-memory exponent [95% CI] |",
                  "|---|---|---|---|---|"]
        for solver, pts in wall.items():
            ns = sorted({n for n, _ in pts})
            lines.append(f"| {solver} | {ns[0]:g}–{ns[-1]:g} | {len(pts)} | {fitted(pts)} | "
                         f"{fitted(mem.get(solver, []))} |")
        lines += ["", "| solver | n | seeds | wall s | peak MB | bw_uvp % | ÷ floor |", "|---|---|---|---|---|---|---|"]
        for solver, pts in wall.items():
            for n in sorted({n for n, _ in pts}):
                def at(p, n=n, solver=solver):
                    return [v for m, v in p.get(solver, []) if m == n]
                floor = [v for m, v in uvp.get("floor", []) if m == n]
                ratio = stats.mean_ci(at(uvp)).mean / stats.mean_ci(floor).mean if floor and at(uvp) else float("nan")
                lines.append(f"| {solver} | {n} | {len(at(wall))} | {fmt(stats.mean_ci(at(wall)).mean)} | "
                             f"{fmt(stats.mean_ci(at(mem)).mean)} | {fmt_est(stats.mean_ci(at(uvp)))} | {fmt(ratio)} |")
        failed = failures(data, tasks)
        if failed:
            lines += ["", "Failed cells:", "", "| solver | n | seeds | reason |", "|---|---|---|---|"]
            lines += [f"| {s} | {n} | {k} | {cell(reason)} |" for s, n, k, reason in failed]
        name = f"scaling_{family}.png"
        if plot(data, family, tasks, plot_dir / name):
            lines += ["", f"![cost and BW-UVP against n, {family}]({prefix}/{name})"]
        lines.append("")
    return lines
