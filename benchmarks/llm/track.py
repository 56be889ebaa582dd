"""The `llm` track: QRPO against DPO, SimPO and REBEL on offline, generated instructions.

A task is named by its *training* reward (``verifiable`` or ``minilm``, benchmarks/llm/rewards.py);
the other reward is held out.  Every solver of a (task, rep) starts from the same policy
(SmolLM2-135M-Instruct on the cpu profile), the same completions of the untrained policy (sampled once
and cached, see benchmarks/llm/loop.py: ``train_samples`` per train prompt to train on, ``n_quantile``
more per train prompt only to estimate QRPO's reward quantiles, ``n_ref`` per held-out prompt), the
same best-vs-worst pairs of the training completions, and trains the same LoRA adapters for the same
number of steps.  A solver hands back its
samples on the held-out prompts and their log-probability ratios; this module scores them:

- ``reward`` / ``heldout_reward``: mean training / held-out reward of the policy's samples;
- ``win_rate``: share of (policy sample, reference sample) pairs of a held-out prompt in which the
  policy's sample has the higher training reward (ties count one half);
- ``kl_k1`` / ``kl_k3``: KL(pi_theta || pi_ref) estimated from the policy's own samples, per sequence
  (sum over tokens of log r and of (1/r - 1) + log r, r = pi_theta/pi_ref per token; Schulman's k1
  and k3 estimators);
- ``length``: mean completion length in tokens;
- ``length_bias``: Spearman correlation, over the policy's own held-out samples, between each
  sample's length (a z-score among its prompt's reference-completion lengths) and its implicit
  reward log pi_theta(y|x) / pi_ref(y|x), trimmed as the QRPO code does (``policy_length_bias``); a
  length-biased method has a large positive value.  ``length_bias_abs`` is its magnitude;
- ``ref_length_bias``: the same correlation over the fixed held-out reference completions, raw
  lengths (the measure of the 2026-11-27 board, kept as a diagnostic; only with the track config's
  ``ref_length_bias = true``, since it costs two forward passes over every reference completion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

import numpy as np
from scipy import stats as sps

from tiltbench.errors import unknown
from tiltbench.registry import check_type

from . import data as llm_data, rewards as llm_rewards

TASKS = llm_rewards.REWARDS


@dataclass(frozen=True)
class LLMTask:
    """One training reward and every budget all solvers share (set by the profile's track config)."""

    name: str  # the training reward
    model: str = "smollm2-135m"  # a spec of benchmarks/llm/model.py or a local HF folder
    dtype: str = "float32"
    backend: str = "hf"  # generation backend of every sample: reference completions and held-out evaluation (hf | vllm)
    vllm_gpu_memory: float = 0.3  # share of the GPU the vllm backend may take (its gpu_memory_utilization)
    vllm_max_len: int = 2048  # vLLM's max_model_len: prompt + completion tokens (a longer prompt fails the cell)
    vllm_adapter: str = "merged"  # how vLLM gets a trained policy: merged (LoRA folded into a weight copy) | lora
    gen_batch: int = 64  # prompts per generation batch
    n_train: int = 256
    n_test: int = 64
    n_val: int = 0  # held-out prompts a grid's tuning cell scores (validation split); 0: n_test
    n_ref: int = 4  # reference completions per held-out prompt (win rate, length bias)
    train_samples: int = 2  # completions per train prompt that every solver trains on (pairs: best vs worst)
    n_quantile: int = 16  # further reference completions per train prompt, only to estimate QRPO's quantiles
    max_new_tokens: int = 32
    temperature: float = 1.0
    eval_samples: int = 2  # policy completions per held-out prompt
    # the seed of the reference completions: -1, each cell's own (the train completions, quantile pool and
    # held-out references drawn afresh per seed); >= 0, one set for every cell of the board, both training
    # rewards and every seed (the data set, generated once, as the QRPO paper pre-computes it)
    ref_seed: int = -1
    # a folder that ships the board's data set (gen-<key>.json.gz, relative to where `tiltbench run` starts):
    # a part found there is read instead of generated, a part generated is also written there, so a board
    # that runs across sessions and machines trains every cell on the same texts ("": the cache only)
    ref_dir: str = ""
    # the old diagnostic ref_length_bias: two forward passes over every held-out reference completion (on
    # 2 cores about 10 of a cpu cell's minutes); off unless asked for
    ref_length_bias: bool = False
    steps: int = 64
    batch: int = 8  # preference pairs per step (2 x batch sequences)
    lr: float = 1e-4
    max_grad_norm: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    prompts_file: str = ""  # a local parquet/jsonl prompt file (benchmarks/llm/external.py); "": generated prompts
    prompts_layout: str = "magpie"  # its layout: magpie | ultrafeedback
    reward_model: str = ""  # a local sequence-classification model folder: the `rm` reward
    split: str = "test"  # the held-out prompts scored: "test", or "validation" in a grid's tuning cells

    @property
    def heldout(self) -> str:
        """The reward not trained on (with a prompt file, which has no verifiable answers: rm <-> minilm)."""
        if self.prompts_file and self.name == "minilm":
            return "rm"
        return llm_rewards.HELD_OUT[self.name]

    @property
    def rewards(self) -> tuple[str, str]:
        return self.name, self.heldout

    def score(self, reward: str, prompts, completions, device: str = "cpu") -> list[float]:
        return llm_rewards.score(reward, prompts, completions, self.reward_model, device, self.dtype)

    @property
    def n_heldout(self) -> int:
        """How many held-out prompts this split scores: n_val on validation when set, else n_test."""
        return self.n_val if self.split == "validation" and self.n_val else self.n_test

    def prompts(self):
        """(train, held-out) prompts: n_train of the train part, ``n_heldout`` of the ``split`` part."""
        if self.prompts_file:
            from .external import splits

            return splits(self.prompts_file, self.prompts_layout, self.n_train, self.n_heldout, self.split)
        return llm_data.splits(self.n_train, self.n_heldout, self.split)


TASK_RE = re.compile(rf"^(?P<reward>{'|'.join(map(re.escape, TASKS))})(?:-q(?P<q>[0-9]+))?$")


def make_task(name: str, config: dict, seed: int, split: str = "test") -> LLMTask:
    """The task of training reward ``name``; ``split`` (from the core: "test", or "validation" for a
    grid's tuning cells) picks the held-out prompts it is scored on.  ``<reward>-q<N>`` is the same task
    with a quantile pool of N reference completions per train prompt (``n_quantile = N``, whatever the
    track config says): the quantile-scaling study's levels."""
    m = TASK_RE.match(name)
    if not m:
        raise ValueError(f"unknown llm task {name!r}; valid: {', '.join(TASKS)}, or <task>-q<N> (a quantile pool "
                         f"of N), e.g. verifiable-q16")
    if m["q"] is not None:
        config = {**config, "n_quantile": int(m["q"])}
    name = m["reward"]
    known = {f.name: f for f in fields(LLMTask) if f.name not in ("name", "split")}
    kwargs = {}
    for key, value in config.items():
        if key in ("tasks", "reps", "solvers"):
            continue
        if key not in known:
            raise unknown("llm track config key", key, known)
        kwargs[key] = check_type(f"llm track config {key}", value, known[key].default)
    task = LLMTask(name, **kwargs, split=split)
    if task.backend not in ("hf", "vllm"):
        raise ValueError(f"llm backend {task.backend!r}; valid: hf, vllm")
    if task.vllm_adapter not in ("merged", "lora"):
        raise ValueError(f"llm track config vllm_adapter = {task.vllm_adapter!r}; valid: merged, lora")
    if not 0 < task.vllm_gpu_memory <= 1:
        raise ValueError(f"llm track config vllm_gpu_memory = {task.vllm_gpu_memory}: must be in (0, 1]")
    for key in ("gen_batch", "n_train", "n_test", "steps", "batch", "max_new_tokens", "eval_samples"):
        if getattr(task, key) < 1:
            raise ValueError(f"llm track config {key} = {getattr(task, key)}: must be >= 1")
    if task.n_val < 0:
        raise ValueError(f"llm track config n_val = {task.n_val}: must be >= 0 (0: the tuning cells score n_test "
                         f"validation prompts)")
    if task.ref_seed < -1:
        raise ValueError(f"llm track config ref_seed = {task.ref_seed}: must be >= 0 (one reference set for the "
                         f"board) or -1 (each cell's own seed)")
    if task.n_ref < 1:
        raise ValueError(f"llm track config n_ref = {task.n_ref}: must be >= 1")
    if task.train_samples < 2:
        raise ValueError(f"llm track config train_samples = {task.train_samples}: pairs need at least 2 "
                         f"completions per train prompt")
    if task.n_quantile < 1:
        raise ValueError(f"llm track config n_quantile = {task.n_quantile}: QRPO's quantiles need at least 1 "
                         f"reference completion per train prompt")
    if task.prompts_file and "verifiable" in task.rewards:
        raise ValueError(f"llm task {name!r} with prompts_file: the verifiable reward needs the generated prompts "
                         f"(train on minilm or rm)")
    if "rm" in task.rewards and not task.reward_model:
        raise ValueError(f"llm task {name!r} scores the rm reward: set the track config's reward_model to a local "
                         f"sequence-classification model folder")
    task.prompts()  # raises if the pool or file is too small for the split sizes, or a file is malformed
    return task


def win_rate(policy: np.ndarray, reference: np.ndarray) -> float:
    """Mean over prompts and pairs of 1[policy > ref] + 0.5 1[policy == ref]; shapes (P, m) and (P, n)."""
    diff = policy[:, :, None] - reference[:, None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def length_bias(lengths, logratios) -> float:
    """Spearman rank correlation of completion length with log pi_theta/pi_ref (NaN if either is constant)."""
    lengths, logratios = np.asarray(lengths, float), np.asarray(logratios, float)
    if np.ptp(lengths) == 0 or np.ptp(logratios) == 0:
        return float("nan")
    return float(sps.spearmanr(lengths, logratios).statistic)


def normalised_lengths(prompts, lengths, ref_lengths: np.ndarray) -> np.ndarray:
    """Each sample's length as a z-score among its prompt's reference completions' lengths
    (``ref_lengths[p]``: the n_ref lengths of prompt p); NaN where those have no spread."""
    prompts, lengths = np.asarray(prompts), np.asarray(lengths, float)
    mean, std = ref_lengths.mean(1), ref_lengths.std(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std[prompts] > 0, (lengths - mean[prompts]) / std[prompts], np.nan)


def policy_length_bias(prompts, lengths, logratios, ref_lengths) -> float:
    """length_bias as the QRPO code measures it (CLAIRE-Labo/quantile-reward-policy-optimization,
    plot_length_bias.py): over the policy's own samples, the Spearman correlation of the length, as a
    z-score among the prompt's reference-completion lengths, with the sequence log-ratio log pi/pi_ref;
    prompts whose reference lengths do not vary are left out, and so are points with a z-score outside
    (-2, 5) or a value outside the 3rd-97th percentiles of either axis (NaN with under 3 points left)."""
    x = normalised_lengths(prompts, lengths, np.asarray(ref_lengths, float))
    y = np.asarray(logratios, float)
    keep = np.isfinite(x) & (x > -2) & (x < 5)
    if keep.sum() < 3:
        return float("nan")
    x, y = x[keep], y[keep]
    lo_x, hi_x, lo_y, hi_y = *np.percentile(x, [3, 97]), *np.percentile(y, [3, 97])
    keep = (x >= lo_x) & (x <= hi_x) & (y >= lo_y) & (y <= hi_y)
    if keep.sum() < 3:
        return float("nan")
    return length_bias(x[keep], y[keep])


def evaluate(task: LLMTask, output: dict) -> dict:
    if output.get("kind") == "parity":  # the backend-parity cell carries its own metrics
        return {}
    _, test = task.prompts()
    m, n = task.eval_samples, task.n_ref
    prompts = [test[i] for i in output["prompt"]]
    texts = output["text"]
    device = output.get("device", "cpu")  # where the solver ran: a reward model scores there too
    reward = np.array(task.score(task.name, prompts, texts, device))
    heldout = np.array(task.score(task.heldout, prompts, texts, device))
    ref_prompts = [p for p in test for _ in range(n)]
    ref_reward = np.array(task.score(task.name, ref_prompts, output["ref_text"], device))
    order = np.argsort(output["prompt"], kind="stable")
    out = {
        "reward": float(reward.mean()),
        "heldout_reward": float(heldout.mean()),
        "win_rate": win_rate(reward[order].reshape(len(test), m), ref_reward.reshape(len(test), n)),
        "kl_k1": float(np.mean(output["k1"])),
        "kl_k3": float(np.mean(output["k3"])),
        "length": float(np.mean(output["length"])),
    }
    if output.get("ref_length") is not None:  # a trained policy (the untrained one has log-ratio 0)
        ref_lengths = np.asarray(output["ref_length"], float).reshape(len(test), n)
        bias = policy_length_bias(output["prompt"], output["length"], output["k1"], ref_lengths)
        if np.isfinite(bias):
            out["length_bias"], out["length_bias_abs"] = bias, abs(bias)
        if output.get("ref_logratio") is not None:  # the diagnostic, when the track config asks for it
            ref_bias = length_bias(output["ref_length"], output["ref_logratio"])
            if np.isfinite(ref_bias):
                out["ref_length_bias"] = ref_bias
    return out
