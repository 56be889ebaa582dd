"""Seeds: one base seed per profile, one derived seed per cell, shared across solvers.

Every solver of a (track, task, rep) sees the same seed, so comparisons between a method and a
baseline are paired: both see the same sampled data where they draw it the same way.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np


def derive_seed(*parts) -> int:
    """A 31-bit seed from a hash of ``parts`` (stable across runs, machines and Python versions)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def cell_seed(base_seed: int, track: str, task: str, rep: int) -> int:
    return derive_seed(base_seed, track, task, rep)


def task_seed(base_seed: int, track: str, task: str) -> int:
    """Seed of the task instance itself (same for every rep: reps vary sampling, not the problem)."""
    return derive_seed(base_seed, track, task, "instance")


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; ask torch for deterministic kernels where it has them."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
