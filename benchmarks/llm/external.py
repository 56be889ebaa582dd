"""Bring-your-own inputs of the `llm` track: prompt files in the QRPO paper's dataset layouts and a
reward model from a local folder, for the `gpu` profile (nothing here is fetched: copy the files first).

Prompt files are parquet or JSON lines, read through `datasets`:

- ``magpie`` (Magpie-Air-DPO-100K): the instruction in ``instruction``; the reference answer in
  ``chosen`` (a list of chat messages, or a string) or ``response``;
- ``ultrafeedback`` (ultrafeedback_binarized): the instruction in ``prompt``; the reference answer in
  ``chosen`` (a list of chat messages whose last assistant turn is the answer).

The reference answer is what the ``minilm`` reward compares against.  Prompts are split three ways
by a hash of their text (70% train, 15% validation, 15% test), so the split does not depend on the
file's row order and a prompt never sits on two sides.

The reward model is any Hugging Face sequence-classification model with one output (ArmoRM or
Skywork-Reward style): it scores the chat (prompt, completion) with the tokenizer's chat template
where there is one, in batches, on the cell's device.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from .data import Prompt

LAYOUTS = {"magpie": ("instruction", ("chosen", "response")), "ultrafeedback": ("prompt", ("chosen",))}
SHARES = {"train": 0.70, "validation": 0.15, "test": 0.15}


def _answer(value) -> str:
    """The reference answer of a row: a string, or the last assistant turn of a list of chat messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        turns = [m.get("content", "") for m in value if isinstance(m, dict) and m.get("role") == "assistant"]
        if turns:
            return turns[-1]
    return ""


def load_prompts(path: str, layout: str) -> list[Prompt]:
    """Every prompt of a parquet or JSON-lines file in ``layout``, with its reference answer."""
    if layout not in LAYOUTS:
        raise ValueError(f"llm prompts_layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    file = Path(path).expanduser()
    # a glob reads every shard (Magpie-Air's train split comes as several parquet files), in name order
    if "*" in file.name:
        if not sorted(file.parent.glob(file.name)):
            raise ValueError(f"llm prompts_file {str(file)!r}: no file matches")
    elif not file.is_file():
        raise ValueError(f"llm prompts_file {str(file)!r}: no such file")
    kind = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(file.suffix)
    if kind is None:
        raise ValueError(f"llm prompts_file {str(file)!r}: expected .parquet, .jsonl or .json file(s)")
    return _load(str(file), kind, layout)


@lru_cache(maxsize=4)
def _load(file: str, kind: str, layout: str) -> list[Prompt]:
    import datasets

    datasets.disable_progress_bars()
    files = sorted(str(f) for f in Path(file).parent.glob(Path(file).name)) if "*" in file else file
    rows = datasets.load_dataset(kind, data_files=files, split="train")
    text_col, answer_cols = LAYOUTS[layout]
    answer_col = next((c for c in answer_cols if c in rows.column_names), None)
    missing = [c for c in (text_col,) if c not in rows.column_names] + ([] if answer_col else [" or ".join(answer_cols)])
    if missing:
        raise ValueError(f"llm prompts_file {file!r} ({layout} layout) lacks column(s) {', '.join(missing)}; "
                         f"it has {', '.join(rows.column_names)}")
    prompts = [Prompt(layout, str(r[text_col]), _answer(r[answer_col]), "") for r in rows]
    prompts = [p for p in prompts if p.text.strip() and p.answer.strip()]
    if not prompts:
        raise ValueError(f"llm prompts_file {file!r}: no row has both an instruction and a reference answer")
    return prompts


def side(text: str) -> str:
    """train, validation or test, from a hash of the prompt's text."""
    u = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8
    return "train" if u < SHARES["train"] else "validation" if u < SHARES["train"] + SHARES["validation"] else "test"


def splits(path: str, layout: str, n_train: int, n_eval: int, part: str = "test") -> tuple[list[Prompt], list[Prompt]]:
    """(train, held-out) prompts of a file: the first ``n_train`` of its train side and the first
    ``n_eval`` of its ``part`` side, in file order."""
    prompts = load_prompts(path, layout)
    train = [p for p in prompts if side(p.text) == "train"]
    held = [p for p in prompts if side(p.text) == part]
    if n_train > len(train) or n_eval > len(held):
        raise ValueError(f"asked for {n_train} train / {n_eval} {part} prompts; {path} holds {len(train)} / "
                         f"{len(held)} ({', '.join(f'{k} {v:.0%}' for k, v in SHARES.items())} of its rows)")
    return train[:n_train], held[:n_eval]


# ---------------------------------------------------------------------------- reward model
@lru_cache(maxsize=2)
def _reward_model(path: str, device: str, dtype: str = "float32"):
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(f"llm reward_model {str(folder)!r}: not a Hugging Face model folder (no config.json)")
    config = AutoConfig.from_pretrained(folder)
    if not any(a.endswith("ForSequenceClassification") for a in (config.architectures or [])):
        raise ValueError(f"llm reward_model {str(folder)!r} is a {', '.join(config.architectures or ['?'])}, not a "
                         f"sequence-classification model (ArmoRM / Skywork-Reward style)")
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=getattr(torch, dtype)).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _chat(tokenizer, prompt: str, completion: str) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                              {"role": "assistant", "content": completion}], tokenize=False)
    return f"{prompt}\n{completion}"


def reward_model_scores(path: str, prompts: list[Prompt], completions: list[str], device: str = "cpu",
                        batch_size: int = 16, dtype: str = "float32") -> list[float]:
    """The reward model's score (its first output logit) of each (prompt, completion) chat, the model
    in ``dtype`` (the policy's: bfloat16 halves an 8B reward model's memory beside training)."""
    import torch

    model, tokenizer = _reward_model(str(path), device, dtype)
    texts = [_chat(tokenizer, p.text, c) for p, c in zip(prompts, completions, strict=True)]
    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                        add_special_tokens=False).to(device)
        with torch.no_grad():
            out += model(**enc).logits[:, 0].float().cpu().tolist()
    return out
