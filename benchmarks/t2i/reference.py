"""Reference rows of the `t2i` track: the two untrained base models and their exact tilted targets.

- ``base-ddpm`` / ``base-flow``: the base model sampled as trained (DDIM / Euler, the task's step count);
- ``tilted-ddpm`` / ``tilted-flow``: the exact tilted distribution p(x | c) exp(r / lambda) of that base,
  drawn by resampling its cached *target* pool with self-normalised weights exp(r / lambda) per caption.
  This is the distribution the guidance methods aim at (not a practical method: it needs many base
  samples per accepted one when lambda is small; ``train_s`` is the pool's sampling time).  Besides the
  scores of its resampled picks it reports the importance estimate itself (``target_reward``, with the
  bootstrap interval ``target_lo`` .. ``target_hi`` over the pool) and the weights' effective sample size
  per caption (``tilt_ess``: mean, ``tilt_ess_min``: the smallest), which the claims' ESS gate reads.
"""

from __future__ import annotations

import time

import torch

from tiltbench.benchmarks.t2i import models as t2i_models
from tiltbench.benchmarks.t2i.track import base, base_metrics, base_pool, eval_batch, finish, sample_batched, tilted_target


def sample_base(task, kind: str, seed: int, device: str = "cpu") -> dict:
    unet, meta = base(task, kind, device)
    digits, noise = eval_batch(task, seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        x = sample_batched(lambda emb, _: t2i_models.base_fn(unet, kind, emb), kind, digits, noise, task.sample_steps,
                           device=device)
    rate = len(x) / (time.perf_counter() - t0)
    return finish(task, kind, x, digits, {"train_s": 0.0, "samples_per_s": rate, **base_metrics(task, kind, meta)})


def resample_tilted(task, kind: str, seed: int, device: str = "cpu") -> dict:
    """Resampling of the target pool happens on the CPU (where the pool is cached); the pool's rewards and the
    scoring of the picks run on ``device``."""
    _, meta = base(task, kind, device)
    pool, target = base_pool(task, kind, device, "target"), tilted_target(task, kind, device)
    digits, _ = eval_batch(task, seed)
    g = torch.Generator().manual_seed(seed)
    picks = []
    for d in range(10):
        idx = torch.nonzero(pool["digits"] == d).squeeze(1)
        picks.append(idx[torch.multinomial(target["weights"][idx].float(), task.n_eval, replacement=True, generator=g)])
    x = pool["x"][torch.cat(picks)].to(device)
    return finish(task, kind, x, digits, {"train_s": float(pool["sample_s"]), "tilt_ess": target["ess"],
                                          "tilt_ess_min": target["ess_min"], "target_reward": target["reward"],
                                          "target_lo": target["lo"], "target_hi": target["hi"],
                                          **base_metrics(task, kind, meta)})


def base_ddpm(task, config: dict, seed: int) -> dict:
    """The unaligned diffusion base model (epsilon-prediction, DDIM sampling)."""
    return sample_base(task, "ddpm", seed, config.get("device", "cpu"))


def base_flow(task, config: dict, seed: int) -> dict:
    """The unaligned rectified-flow base model (Euler sampling)."""
    return sample_base(task, "flow", seed, config.get("device", "cpu"))


def tilted_ddpm(task, config: dict, seed: int) -> dict:
    """The exact tilted distribution of base-ddpm (importance resampling of its sample pool)."""
    return resample_tilted(task, "ddpm", seed, config.get("device", "cpu"))


def tilted_flow(task, config: dict, seed: int) -> dict:
    """The exact tilted distribution of base-flow (importance resampling of its sample pool)."""
    return resample_tilted(task, "flow", seed, config.get("device", "cpu"))
