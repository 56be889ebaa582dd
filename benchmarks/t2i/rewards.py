"""Rewards of the `t2i` track, each a differentiable function of (images in [-1, 1], digits) -> (N,).

- ``correct``: compositional correctness, the probability the project's CNN classifier gives the digit the
  caption names ("does the image show what the caption says");
- ``bright``: an aesthetic-style proxy in the spirit of DDPO's compressibility rewards: mean ink
  (pixel intensity in [0, 1]), i.e. bold strokes;
- ``heldout``: the probability an independently trained MLP classifier gives the caption's digit.  No
  method trains on it; a method that hacks its training reward (adversarial pixels, blobs of ink)
  loses it.

The classifiers run on the device of the images (``digits`` must be there too).
"""

from __future__ import annotations

import torch

from . import models as t2i_models

REWARDS = ("correct", "bright")
HELDOUT = "heldout"


def _class_prob(name: str, x: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    logits = t2i_models.classifier(name, x.device)(x)
    return logits.softmax(-1).gather(1, digits[:, None]).squeeze(1)


def correct(x: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    return _class_prob("cnn", x, digits)


def bright(x: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).mean(dim=(1, 2, 3))


def heldout(x: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    return _class_prob("mlp", x, digits)


def reward_fn(name: str):
    funcs = {"correct": correct, "bright": bright, "heldout": heldout}
    if name not in funcs:
        raise ValueError(f"unknown t2i reward {name!r}; valid: {', '.join(funcs)}")
    return funcs[name]


def predicted_digit(x: torch.Tensor) -> torch.Tensor:
    """The correctness classifier's reading of each image."""
    with torch.no_grad():
        return t2i_models.classifier("cnn", x.device)(x).argmax(-1)

