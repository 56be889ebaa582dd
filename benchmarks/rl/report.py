"""The `rl` report's aggregate section: rliable scores across tasks and seeds, and plots.

Agarwal, Schwarzer, Castro, Courville, Bellemare, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice" (NeurIPS 2021): median, interquartile mean (IQM), mean and optimality gap of
the normalised scores over all (task, seed) runs, with stratified-bootstrap CIs (seeds resampled
within each task), and the probability that a TdRL run beats a SAC run on the same task.  Computed
with the authors' `rliable` package; learning curves are drawn with a bootstrap CI band.

The report core calls ``section(data, plot_dir, prefix)`` (see ``Track.report_extras``); this
module is imported only when a report is rendered, so the runs never depend on it.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

METRIC = "norm_return"
AGGREGATES = ("Median", "IQM", "Mean", "Optimality gap")
REPS = 2000
SEED = 12345


def score_matrices(data, metric: str = METRIC) -> tuple[dict[str, np.ndarray], list[str]]:
    """(seeds x tasks) scores per method, over the tasks every method of the report has."""
    runs, m = data["runs"], data["metrics"]
    vals = m[m.name == metric].merge(runs[["run_id", "task", "method", "rep"]], on="run_id")
    wide = vals.pivot_table(index="rep", columns=["method", "task"], values="value")
    tasks = sorted({t for _, t in wide.columns})
    methods = sorted({mm for mm, _ in wide.columns})
    common = [t for t in tasks if all((mm, t) in wide.columns for mm in methods)]
    return {mm: wide[[(mm, t) for t in common]].dropna().to_numpy() for mm in methods}, common


def _interval_estimates(scores: dict, aggregate):
    """rliable's stratified-bootstrap estimates, seeded so a re-render gives the same bytes."""
    from rliable import library as rly

    # rliable's stratified resampling draws from numpy's *global* generator (np.random.choice) whatever
    # `random_state` says, so seed that for the call and restore it afterwards.
    saved = np.random.get_state()
    np.random.seed(SEED)
    try:
        with warnings.catch_warnings():  # `random_state` (passed on to arch) is deprecated in arch >= 7
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            return rly.get_interval_estimates(scores, aggregate, reps=REPS, random_state=np.random.RandomState(SEED))
    finally:
        np.random.set_state(saved)


def _fmt(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "—"


def section(data, plot_dir: Path, prefix: str) -> list[str]:
    """Markdown lines (and PNGs in ``plot_dir``) for the aggregate comparison across tasks."""
    from rliable import metrics as rm

    runs = data["runs"]
    methods = sorted(set(runs.method))
    if not methods:
        return []
    scores, tasks = score_matrices(data)
    n_runs = min(s.shape[0] for s in scores.values())
    lines = ["## Aggregate over tasks (rliable)", "",
             f"Normalised return (handcrafted return / 1000) over {len(tasks)} task(s) ({', '.join(tasks)}) and "
             f"{n_runs} seed(s) per task. 95% stratified-bootstrap CIs ({REPS} resamples) from `rliable` "
             "(Agarwal et al. 2021); optimality gap: lower is better.", ""]
    if n_runs < 2 or not tasks:
        return lines + ["Too few seeds for interval estimates (need at least 2 per task).", "",
                        *cost_table(data, methods), "", *_curves_lines(data, plot_dir, prefix)]
    scores = {m: s[:n_runs] for m, s in scores.items()}

    def aggregate(x):
        return np.array([rm.aggregate_median(x), rm.aggregate_iqm(x), rm.aggregate_mean(x),
                         rm.aggregate_optimality_gap(x)])

    point, ci = _interval_estimates(scores, aggregate)
    lines += ["| method | " + " | ".join(AGGREGATES) + " |", "|---" * (len(AGGREGATES) + 1) + "|"]
    for m in methods:
        cells = [f"{_fmt(point[m][i])} [{_fmt(ci[m][0][i])}, {_fmt(ci[m][1][i])}]" for i in range(len(AGGREGATES))]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    pairs = [(a, b) for a in methods for b in methods if a != b and a == "tdrl"]
    prob_point, prob_ci = {}, {}
    if pairs:
        pair_scores = {f"{a} > {b}": (scores[a], scores[b]) for a, b in pairs}
        raw_point, raw_ci = _interval_estimates(pair_scores, rm.probability_of_improvement)
        prob_point = {k: float(np.ravel(v)[0]) for k, v in raw_point.items()}
        prob_ci = {k: tuple(float(x) for x in np.ravel(v)[:2]) for k, v in raw_ci.items()}
        lines += ["", "| comparison | P(improvement) [95% CI] |", "|---|---|"]
        lines += [f"| P({k}) | {_fmt(prob_point[k])} [{_fmt(prob_ci[k][0])}, {_fmt(prob_ci[k][1])}] |"
                  for k in pair_scores]
    lines += ["", *cost_table(data, methods), ""]
    if _plot_intervals(point, ci, prob_point, prob_ci, methods, plot_dir / "aggregates.png"):
        lines += [f"![aggregate scores and probability of improvement]({prefix}/aggregates.png)", ""]
    return lines + diagnostics_table(data) + _curves_lines(data, plot_dir, prefix)


# the previous round's network scoring below this on a round's new labels counts as the labels having moved
LABELS_MOVED = 0.8


def diagnostics_table(data, method: str = "tdrl") -> list[str]:
    """What TdRL's labelling did per task (means over seeds, each seed's value over its rounds, and the worst
    seed where a mean would hide it): the return network's accuracy on each round's held-out pairs after the
    round's training (lowest round and last) and before it (lowest round: the old network against new
    labels), the labels' agreement between consecutive rounds, the steps the return network trained in its
    first round and in later rounds (the anchoring rule's cut), the learned reward's rank correlation with
    the handcrafted one at the end, and the final return beside the return of the policy its exploration
    phase left.  A note below says on which tasks and seeds the old network fell below 0.8 on new labels."""
    c, runs, m = data["curves"], data["runs"], data["metrics"]
    c = c[c.method == method]
    if not len(c):
        return []
    rows = ["TdRL's labels and learned reward (means over seeds, worst seed in brackets; per seed: lowest and "
            "last round, first and later rounds):", "",
            "| task | return_acc lowest / last | before training, lowest | label agreement lowest | "
            "return steps round 1 / later | reward rank corr. (end) | norm_return vs explore_return |",
            "|---|---|---|---|---|---|---|"]
    final = m.merge(runs[["run_id", "task", "method"]], on="run_id")
    final = final[final.method == method].pivot_table(index="task", columns="name", values="value")
    predates = False  # a task whose rows have no return_acc_pre curve (run before it existed)
    laters = []  # per task: mean return-network steps in rounds after the first
    moved = []  # (task, seeds whose old network scored below LABELS_MOVED on new labels, seeds, their lowest)
    for task in sorted(set(c.task)):
        per = c[c.task == task]

        def lowest(name):
            return per[per.name == name].groupby("rep").value.min()

        def seeds(name, how):
            s = per[per.name == name].sort_values("step").groupby("rep").value
            return float(getattr(s, how)().mean()) if len(s.size()) else math.nan

        def low(name):
            s = lowest(name)
            return f"{_fmt(float(s.mean()))} ({_fmt(float(s.min()))})" if len(s) else "—"

        steps = per[per.name == "return_steps_run"].sort_values("step")
        first = float(steps.groupby("rep").value.first().mean()) if len(steps) else math.nan
        later = steps.groupby("rep").value.apply(lambda v: v.iloc[1:].mean()).mean() if len(steps) else math.nan
        laters.append(float(later))
        get = (lambda k: float(final.loc[task, k]) if task in final.index and k in final else math.nan)
        rows.append(f"| {task} | {low('return_acc')} / {_fmt(seeds('return_acc', 'last'))} | "
                    f"{low('return_acc_pre')} | {low('label_agreement')} | {_rate(first)} / {_rate1(float(later))} | "
                    f"{_fmt(seeds('reward_rank_corr', 'last'))} | {_fmt(get('norm_return'))} vs "
                    f"{_fmt(get('explore_return'))} |")
        pre = lowest("return_acc_pre")
        predates |= not len(pre)
        if len(pre) and (pre < LABELS_MOVED).any():
            moved.append((task, int((pre < LABELS_MOVED).sum()), len(pre), float(pre.min())))
    old_anchor = any(v < 2 for v in laters)  # later rounds cut to about one step: the round-level anchor
    notes = ["", ("Where later rounds train the return network for about one step, the round-level anchoring "
                  "rule (TdRL before 2026-11-28, `anchor = early-stop`) stopped it as soon as the penalty's gradient "
                  "outgrew the cross-entropy's, and only the reward network was refitted: `return_acc` then checks "
                  "a return network learned once. The current default (`anchor = per-pass`, the authors' scheme) "
                  "takes a new anchoring snapshot each pass and keeps training it. " if old_anchor else "")
             + "`return_acc` is measured on held-out pairs drawn at each round's start and used neither to train "
             "nor to stop (training draws its own random pairs from the same segments, so a pair can recur by "
             "chance; rows run before 2026-11-28 measured it on the round's training pairs). It shows that the "
             "return network fits the round's labels; it cannot show whether the labels moved. `before "
             "training` is the same figure for the previous round's network, and `label agreement` the share of "
             "pairs two consecutive rounds label alike: these two drop where the labelling moved"
             + ("; `—` where a row predates them" if predates else "")
             + ". The learned reward's own diagnostic is its rank correlation with the handcrafted reward."]
    if moved:
        where = "; ".join(f"{t}: {k} of {n} seed(s), lowest {_fmt(v)}" for t, k, n, v in moved)
        notes[-1] += (f" **Where the labels moved** (the previous round's network below {LABELS_MOVED:g} on the "
                      f"new labels in some round): {where}. The comparison itself is fixed; what moves is the "
                      "order of the indicative tests, re-sorted each round by their skewness over the last 100 "
                      "episodes (`ind_order = every-round`, the authors' rule): when two tests' skewness swap, "
                      "pairs that neither dominates change label. The return network then refits to the new "
                      "order within the round (`return_acc` after training), and the reward network with it.")
    stops = final["anchor_stops"] if "anchor_stops" in final else None
    if stops is not None and len(stops) and (stops == 0).all():
        notes[-1] += (" The per-pass anchoring rule cut no pass on any task (`anchor_stops` 0): the anchor acted "
                      "as a penalty term only.")
    return rows + notes + [""]


def _curves_lines(data, plot_dir: Path, prefix: str) -> list[str]:
    """The learning-curve figure (every task that has curves, whether or not the aggregate could be formed)."""
    if not _plot_learning_curves(data, plot_dir / "learning_curves.png"):
        return []
    return ["Evaluation return during training (mean over seeds, band: 95% bootstrap CI of the mean):", "",
            f"![learning curves]({prefix}/learning_curves.png)", ""]


def cost_table(data, methods: list[str]) -> list[str]:
    """Throughput per task and method (means over seeds), and TdRL's wall-time overhead over SAC.

    Wall time depends on the processor, and a board run across sessions may put two solvers' rows on
    different machines: a ratio between rows run on different CPU models is marked, and the reward
    learning's share of the solver's own wall time gives TdRL's overhead on one machine."""
    runs, m = data["runs"], data["metrics"]
    names = ("env_steps_per_s", "updates_per_s", "reward_s")
    vals = m[m.name.isin(names)].merge(runs[["run_id", "task", "method"]], on="run_id")
    wide = vals.pivot_table(index=["task", "method"], columns="name", values="value")
    wall = runs.groupby(["task", "method"]).wall_s.mean()
    cpus = _cpu_models(runs, data.get("envs"))
    lines = ["Cost per cell (means over seeds; one torch thread per cell):", "",
             "| task | method | wall s | agent steps/s | SAC updates/s | reward learning s (share of wall) "
             "| wall vs sac-handcrafted |",
             "|---|---|---|---|---|---|---|"]
    mixed = False
    for task in sorted(set(runs.task)):
        for method in methods:
            if (task, method) not in wall.index:
                continue
            row = wide.loc[(task, method)] if (task, method) in wide.index else {}
            base = wall.get((task, "sac-handcrafted"), math.nan)
            ratio = wall[(task, method)] / base if math.isfinite(base) else math.nan
            get = (lambda k: float(row[k]) if k in row and math.isfinite(row[k]) else math.nan)
            reward_s = get("reward_s")
            share = f" ({reward_s / wall[(task, method)]:.0%})" if math.isfinite(reward_s) else ""
            other = cpus.get((task, method)) != cpus.get((task, "sac-handcrafted")) and math.isfinite(ratio)
            mixed |= other
            lines.append(f"| {task} | {method} | {wall[(task, method)]:.0f} | {_rate(get('env_steps_per_s'))} | "
                         f"{_rate(get('updates_per_s'))} | {_rate(reward_s)}{share} | {_ratio(ratio)}"
                         f"{' (other CPU)' if other else ''} |")
    if mixed:
        lines += ["", "*other CPU*: these rows and sac-handcrafted's ran (some or all) on different processor models "
                  "(the store records each row's machine; the board ran across sessions), so their wall-time ratio "
                  "mixes the method's cost with the machine's speed. The reward learning's share of the row's own "
                  "wall time is measured on one machine."]
    return lines


def _cpu_models(runs, envs) -> dict:
    """(task, method) -> the sorted CPU models its rows ran on (empty where the store has no environments)."""
    if envs is None or not len(envs) or "env_id" not in runs:
        return {}
    joined = runs[["task", "method", "env_id"]].merge(envs[["env_id", "cpu_model"]], on="env_id", how="left")
    return {k: tuple(sorted(set(g.cpu_model.dropna()))) for k, g in joined.groupby(["task", "method"])}


def _ratio(x: float) -> str:
    return f"{x:.2f}×" if math.isfinite(x) else "—"


def _rate1(x: float) -> str:
    return f"{x:.1f}" if math.isfinite(x) else "—"


def _rate(x: float) -> str:
    """A rate as a whole number, or "—" where the solver has none (the random row makes no updates)."""
    return f"{x:.0f}" if math.isfinite(x) else "—"


def _plot_intervals(point, ci, prob_point, prob_ci, methods, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    extra = 1 if prob_point else 0
    fig, axes = plt.subplots(1, len(AGGREGATES) + extra, figsize=(2.6 * (len(AGGREGATES) + extra), 2.2))
    for i, name in enumerate(AGGREGATES):
        ax = axes[i]
        for j, m in enumerate(methods):
            lo, hi = ci[m][0][i], ci[m][1][i]
            ax.barh(j, hi - lo, left=lo, height=0.6, color=f"C{j}", alpha=0.6)
            ax.plot([point[m][i]] * 2, [j - 0.3, j + 0.3], color="k", lw=1.5)
        ax.set_yticks(range(len(methods)), methods if i == 0 else [""] * len(methods))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("normalised return")
    if prob_point:
        ax = axes[-1]
        for j, (k, p) in enumerate(prob_point.items()):
            ax.barh(j, prob_ci[k][1] - prob_ci[k][0], left=prob_ci[k][0], height=0.6, color="C2", alpha=0.6)
            ax.plot([p] * 2, [j - 0.3, j + 0.3], color="k", lw=1.5)
        ax.axvline(0.5, color="grey", ls="--", lw=1)
        ax.set_xlim(0, 1)
        ax.set_yticks(range(len(prob_point)), [f"P({k})" for k in prob_point], fontsize=7)
        ax.set_title("probability of improvement", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return True


def bootstrap_band(values: np.ndarray, rng: np.random.Generator, reps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile-bootstrap CI of the mean over seeds, per step; values: (seeds, steps)."""
    idx = rng.integers(0, values.shape[0], (reps, values.shape[0]))
    means = values[idx].mean(1)
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def _plot_learning_curves(data, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = data["curves"]
    c = c[c.name == METRIC]
    if not len(c):
        return False
    tasks = sorted(set(c.task))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.0), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        for j, method in enumerate(sorted(set(c.method))):
            wide = c[(c.task == task) & (c.method == method)].pivot_table(index="step", columns="rep", values="value")
            wide = wide.dropna()
            if not len(wide):
                continue
            v = wide.to_numpy().T  # seeds x steps
            ax.plot(wide.index, v.mean(0), color=f"C{j}", label=f"{method} (n={v.shape[0]})")
            if v.shape[0] > 1:
                lo, hi = bootstrap_band(v, np.random.default_rng(SEED))
                ax.fill_between(wide.index, lo, hi, color=f"C{j}", alpha=0.2)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("agent steps (x action repeat = dm_control steps)")
        ax.set_ylabel("handcrafted return / 1000")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return True
