"""The `t2i-sd` track: reward-tilted text-to-image sampling on Stable Diffusion-class pipelines, bring your
own weights.

It is the paper-scale sibling of `t2i` (Ouyang, Xie, Zha, Cheng, "Alignment of Diffusion Model and Flow
Matching for Text-to-Image Generation"): the guidance network (in latent space) on a
``StableDiffusionPipeline``, training-free velocity guidance on a ``StableDiffusion3Pipeline`` (rectified
flow), LoRA reward finetuning (DRaFT-K, Clark et al. ICLR 2024) on each, and the base pipelines, all with
classifier-free guidance kept.  Rewards are CLIP-based scorers (rewards.py); prompts come from local files
(prompts.py).

Task names are ``<prompt set>-lam<lambda>``: the prompt set is ``tiny`` (shipped) or the name of a file or
folder in the track config's ``prompts_dir`` (``drawbench`` -> ``<prompts_dir>/drawbench.csv``, ``hpdv2`` ->
``<prompts_dir>/hpdv2/``).  Every model path is a local folder or ``"tiny"`` (a random pipeline or scorer
built from config: what the tests, ``gpu-smoke`` and the CPU profiles run).

There is no exact tilted target at this scale (no tractable importance-weighted pool), so a cell reports
the training reward, a held-out scorer's reward, and divergences to the base pipeline's own samples
(reference pool, its own noise): the Frechet distance and a Gaussian KL in a feature space no reward uses
(the base pipeline's VAE encoder means, average-pooled to ``feature_pool`` squared values per latent
channel).  They are left out of a cell with fewer samples (or reference samples) than twice the feature
width, where the Gaussian fits are degenerate (tiltbench/divergences.py).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from tiltbench.cache import cache_dir, file_lock
from tiltbench.divergences import frechet, gauss_kl
from tiltbench.errors import unknown
from tiltbench.registry import check_type

from . import pipelines, prompts as sd_prompts, rewards as sd_rewards

TASK_RE = re.compile(r"(?P<prompts>[a-z0-9_]+)-lam(?P<lam>[0-9]*\.?[0-9]+)$")
POOLS = {"train": 11, "reference": 12}  # noise stream per base pool
EVAL_STREAM = 13
POOL_VERSION = 1


@dataclass(frozen=True)
class SDTask:
    name: str
    prompt_set: str
    lam: float
    sd_path: str = "tiny"          # StableDiffusionPipeline folder (or "tiny")
    sd3_path: str = "tiny"         # StableDiffusion3Pipeline folder (or "tiny")
    reward_path: str = "tiny"      # CLIP scorer trained on (folder, "tiny" or "tiny:N")
    heldout_path: str = "tiny:1"   # a second scorer no solver sees
    prompts_dir: str = ""          # where named prompt sets live
    n_prompts: int = 0             # the first N prompts of the set (0: all)
    resolution: int = 32           # image side in pixels
    sample_steps: int = 4          # sampler steps of every solver and the base pipelines
    cfg_sd: float = 7.5            # classifier-free guidance scale on sd
    cfg_sd3: float = 7.0           # ... and on sd3
    n_eval: int = 2                # evaluation samples per prompt
    n_ref: int = 4                 # base reference samples per prompt (the divergences' reference)
    n_pool: int = 8                # base samples per prompt the guidance network trains on
    dtype: str = "float32"         # float32, float16 or bfloat16 for the pipelines and scorers
    feature_pool: int = 2          # the divergences' features: VAE latent means pooled to this side per channel

    def prompts(self) -> list[str]:
        if self.prompt_set == "tiny":
            return sd_prompts.load_prompts("tiny", self.n_prompts)
        if not self.prompts_dir:
            raise ValueError(f"t2i-sd task {self.name!r}: prompt set {self.prompt_set!r} needs the track config's "
                             "prompts_dir (a folder holding it); only 'tiny' is shipped")
        folder = Path(self.prompts_dir).expanduser()
        for candidate in (folder / self.prompt_set, *(folder / f"{self.prompt_set}{s}" for s in sd_prompts.SUFFIXES)):
            if candidate.exists():
                return sd_prompts.load_prompts(str(candidate), self.n_prompts)
        raise ValueError(f"t2i-sd prompt set {self.prompt_set!r} not found in {str(folder)!r}: expected a folder or a "
                         f"file named {self.prompt_set} with suffix {', '.join(sd_prompts.SUFFIXES)}")

    def path(self, kind: str) -> str:
        pipelines.check_kind(kind)
        return self.sd_path if kind == "sd" else self.sd3_path

    def cfg(self, kind: str) -> float:
        return self.cfg_sd if kind == "sd" else self.cfg_sd3


def make_task(name: str, config: dict, seed: int) -> SDTask:
    m = TASK_RE.match(name)
    if not m:
        raise ValueError(f"unknown t2i-sd task {name!r}; valid: <prompt set>-lam<lambda>, e.g. tiny-lam0.1")
    known = {f.name: f for f in fields(SDTask) if f.name not in ("name", "prompt_set", "lam")}
    kwargs = {}
    for key, value in config.items():
        if key in ("tasks", "reps", "solvers"):  # the core strips the other selection keys
            continue
        if key not in known:
            raise unknown("t2i-sd track config key", key, known)
        kwargs[key] = check_type(f"t2i-sd track config {key}", value, known[key].default)
    task = SDTask(name, m["prompts"], float(m["lam"]), **kwargs)
    if not task.lam > 0:
        raise ValueError(f"t2i-sd task {name!r}: lambda must be > 0")
    for key in ("resolution", "sample_steps", "n_eval", "n_ref", "n_pool", "feature_pool"):
        if getattr(task, key) < 1:
            raise ValueError(f"t2i-sd track config {key} = {getattr(task, key)}: must be >= 1")
    if task.resolution % 8:
        raise ValueError(f"t2i-sd track config resolution = {task.resolution}: must be a multiple of 8")
    pipelines.check_dtype(task.dtype)
    task.prompts()  # a missing or malformed prompt file fails here, before any model loads
    return task


# -- what every solver shares -------------------------------------------------------------------------

def load_base(task: SDTask, kind: str, device: str = "cpu"):
    """The frozen base pipeline of ``kind`` on ``device``."""
    return pipelines.load_pipeline(task.path(kind), kind, device, task.dtype)


def scorer(task: SDTask, device: str = "cpu", heldout: bool = False) -> sd_rewards.ClipScorer:
    """The training (or held-out) scorer on ``device``, in float32 whatever the pipelines' dtype: a reward
    scored in bfloat16 carries noise of about 1e-3, the size of the differences between methods."""
    return sd_rewards.load_scorer(task.heldout_path if heldout else task.reward_path, device, torch.float32)


def score(reward: sd_rewards.ClipScorer, images: torch.Tensor, texts: list[str], device: str,
          batch: int = 16) -> torch.Tensor:
    """Rewards (CPU) of CPU ``images``, scored on ``device`` in batches."""
    with torch.no_grad():
        return torch.cat([reward(images[i:i + batch].to(device), texts[i:i + batch]).cpu()
                          for i in range(0, len(images), batch)])


def noise_for(pipe, kind: str, task: SDTask, n: int, stream: int, seed: int) -> torch.Tensor:
    """``n`` latent noises (CPU generator: the same on every device), one stream per purpose and seed."""
    g = torch.Generator().manual_seed(1_000_003 * stream + seed)
    return torch.randn((n, *pipelines.latent_shape(pipe, kind, task.resolution)), generator=g)


def sample_images(pipe, kind: str, task: SDTask, cond, idx: torch.Tensor, noise: torch.Tensor, batch: int = 8,
                  correct_for=None, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """(images in [-1, 1], final latents), both float32 on the CPU (a paper-scale pool would not fit on the
    GPU), for prompt indices ``idx``, in batches; ``correct_for(batch's prompt indices)`` gives a batch its
    guidance ``correct``; ``kw`` goes to ``pipelines.sample`` (e.g. a finetuned ``net``)."""
    device = next(pipelines.denoiser(pipe, kind).parameters()).device
    dtype = pipelines.check_dtype(task.dtype)
    images, latents = [], []
    for part in torch.arange(len(idx)).split(batch):
        guide = {"correct": correct_for(idx[part])} if correct_for is not None else {}
        z = pipelines.sample(pipe, kind, cond, idx[part].to(device), noise[part].to(device, dtype),
                             task.sample_steps, task.cfg(kind), **guide, **kw)
        with torch.no_grad():
            images.append(pipelines.decode(pipe, kind, z.detach()).float().cpu())
        latents.append(z.detach().float().cpu())
    return torch.cat(images), torch.cat(latents)


def eval_batch(task: SDTask, pipe, kind: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt indices, noise) of a cell's evaluation samples: ``n_eval`` per prompt, noise from the seed."""
    idx = torch.arange(len(task.prompts())).repeat_interleave(task.n_eval)
    return idx, noise_for(pipe, kind, task, len(idx), EVAL_STREAM, seed)


def base_pool(task: SDTask, kind: str, role: str, device: str = "cpu", pipe=None) -> dict:
    """The base pipeline's ``role`` pool (cached on disk; drawn on ``device`` when missing; CPU tensors):
    {'z' final latents, 'images' in [-1, 1] (stored as 8-bit), 'idx' prompt indices, 'sample_s'}; 'train'
    holds ``n_pool`` samples per prompt, 'reference' ``n_ref``, each from its own noise (the same noise for
    every seed: a cell's spread leaves out the pool's).  The cache key holds the folder's path, not its
    contents: replacing the weights in place needs a fresh $TILTBENCH_CACHE."""
    if role not in POOLS:
        raise ValueError(f"unknown t2i-sd pool role {role!r}; valid: {', '.join(POOLS)}")
    path = task.path(kind)
    where = path if path == pipelines.TINY else str(Path(path).expanduser().resolve())
    per = task.n_pool if role == "train" else task.n_ref
    key = "|".join(map(str, (kind, where, tuple(task.prompts()), task.resolution, task.sample_steps, task.cfg(kind),
                             task.dtype, per, POOL_VERSION)))
    folder = cache_dir("t2i-sd", "pools")
    target = folder / f"{kind}-{role}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    with file_lock(folder / f"{target.stem}.lock"):
        if not target.exists():
            pipe = pipe if pipe is not None else load_base(task, kind, device)
            cond = pipelines.Conditioning(pipe, kind, task.prompts(), device)
            idx = torch.arange(len(task.prompts())).repeat_interleave(per)
            noise = noise_for(pipe, kind, task, len(idx), POOLS[role], 0)
            t0 = time.perf_counter()
            with torch.no_grad():
                images, z = sample_images(pipe, kind, task, cond, idx, noise)
            pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            torch.save({"z": z, "pixels": pixels, "idx": idx, "sample_s": time.perf_counter() - t0},
                       target.with_suffix(".tmp"))
            target.with_suffix(".tmp").rename(target)
    pool = torch.load(target, map_location="cpu", weights_only=True)
    pool["images"] = pool.pop("pixels").float() / 127.5 - 1
    return pool


def finish(task: SDTask, kind: str, images: torch.Tensor, idx: torch.Tensor, device: str, metrics: dict,
           curves=None) -> dict:
    """A solver's output: its evaluation images (CPU), which prompt each shows, which base it used, the device
    it ran on (evaluation scores there), cost metrics."""
    if not torch.isfinite(images).all():
        raise FloatingPointError(f"t2i-sd: the {kind} samples hold NaN or inf")
    return {"x": images.detach().cpu(), "idx": idx, "base": kind, "device": device, "metrics": metrics,
            "curves": curves or {}}


# -- evaluation -------------------------------------------------------------------------------------------

def features(pipe, images: torch.Tensor, side: int, batch: int = 16) -> np.ndarray:
    """The base pipeline's VAE encoder means of ``images``, average-pooled to side x side per latent channel."""
    vae, out = pipe.vae, []
    with torch.no_grad():
        for part in images.split(batch):
            mean = vae.encode(part.to(vae.device, vae.dtype)).latent_dist.mean
            out.append(F.adaptive_avg_pool2d(mean.float(), side).flatten(1).cpu())
    return torch.cat(out).numpy().astype(np.float64)


def evaluate(task: SDTask, output: dict) -> dict:
    """Reward, held-out reward, and divergences to the base pipeline's reference pool (on the solver's device)."""
    x, kind, idx, device = output["x"], output["base"], output["idx"], output["device"]
    prompts = task.prompts()
    texts = [prompts[i] for i in idx.tolist()]
    r = score(scorer(task, device), x, texts, device)
    held = score(scorer(task, device, heldout=True), x, texts, device)
    pipe = load_base(task, kind, device)
    reference = base_pool(task, kind, "reference", device, pipe)
    f, f_ref = features(pipe, x, task.feature_pool), features(pipe, reference["images"], task.feature_pool)
    out = {"reward": float(r.mean()), "heldout_reward": float(held.mean())}
    if min(len(f), len(f_ref)) >= 2 * f.shape[1]:  # fewer samples than that: the Gaussian fits are degenerate
        out.update(fd_base=frechet(f, f_ref), kl_feat=gauss_kl(f, f_ref))
    return out
