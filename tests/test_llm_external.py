"""Bring-your-own inputs of the llm track: prompt files in the Magpie / UltraFeedback layouts and a
sequence-classification reward model from a local folder, built here from config (no hub)."""

import json
import math

import pytest

pytest.importorskip("datasets")
torch = pytest.importorskip("torch")

from tiltbench import registry  # noqa: E402
from tiltbench.benchmarks.llm import external  # noqa: E402
from tiltbench.benchmarks.llm.track import make_task  # noqa: E402

N = 60


def _magpie(tmp_path, n=N, drop=None):
    rows = [{"instruction": f"Name a colour that rhymes with {i}.", "chosen": [
        {"role": "user", "content": "?"}, {"role": "assistant", "content": f"Red number {i}."}]} for i in range(n)]
    for r in rows:
        r.pop(drop, None)
    path = tmp_path / "magpie.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _ultrafeedback(tmp_path, n=N):
    import pandas as pd

    path = tmp_path / "uf.parquet"
    pd.DataFrame({"prompt": [f"Write {i} words about tea." for i in range(n)],
                  "chosen": [[{"role": "user", "content": "?"}, {"role": "assistant", "content": f"Tea {i}."}]
                             for i in range(n)]}).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def reward_folder(tmp_path_factory):
    """A 2-layer random Llama sequence classifier with SmolLM2's tokenizer (the tiny-random one's)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from tiltbench.benchmarks.llm import model as llm_model

    tiny = llm_model.resolve("tiny-random")
    tok = AutoTokenizer.from_pretrained(tiny)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, num_labels=1,
                         pad_token_id=tok.pad_token_id or tok.eos_token_id)
    folder = tmp_path_factory.mktemp("rm")
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_both_layouts_load_and_split_three_ways_by_text(tmp_path):
    magpie = external.load_prompts(str(_magpie(tmp_path)), "magpie")
    uf = external.load_prompts(str(_ultrafeedback(tmp_path)), "ultrafeedback")
    assert len(magpie) == len(uf) == N
    assert magpie[3].answer == "Red number 3." and uf[5].answer == "Tea 5."
    train, test = external.splits(str(_ultrafeedback(tmp_path)), "ultrafeedback", 10, 3)
    _, val = external.splits(str(_ultrafeedback(tmp_path)), "ultrafeedback", 10, 3, "validation")
    assert not {p.text for p in train} & {p.text for p in test} and not {p.text for p in val} & {p.text for p in test}
    assert all(external.side(p.text) == "test" for p in test)


def test_bad_prompt_files_name_the_file_and_the_column(tmp_path):
    with pytest.raises(ValueError, match=r"magpie.jsonl' \(magpie layout\) lacks column\(s\) chosen or response"):
        external.load_prompts(str(_magpie(tmp_path, drop="chosen")), "magpie")
    with pytest.raises(ValueError, match="no such file"):
        external.load_prompts(str(tmp_path / "nope.parquet"), "magpie")
    with pytest.raises(ValueError, match="prompts_layout 'alpaca'; valid: magpie, ultrafeedback"):
        external.load_prompts(str(_magpie(tmp_path)), "alpaca")
    with pytest.raises(ValueError, match=r"asked for 500 train / 3 test prompts; .* holds"):
        external.splits(str(_magpie(tmp_path)), "magpie", 500, 3)


def test_task_config_checks_the_rewards_a_prompt_file_allows(tmp_path, reward_folder):
    cfg = {"prompts_file": str(_magpie(tmp_path)), "n_train": 10, "n_test": 3}
    with pytest.raises(ValueError, match="verifiable reward needs the generated prompts"):
        make_task("verifiable", cfg, 0)
    with pytest.raises(ValueError, match="scores the rm reward: set the track config's reward_model"):
        make_task("rm", cfg, 0)
    task = make_task("rm", {**cfg, "reward_model": str(reward_folder)}, 0)
    assert task.rewards == ("rm", "minilm")
    assert make_task("minilm", {**cfg, "reward_model": str(reward_folder)}, 0).heldout == "rm"


def test_reward_model_scores_in_batches_and_refuses_a_causal_lm(tmp_path, reward_folder):
    from tiltbench.benchmarks.llm import model as llm_model

    prompts = external.load_prompts(str(_magpie(tmp_path)), "magpie")[:5]
    one = external.reward_model_scores(str(reward_folder), prompts, ["a", "bb", "ccc", "dddd", "e"], batch_size=2)
    alone = external.reward_model_scores(str(reward_folder), prompts[2:3], ["ccc"], batch_size=1)
    assert len(one) == 5 and all(math.isfinite(v) for v in one) and len(set(one)) > 1
    assert one[2] == pytest.approx(alone[0], abs=1e-4)  # padding in a batch does not change a score
    with pytest.raises(ValueError, match="is a LlamaForCausalLM, not a sequence-classification model"):
        external.reward_model_scores(str(llm_model.resolve("tiny-random")), prompts[:1], ["x"])


def test_a_solver_trains_on_a_prompt_file_with_the_reward_model(tmp_path, reward_folder):
    cfg = {"prompts_file": str(_ultrafeedback(tmp_path)), "prompts_layout": "ultrafeedback",
           "reward_model": str(reward_folder), "model": "tiny-random", "n_train": 8, "n_test": 3, "n_ref": 2,
           "train_samples": 2, "n_quantile": 3, "max_new_tokens": 5, "steps": 2, "batch": 2, "eval_samples": 2,
           "gen_batch": 16}
    track, solver = registry.get_track("llm"), registry.get_solver("llm", "qrpo")
    task = track.make_task("rm", cfg, 0)
    out = solver.fn(task, registry.solver_config(solver, "smoke"), 0)
    metrics = track.evaluate(task, out)
    assert {"reward", "heldout_reward", "kl_k3"} <= set(metrics) and all(math.isfinite(v) for v in metrics.values())


def test_a_glob_reads_every_shard(tmp_path):
    import pandas as pd

    for k in range(2):
        pd.DataFrame({"prompt": [f"shard {k} row {i}" for i in range(5)],
                      "chosen": [[{"role": "assistant", "content": "ok"}]] * 5}).to_parquet(tmp_path / f"train-{k}.parquet")
    prompts = external.load_prompts(str(tmp_path / "train-*.parquet"), "ultrafeedback")
    assert len(prompts) == 10 and prompts[0].text == "shard 0 row 0"
    with pytest.raises(ValueError, match="no file matches"):
        external.load_prompts(str(tmp_path / "test-*.parquet"), "ultrafeedback")
