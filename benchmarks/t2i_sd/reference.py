"""The `t2i-sd` track's reference rows: the unaligned base pipelines, sampled with the track's own sampler
(DDIM for sd, Euler for sd3), classifier-free guidance at the task's scale and the same steps as every solver."""

from __future__ import annotations

import time

from . import pipelines
from .track import eval_batch, finish, load_base, sample_images


def base_row(task, config: dict, seed: int, kind: str) -> dict:
    device = config.get("device", "cpu")
    pipe = load_base(task, kind, device)
    cond = pipelines.Conditioning(pipe, kind, task.prompts(), device)
    idx, noise = eval_batch(task, pipe, kind, seed)
    t0 = time.perf_counter()
    images, _ = sample_images(pipe, kind, task, cond, idx, noise)
    return finish(task, kind, images, idx, device,
                  {"train_s": 0.0, "samples_per_s": len(idx) / (time.perf_counter() - t0)})


def base_sd(task, config: dict, seed: int) -> dict:
    """The base StableDiffusionPipeline (DDIM, classifier-free guidance), unaligned."""
    return base_row(task, config, seed, "sd")


def base_sd3(task, config: dict, seed: int) -> dict:
    """The base StableDiffusion3Pipeline (Euler on the flow, classifier-free guidance), unaligned."""
    return base_row(task, config, seed, "sd3")
