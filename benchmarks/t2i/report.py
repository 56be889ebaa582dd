"""The `t2i` report's own section: the base models, measured cost (guidance vs finetuning), cost at matched
reward (read off the training curves) and sample grids.

The report core calls ``section(data, plot_dir, prefix)`` (see ``Track.report_extras``); this module is
imported only when a report is rendered.  Sample images come from the store: each cell keeps its first
few samples per caption as curves named ``image/<digit>`` (pixel index as step).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tiltbench import registry, stats
from tiltbench.report import fmt, fmt_est, fmt_values, metric_values, values_by_rep

ORDER = ("guidance-net", "velocity-guidance", "reward-finetune", "reward-finetune-flow", "guidance-net-tweedie",
         "naive-guidance", "base-ddpm", "tilted-ddpm", "base-flow", "tilted-flow")
FINETUNE = "reward-finetune"
GUIDANCE = "guidance-net"
CURVE = "reward_vs_ms"  # (training milliseconds, reward reached) of every trained solver


def base_lines(data) -> list[str]:
    lines = ["## Base models", "",
             "Trained once per profile (cached outside git) and frozen; every solver of a kind starts from the same "
             "one. Training seconds are not part of any solver's cost. Sample quality of the unguided model, over all "
             "tasks and seeds: share of samples the correctness classifier reads as their caption's digit, and the "
             "FID-style distance to the real test digits (in the feature space of an autoencoder that no reward uses).", "",
             "| base model | training s | accuracy | fid_real |", "|---|---|---|---|"]
    for kind in ("ddpm", "flow"):
        name = f"base-{kind}"
        if name not in set(data["runs"].method):
            continue
        train = metric_values(data, name, "base_train_s")
        accuracy, fid = (fmt_values(metric_values(data, name, k)) for k in ("accuracy", "fid_real"))
        lines.append(f"| {name} | {fmt(float(np.max(train))) if train else '—'} | {accuracy} | {fid} |")
    return lines + [""]


def cost_lines(data, tasks: list[str], methods: list[str]) -> list[str]:
    lines = ["## Compute cost", "",
             "`train_s`: the solver's own training seconds on one core (the guidance network includes sampling the "
             "base pool it trains on; reward finetuning stops when its running batch reward reaches the exact tilted "
             "target's). `ratio`: train_s over reward-finetune's, per seed (paired), mean [95% CI]; the paper claims "
             "at most 0.4, for the same result: where the rewards differ, this ratio compares costs of different "
             "results (the section below reads them at matched reward). `samples/s`: the sampler's throughput.", ""]
    for task in tasks:
        ft = values_by_rep(data, task, FINETUNE, "train_s")
        lines += [f"**{task}**", "", "| solver | train_s | ratio vs reward-finetune | samples/s | finetune steps |",
                  "|---|---|---|---|---|"]
        for method in methods:
            train = values_by_rep(data, task, method, "train_s")
            if not train:
                continue
            ratio = [t / ft[r] for r, t in train.items() if r in ft and ft[r] > 0]
            steps = metric_values(data, method, "finetune_steps", task)
            rate = fmt_values(metric_values(data, method, "samples_per_s", task))
            lines.append(f"| {method} | {fmt_values(list(train.values()))} | "
                         f"{fmt_values(ratio) if method != FINETUNE else '1'} | {rate} | {fmt_values(steps)} |")
        lines.append("")
    return lines


def curves_by_rep(data, task: str, method: str, name: str = CURVE) -> dict[int, list[tuple[float, float]]]:
    """Each seed's stored curve ``name`` of ``method`` on ``task`` as [(step, value)] in step order."""
    c = data["curves"]
    c = c[(c.task == task) & (c.method == method) & (c.name == name)]
    return {int(rep): list(zip(g.sort_values("step").step.astype(float), g.sort_values("step").value))
            for rep, g in c.groupby("rep")}


def seconds_to_reach(curve: list[tuple[float, float]], reward: float) -> float | None:
    """Seconds at the first curve point (milliseconds, reward) whose reward is at least ``reward``; None when
    the curve never gets there."""
    for ms, value in curve:
        if value >= reward:
            return ms / 1000.0
    return None


def matched_lines(data, tasks: list[str]) -> list[str]:
    """Each solver's training cost at the reward the other one ends at, per seed, read off the curves."""
    lines = ["## Cost at matched reward", "",
             f"Read off the training curves (`{CURVE}`: seconds of training so far against the reward reached; "
             f"{GUIDANCE}: mean reward of a fixed probe batch, pool sampling included, probes not charged; "
             f"{FINETUNE}: the same probe batch sampled by the current finetuned model, probes not charged). "
             f"Per seed (paired): `{FINETUNE} at {GUIDANCE}'s reward` is the seconds {FINETUNE} needed to first "
             f"reach the reward {GUIDANCE}'s curve ends at (both on the probe batch), and `ratio` is {GUIDANCE}'s "
             f"train_s over that: the paper's claim is a ratio of at most 0.4. The reverse row reads {GUIDANCE}'s "
             f"curve at the reward {FINETUNE}'s curve ends at; seeds whose curve never gets there are counted, not "
             f"averaged. Mean [95% CI] over the seeds that got there. A curve's first point is its first probe, so "
             f"a level the solver passes before it reads as that probe's time. {GUIDANCE}'s train_s includes "
             f"sampling the base pool it trains on (the same pool, and time, for every seed and reward); "
             f"`train_s` is wall time of one single-threaded process, which other work on the machine lengthens.", ""]
    any_rows = False
    for task in tasks:
        g_train = values_by_rep(data, task, GUIDANCE, "train_s")
        f_train = values_by_rep(data, task, FINETUNE, "train_s")
        g_curve, f_curve = curves_by_rep(data, task, GUIDANCE), curves_by_rep(data, task, FINETUNE)
        g_reward = {rep: curve[-1][1] for rep, curve in g_curve.items() if curve}  # same probe batch both ways
        f_reward = {rep: curve[-1][1] for rep, curve in f_curve.items() if curve}
        reps = sorted(set(g_train) & set(f_train) & set(g_reward) & set(f_reward))
        if not reps:
            continue
        any_rows = True
        rows = []
        for label, target_of, curve_of, own_train, other_train in (
                (f"{FINETUNE} at {GUIDANCE}'s reward", g_reward, f_curve, g_train, None),
                (f"{GUIDANCE} at {FINETUNE}'s reward", f_reward, g_curve, None, f_train)):
            reached, ratios, missing = [], [], 0
            for rep in reps:
                s_at = seconds_to_reach(curve_of[rep], target_of[rep])
                if s_at is None:
                    missing += 1
                    continue
                reached.append(s_at)
                if own_train is not None and s_at > 0:  # guidance-net's cost over finetuning's at its reward
                    ratios.append(own_train[rep] / s_at)
                elif other_train is not None and other_train[rep] > 0:  # guidance-net's at finetuning's reward
                    ratios.append(s_at / other_train[rep])
            rows.append(f"| {label} | {fmt_values([target_of[r] for r in reps])} | {fmt_values(reached)} | "
                        f"{fmt_values(ratios)} | {len(reached)} of {len(reps)} |")
        lines += [f"**{task}**", "",
                  f"| read-off | at reward | seconds to reach it | ratio {GUIDANCE} / {FINETUNE} | seeds reached |",
                  "|---|---|---|---|---|", *rows, ""]
    return lines if any_rows else []


GUIDED = (("guidance-net", "base-ddpm", "tilted-ddpm"), ("velocity-guidance", "base-flow", "tilted-flow"))


def gap_lines(data, tasks: list[str]) -> list[str]:
    """How much of the base-to-target reward gap each guidance method closes, and, for a trained one, how much
    its curve still rose over the second half of its training (near 0: training longer would not help)."""
    lines = ["## Share of the gap to the tilted target", "",
             "`share` = (reward − base's mean reward) / (the exact tilted target's reward − base's), per seed, mean "
             "[95% CI]: 1 is on target. `second-half gain`: the reward on the solver's training curve "
             f"(`{CURVE}`) at its end minus at half its training seconds, per seed; near 0 means the curve had "
             "flattened and more training steps would not close the gap.", "",
             "| task | solver | base | target | reward | share | second-half gain | seeds |", "|---|---|---|---|---|---|---|---|"]
    rows = 0
    for task in tasks:
        for method, base, tilted in GUIDED:
            reward = values_by_rep(data, task, method, "reward")
            base_r = list(values_by_rep(data, task, base, "reward").values())
            target = list(values_by_rep(data, task, tilted, "target_reward").values())
            if not reward or not base_r or not target or np.mean(target) <= np.mean(base_r):
                continue
            b, t = float(np.mean(base_r)), float(np.mean(target))
            share = stats.mean_ci([(v - b) / (t - b) for v in reward.values()])
            gains = []
            for curve in curves_by_rep(data, task, method).values():
                if len(curve) >= 2:
                    half = curve[-1][0] / 2
                    mid = min(curve, key=lambda point: abs(point[0] - half))
                    gains.append(curve[-1][1] - mid[1])
            lines.append(f"| {task} | {method} | {fmt(b)} | {fmt(t)} | {fmt_values(list(reward.values()))} | "
                         f"{fmt_est(share)} | {fmt_est(stats.mean_ci(gains)) if gains else '— (training-free)'} | "
                         f"{len(reward)} |")
            rows += 1
    return lines + [""] if rows else []


def plot_grid(data, task: str, methods: list[str], path: Path) -> bool:
    """Rows: solvers; columns: the ten captions; each tile: the first stored samples of the first seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = data["curves"]
    c = c[(c.task == task) & c.name.str.startswith("image/")]
    rows = [m for m in methods if (c.method == m).any()]
    if not rows:
        return False
    fig, axes = plt.subplots(len(rows), 10, figsize=(10 * 0.75, len(rows) * 0.8), squeeze=False)
    for i, method in enumerate(rows):
        sel = c[(c.method == method) & (c.rep == c[c.method == method].rep.min())]
        for d in range(10):
            ax = axes[i, d]
            pix = sel[sel.name == f"image/{d}"].sort_values("step").value.to_numpy()
            n = len(pix) // 64
            if n:
                side = int(np.ceil(np.sqrt(n)))
                tile = np.full((side * 8, side * 8), -1.0)
                for k, img in enumerate(pix[:n * 64].reshape(n, 8, 8)):
                    tile[(k // side) * 8:(k // side + 1) * 8, (k % side) * 8:(k % side + 1) * 8] = img
                ax.imshow(tile, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(str(d), fontsize=8)
            if d == 0:
                ax.set_ylabel(method, fontsize=6, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    fig.savefig(path, dpi=90, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return True


def section(data, plot_dir: Path, prefix: str) -> list[str]:
    runs = data["runs"]
    if not len(runs):
        return []
    present = set(runs.method)
    known = {solver.name for solver in registry.solvers("t2i")}  # stored rows of a renamed solver stay out
    methods = [m for m in ORDER if m in present] + sorted((present & known) - set(ORDER))
    tasks = sorted(set(runs.task))
    lines = base_lines(data) + cost_lines(data, tasks, methods) + matched_lines(data, tasks) + gap_lines(data, tasks)
    lines += ["## Samples", "",
              "First seed, first samples of each caption (\"a handwritten digit <word>\"); every row starts from "
              "the same noise.", ""]
    for task in tasks:
        if plot_grid(data, task, methods, plot_dir / f"samples_{task}.png"):
            lines += [f"**{task}**", "", f"![samples {task}]({prefix}/samples_{task}.png)", ""]
    return lines
