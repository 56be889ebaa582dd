"""The `t2i` track: sampling a reward-tilted text-to-image model p(x | c) exp(r(x, c) / lambda).

Ouyang, Xie, Zha, Cheng, "Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation":
the tilted target's score (velocity) is the base model's plus grad log h_t(x_t, c), where
h_t = E[exp(r(x_0, c) / lambda) | x_t].  A task is ``<reward>-lam<lambda>`` (rewards in
benchmarks/t2i/rewards.py); the base models (benchmarks/t2i/models.py) are trained once per profile on the
8x8 digits with MiniLM captions (benchmarks/t2i/data.py).

Every solver of a (task, rep) draws the same evaluation noise for the same captions (``n_eval`` per digit)
and hands back its samples; this module scores them:

- ``reward`` / ``heldout_reward``: mean training reward and mean held-out classifier probability;
- ``target_gap``: reward minus the reward of the *exact* tilted distribution of the solver's base model,
  estimated by self-normalised importance weighting of the base model's *target* pool with weights
  exp(r / lambda) per caption (0 = on target; positive = past it, the reward-hacking side), and
  ``target_err`` = |target_gap|, what a grid's tuning minimises (the point that samples closest to the
  tilted target at this lambda);
- ``accuracy``: share of samples the correctness classifier reads as the caption's digit;
- ``fid_real``: Frechet distance between Gaussians fitted to the samples' and the real test digits'
  features (sample quality);
- ``fid_base``: the same distance to the base model's *reference* pool (an FID-style distance from the
  base distribution);
- ``kl_feat``: KL(N(samples) || N(reference pool)) between Gaussians fitted to those features (a KL proxy);
- ``diversity``: mean pairwise feature distance between samples of the same caption.

The features come from an autoencoder that no reward uses (benchmarks/t2i/features.py).

Three pools of base samples per base model, drawn from different noise and cached (``base_pool``): the
*train* pool (``pool`` per caption) is the guidance network's data, the *target* pool (``target_pool`` per
caption) alone defines the exact tilted target, and the *reference* pool (``pool`` per caption) is the
base distribution the FID-style distances are measured against; the real test digits are the other
reference.  So the guidance network is never scored against the very samples it was fitted to.  The
target's reward comes with a bootstrap 95% interval over its pool and the weights' effective sample size
(``tilted_target``): the claims that lean on the target are not judged where that ESS is below 50
(benchmarks/t2i/claims.py).

Devices: a solver runs on ``config["device"]`` (the worker's cell device; "cpu" when absent).  The
evaluation noise and captions are drawn on the CPU (the same for every device), the cached pools hold
CPU tensors, and a solver hands back its samples on its device, where ``evaluate`` scores them.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from tiltbench.cache import cache_dir, file_lock
from tiltbench.errors import unknown
from tiltbench.registry import check_type

from . import data as t2i_data, features as t2i_features, models as t2i_models, rewards as t2i_rewards

TASK_RE = re.compile(r"^(?P<reward>[a-z]+)-lam(?P<lam>[0-9]*\.?[0-9]+)$")
POOLS = {"train": 7919, "target": 6007, "reference": 104729}  # pool role -> noise seed (never a cell seed)
POOL_VERSION = 3  # bump when the samplers change what a cached pool holds
BOOT_SEED, BOOT = 2027, 1000  # bootstrap of the tilted target's reward: seed and resamples


@dataclass(frozen=True)
class T2ITask:
    name: str
    reward: str
    lam: float
    widths: tuple = (64, 128)  # UNet block widths of both base models
    base_steps: int = 800
    base_batch: int = 128
    base_lr: float = 1e-3
    ddpm_path: str = ""  # a local diffusers UNet folder instead of training (gpu profile)
    flow_path: str = ""
    sample_steps: int = 20  # DDIM / Euler steps of every sampler
    pool: int = 200  # base samples per caption of the train pool (guidance network) and the reference pool (FID)
    target_pool: int = 1000  # base samples per caption of the target pool (the exact tilted target)
    n_eval: int = 32  # samples per caption scored per cell
    grid: int = 4  # samples per caption kept for the report's image grid

    def spec(self, kind: str) -> t2i_models.BaseSpec:
        return t2i_models.BaseSpec(kind, tuple(self.widths), self.base_steps, self.base_batch, self.base_lr)

    def reward_fn(self):
        return t2i_rewards.reward_fn(self.reward)


def make_task(name: str, config: dict, seed: int) -> T2ITask:
    m = TASK_RE.match(name)
    if not m or m["reward"] not in t2i_rewards.REWARDS:
        raise ValueError(f"unknown t2i task {name!r}; valid: <reward>-lam<lambda> with reward in "
                         f"{', '.join(t2i_rewards.REWARDS)}, e.g. correct-lam0.1")
    known = {f.name: f for f in fields(T2ITask) if f.name not in ("name", "reward", "lam")}
    kwargs = {}
    for key, value in config.items():
        if key in ("tasks", "reps", "solvers"):
            continue
        if key not in known:
            raise unknown("t2i track config key", key, known)
        if key == "widths":
            if not (isinstance(value, (list, tuple)) and value and all(isinstance(w, int) and w >= 8 for w in value)):
                raise ValueError(f"t2i track config widths = {value!r}: a list of ints >= 8, like [64, 128]")
            kwargs[key] = tuple(value)
            continue
        kwargs[key] = check_type(f"t2i track config {key}", value, known[key].default)
    task = T2ITask(name, m["reward"], float(m["lam"]), **kwargs)
    if not task.lam > 0:
        raise ValueError(f"t2i task {name!r}: lambda must be > 0")
    for key in ("base_steps", "base_batch", "sample_steps", "pool", "target_pool", "n_eval"):
        if getattr(task, key) < 1:
            raise ValueError(f"t2i track config {key} = {getattr(task, key)}: must be >= 1")
    return task


# -- what every solver shares -------------------------------------------------------------------------

def base(task: T2ITask, kind: str, device: str = "cpu"):
    """(base unet on ``device``, metadata with its training time) of kind 'ddpm' or 'flow'."""
    return t2i_models.base_model(task.spec(kind), task.ddpm_path if kind == "ddpm" else task.flow_path, device)


def eval_batch(task: T2ITask, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(digits, noise) every solver of a rep samples from: n_eval per digit, the first caption phrasing
    (on the CPU: the same on every device)."""
    digits = torch.arange(10).repeat_interleave(task.n_eval)
    noise = torch.randn((len(digits), 1, 8, 8), generator=torch.Generator().manual_seed(seed))
    return digits, noise


PROBE_SEED_OFFSET = 104729  # training-curve probe noise: seed + this (the evaluation noise uses the seed itself)


def reward_probe(task: T2ITask, kind: str, seed: int, per_digit: int, device: str = "cpu"):
    """``probe(fn_for) -> float``: the mean training reward of a fixed probe batch (``per_digit`` per
    digit, noise apart from the evaluation's) sampled by base ``kind``'s sampler following ``fn_for``
    (as in ``sample_batched``).  The guidance network and reward finetuning of a rep probe the same
    samples, so their ``reward_vs_ms`` training curves are read alike."""
    digits = torch.arange(10).repeat_interleave(per_digit)
    noise = torch.randn((len(digits), 1, 8, 8), generator=torch.Generator().manual_seed(seed + PROBE_SEED_OFFSET))
    reward = task.reward_fn()

    def probe(fn_for) -> float:
        x = sample_batched(fn_for, kind, digits, noise, task.sample_steps, device=device)
        with torch.no_grad():
            return float(reward(x, digits.to(device)).mean())

    return probe


def sample_batched(fn_for, kind: str, digits: torch.Tensor, noise: torch.Tensor, steps: int, batch: int = 160,
                   device: str = "cpu") -> torch.Tensor:
    """Run a sampler on ``device`` in chunks of the (CPU) ``digits`` and ``noise``; ``fn_for(emb, digits)``
    builds the function it follows for those captions (both on ``device``).  Returns the samples on
    ``device``, with its queued work finished (so that wall-clock rates are true)."""
    out = []
    for idx in torch.arange(len(digits)).split(batch):
        emb = t2i_data.prompt_embeddings(digits[idx]).to(device)
        fn = fn_for(emb, digits[idx].to(device))
        if kind == "ddpm":
            x = t2i_models.ddim_sample(fn, noise[idx].to(device), steps)
        else:
            x = t2i_models.euler_sample(fn, noise[idx].to(device), steps)
        out.append(x.detach())
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return torch.cat(out)


def base_pool(task: T2ITask, kind: str, device: str = "cpu", role: str = "train") -> dict:
    """The base model's ``role`` pool (cached, drawn on ``device`` when missing; CPU tensors): 'train' and
    'reference' hold ``pool`` samples per caption, 'target' ``target_pool``, each from its own noise.
    {'x', 'digits', 'sample_s'}; sample_s is what drawing them cost (on the device that drew them), so a
    method that trains on the pool can be charged for it."""
    if role not in POOLS:
        raise ValueError(f"unknown t2i pool role {role!r}; valid: {', '.join(POOLS)}")
    spec = task.spec(kind)
    path = task.ddpm_path if kind == "ddpm" else task.flow_path
    if path:  # a local model folder: key the pool by its resolved location
        tag = f"{kind}-path-" + hashlib.sha256(str(Path(path).expanduser().resolve()).encode()).hexdigest()[:12]
    else:
        tag = spec.key()
    size = task.target_pool if role == "target" else task.pool
    folder = cache_dir("t2i", "pools")
    target = folder / f"{tag}-{role}-p{size}-s{task.sample_steps}-v{POOL_VERSION}.pt"
    with file_lock(folder / f"{target.stem}.lock"):
        if not target.exists():
            unet, _ = base(task, kind, device)
            digits = torch.arange(10).repeat_interleave(size)
            noise = torch.randn((len(digits), 1, 8, 8), generator=torch.Generator().manual_seed(POOLS[role]))
            t0 = time.perf_counter()
            with torch.no_grad():
                x = sample_batched(lambda emb, _: t2i_models.base_fn(unet, kind, emb), kind, digits, noise,
                                   task.sample_steps, device=device)
            torch.save({"x": x.cpu(), "digits": digits, "sample_s": time.perf_counter() - t0},
                       target.with_suffix(".tmp"))
            target.with_suffix(".tmp").rename(target)
    return torch.load(target, map_location="cpu", weights_only=True)


def tilt_weights(rewards: torch.Tensor, digits: torch.Tensor, lam: float) -> torch.Tensor:
    """Self-normalised weights exp(r / lambda) within each caption (each caption's weights sum to 1)."""
    w = torch.zeros_like(rewards, dtype=torch.float64)
    for d in digits.unique():
        sel = digits == d
        w[sel] = torch.softmax(rewards[sel].double() / lam, 0)
    return w


def snis_bootstrap(rewards: torch.Tensor, digits: torch.Tensor, lam: float, boot: int = BOOT,
                   seed: int = BOOT_SEED) -> torch.Tensor:
    """``boot`` bootstrap replicates of the self-normalised importance estimate of the tilted reward
    (mean over captions of sum_i w_i r_i): each caption's pool is resampled with replacement and its weights
    recomputed, so the spread covers the weights' own noise, not only the rewards'."""
    g = torch.Generator().manual_seed(seed)
    est = torch.zeros(boot, dtype=torch.float64)
    captions = digits.unique()
    for d in captions:
        r = rewards[digits == d].double()
        rb = r[torch.randint(len(r), (boot, len(r)), generator=g)]
        est += (torch.softmax(rb / lam, 1) * rb).sum(1)
    return est / len(captions)


def tilted_target(task: T2ITask, kind: str, device: str = "cpu") -> dict:
    """Reward of the exact tilted distribution of a base model (self-normalised importance weighting of its
    target pool) with a bootstrap 95% percentile interval over that pool ('lo', 'hi'), and the weights'
    effective sample size per caption, 1 / sum w^2 ('ess': mean over captions, 'ess_min': the smallest;
    small: the estimate is poor, raise ``target_pool``).  The pool's rewards are computed on ``device``; the
    weights and rewards come back on the CPU, like the pool."""
    pool = base_pool(task, kind, device, "target")
    with torch.no_grad():
        r = task.reward_fn()(pool["x"].to(device), pool["digits"].to(device)).double().cpu()
    w = tilt_weights(r, pool["digits"], task.lam)
    ess = [float(1.0 / (w[pool["digits"] == d] ** 2).sum()) for d in range(10)]
    lo, hi = torch.quantile(snis_bootstrap(r, pool["digits"], task.lam), torch.tensor([0.025, 0.975],
                                                                                       dtype=torch.float64))
    return {"reward": float((w * r).sum() / 10), "lo": float(lo), "hi": float(hi), "ess": float(np.mean(ess)),
            "ess_min": float(np.min(ess)), "weights": w, "rewards": r}


# -- scoring ----------------------------------------------------------------------------------------

def _gauss(f: np.ndarray):
    mu, cov = f.mean(0), np.cov(f, rowvar=False)
    return mu, cov + 1e-4 * np.trace(cov) / len(mu) * np.eye(len(mu))


def frechet(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula)."""
    from scipy import linalg

    (m1, c1), (m2, c2) = _gauss(f1), _gauss(f2)
    covmean = linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))


def gauss_kl(f1: np.ndarray, f2: np.ndarray) -> float:
    """KL(N1 || N2) between Gaussians fitted to two feature sets."""
    (m1, c1), (m2, c2) = _gauss(f1), _gauss(f2)
    inv2 = np.linalg.inv(c2)
    diff = m2 - m1
    _, logdet1 = np.linalg.slogdet(c1)
    _, logdet2 = np.linalg.slogdet(c2)
    return float(0.5 * (np.trace(inv2 @ c1) + diff @ inv2 @ diff - len(m1) + logdet2 - logdet1))


def diversity(feats: np.ndarray, digits: np.ndarray) -> float:
    """Mean pairwise Euclidean feature distance between samples of the same caption."""
    out = []
    for d in np.unique(digits):
        f = feats[digits == d]
        if len(f) > 1:
            dist = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
            out.append(dist.sum() / (len(f) * (len(f) - 1)))
    return float(np.mean(out))


def finish(task: T2ITask, kind: str, x: torch.Tensor, digits: torch.Tensor, metrics: dict) -> dict:
    """A solver's output: its samples, which base model they tilt, its cost figures and the report's image
    grid (the first ``grid`` samples per caption, stored as curves named image/<digit>, pixel index as step).
    ``x`` stays on the solver's device (``evaluate`` scores it there); ``digits`` are on the CPU."""
    curves, x_cpu = {}, x.detach().cpu()
    for d in range(10):
        pix = x_cpu[digits == d][:task.grid].reshape(-1)
        curves[f"image/{d}"] = [(i, float(v)) for i, v in enumerate(pix)]
    return {"x": x.detach(), "digits": digits, "base": kind, "metrics": metrics, "curves": curves}


def evaluate(task: T2ITask, output: dict) -> dict:
    """Score a solver's samples on the device they are on (the solver's)."""
    x, kind = output["x"], output["base"]
    device, digits = x.device, output["digits"].to(x.device)
    with torch.no_grad():
        r = task.reward_fn()(x, digits)
        held = t2i_rewards.heldout(x, digits)
        accepted = t2i_rewards.predicted_digit(x) == digits
    reference = base_pool(task, kind, device, "reference")

    def feats(images: torch.Tensor) -> np.ndarray:
        return t2i_features.features(images.to(device)).cpu().numpy()

    f, f_ref = feats(x), feats(reference["x"])
    gap = float(r.mean()) - tilted_target(task, kind, device)["reward"]
    return {
        "reward": float(r.mean()),
        "heldout_reward": float(held.mean()),
        "accuracy": float(accepted.float().mean()),
        "target_gap": gap,
        "target_err": abs(gap),
        "fid_base": frechet(f, f_ref),
        "fid_real": frechet(f, feats(t2i_data.split("test")[0])),
        "kl_feat": gauss_kl(f, f_ref),
        "diversity": diversity(f, output["digits"].cpu().numpy()),
    }


def base_metrics(task: T2ITask, kind: str, meta: dict) -> dict:
    """Cost figures of a base model every solver reports: its (cached, once per profile) training seconds."""
    return {"base_train_s": float(meta.get("train_s", 0.0))}
