"""The untrained policy of the `llm` track, scored like every trained one (the row to beat)."""

from __future__ import annotations


from tiltbench.benchmarks.llm.loop import evaluate_policy, reference_set


def reference(task, config: dict, seed: int) -> dict:
    """pi_ref itself: no training; its samples on the held-out prompts (KL 0 by construction)."""
    from tiltbench.benchmarks.llm import model as llm_model

    device = config.get("device", "cpu")
    model, tokenizer = llm_model.load(llm_model.resolve(task.model), task.dtype, device)
    ref = reference_set(task, seed, model, tokenizer, device)
    out = evaluate_policy(model, tokenizer, task, ref, seed, trained=False)
    out["metrics"] = {"gen_tok_per_s": out.pop("gen_tok_per_s"), "ref_gen_tok_per_s": ref["tok_per_s"]}
    return out
