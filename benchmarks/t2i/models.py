"""Models of the `t2i` track: the two base text-to-image models and the reward classifiers.

Base models (built from diffusers blocks, trained here on benchmarks/t2i/data.py):

- ``ddpm``: ``UNet2DConditionModel`` predicting the noise epsilon (Ho et al. 2020) under a cosine
  ``DDPMScheduler``; sampled with ``DDIMScheduler`` (eta = 0);
- ``flow``: the same network predicting the rectified-flow velocity (Liu et al. 2023) in diffusers'
  convention x_s = (1 - s) x_data + s noise, u = noise - x_data; sampled with
  ``FlowMatchEulerDiscreteScheduler``.

The caption's MiniLM embedding enters twice: as the single cross-attention token and through the
``projection`` class embedding.  10% of training captions are dropped (zero embedding).

A base model is trained once per configuration and cached in $TILTBENCH_CACHE/t2i (never in git), with
its training time; a local diffusers folder (``model = "/path"``) is loaded instead of trained.
Samplers take a function of (x, timestep) so that a method can change the score or velocity it follows.

Devices: models are trained and run on the ``device`` they are asked for, but the cache holds CPU state
dicts (one cache serves every device).  Random draws (batches, noise) come from CPU generators and are
moved to the device, so a run follows the same random stream on every device.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from tiltbench.cache import cache_dir, file_lock

from . import data as t2i_data

KINDS = ("ddpm", "flow")
EMB_DIM = 384
VERSION = 1  # bump when training code changes what a cached model is


@dataclass(frozen=True)
class BaseSpec:
    """How a base model is built and trained (part of the cache key)."""

    kind: str
    widths: tuple[int, ...] = (64, 128)
    steps: int = 2000
    batch: int = 128
    lr: float = 1e-3
    seed: int = 0
    drop: float = 0.1

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "version": VERSION}, sort_keys=True)
        return f"{self.kind}-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def make_unet(widths: tuple[int, ...]):
    from diffusers import UNet2DConditionModel

    n = len(widths)
    return UNet2DConditionModel(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=tuple(widths), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D",) + ("DownBlock2D",) * (n - 1),
        up_block_types=("UpBlock2D",) * (n - 1) + ("CrossAttnUpBlock2D",),
        cross_attention_dim=EMB_DIM, attention_head_dim=8, norm_num_groups=min(32, widths[0]),
        class_embed_type="projection", projection_class_embeddings_input_dim=EMB_DIM)


def ddpm_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")


def predict(unet, x: torch.Tensor, timestep, emb: torch.Tensor) -> torch.Tensor:
    """The network's output (epsilon or velocity) for a batch; ``emb`` (B, 384) is the caption embedding."""
    t = torch.as_tensor(timestep, dtype=torch.float32, device=x.device).expand(x.shape[0])
    return unet(x, t, encoder_hidden_states=emb[:, None, :], class_labels=emb).sample


def cpu_state(net: nn.Module) -> dict:
    """``net``'s state dict on the CPU: what the cache stores, whatever device trained it."""
    return {k: v.cpu() for k, v in net.state_dict().items()}


def train_base(spec: BaseSpec, progress=None, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Train a base model from scratch on ``device``; returns it and {train_s, steps, params, final_loss}."""
    if spec.kind not in KINDS:
        raise ValueError(f"unknown t2i base model kind {spec.kind!r}; valid: {', '.join(KINDS)}")
    torch.manual_seed(spec.seed)
    g = torch.Generator().manual_seed(spec.seed)
    x_all, y_all = t2i_data.split("train")
    unet = make_unet(spec.widths).to(device)
    opt = torch.optim.AdamW(unet.parameters(), lr=spec.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / spec.steps)
    noise_sched = ddpm_scheduler()
    t0, losses = time.perf_counter(), []
    for step in range(spec.steps):
        idx = torch.randint(len(x_all), (spec.batch,), generator=g)
        x0, emb = x_all[idx], t2i_data.prompt_embeddings(y_all[idx], g)
        emb = emb * (torch.rand(spec.batch, 1, generator=g) >= spec.drop)
        noise = torch.randn(x0.shape, generator=g)
        x0, emb, noise = x0.to(device), emb.to(device), noise.to(device)
        if spec.kind == "ddpm":
            t = torch.randint(1000, (spec.batch,), generator=g).to(device)
            target, timestep = noise, t
            xt = noise_sched.add_noise(x0, noise, t)
        else:
            s = torch.rand(spec.batch, generator=g).to(device)
            xt = (1 - s[:, None, None, None]) * x0 + s[:, None, None, None] * noise
            target, timestep = noise - x0, s * 1000
        loss = (predict(unet, xt, timestep, emb) - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress:
            progress(step + 1, spec.steps)
    unet.eval().requires_grad_(False)
    return unet, {"train_s": time.perf_counter() - t0, "steps": spec.steps,
                  "params": sum(p.numel() for p in unet.parameters()),
                  "final_loss": float(sum(losses[-50:]) / len(losses[-50:]))}


def base_model(spec: BaseSpec, path: str = "", device: str = "cpu") -> tuple[nn.Module, dict]:
    """The base model of ``spec`` on ``device``: a local diffusers folder when ``path`` is given, else trained
    once (on ``device``) and cached.  Returns (unet in eval mode, metadata with the training time)."""
    if path:
        from diffusers import UNet2DConditionModel

        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"t2i base model folder {folder} does not exist")
        unet = UNet2DConditionModel.from_pretrained(folder).to(device).eval().requires_grad_(False)
        return unet, {"train_s": 0.0, "path": str(folder)}
    folder = cache_dir("t2i", "models")
    target, meta_file = folder / f"{spec.key()}.pt", folder / f"{spec.key()}.json"
    with file_lock(folder / f"{spec.key()}.lock"):
        if not target.exists():
            with torch.enable_grad():  # the first caller may be inside torch.no_grad()
                unet, meta = train_base(spec, device=device)
            torch.save(cpu_state(unet), target.with_suffix(".tmp"))
            target.with_suffix(".tmp").rename(target)
            meta_file.write_text(json.dumps({**meta, "spec": asdict(spec)}, indent=1))
    unet = make_unet(spec.widths)
    unet.load_state_dict(torch.load(target, map_location="cpu", weights_only=True))
    return unet.to(device).eval().requires_grad_(False), json.loads(meta_file.read_text())


# -- samplers ---------------------------------------------------------------------------------------

def ddim_sample(eps_fn, noise: torch.Tensor, steps: int, grad_steps: int = 0) -> torch.Tensor:
    """DDIM (eta = 0, x_0 predictions clipped to [-1, 1]) from ``noise`` following ``eps_fn(x, t) -> epsilon``; the last ``grad_steps`` steps
    keep the autograd graph (DRaFT-K).  Returns x_0 clamped to [-1, 1]."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(ddpm_scheduler().config, clip_sample=True, set_alpha_to_one=True,
                                      timestep_spacing="trailing")  # start at t = 999: pure noise
    sched.set_timesteps(steps)
    x = noise
    for i, t in enumerate(sched.timesteps):
        with torch.set_grad_enabled(i >= steps - grad_steps):
            x = sched.step(eps_fn(x, t), t, x).prev_sample
    return x.clamp(-1, 1)


def alpha_bar(t) -> torch.Tensor:
    """Cumulative signal level of the DDPM schedule at integer timestep ``t``."""
    return ddpm_scheduler().alphas_cumprod[int(t)]


def euler_sample(vel_fn, noise: torch.Tensor, steps: int, grad_steps: int = 0) -> torch.Tensor:
    """Rectified-flow Euler steps from s = 1 (noise) to s = 0 following ``vel_fn(x, sigma) -> u``; the last
    ``grad_steps`` steps keep the autograd graph (DRaFT-K).  Returns x_0 clamped to [-1, 1]."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    sched.set_timesteps(steps)
    x = noise
    for i, t in enumerate(sched.timesteps):
        sigma = float(sched.sigmas[i])
        with torch.set_grad_enabled(i >= steps - grad_steps):
            x = sched.step(vel_fn(x, sigma), t, x).prev_sample
    return x.clamp(-1, 1)


def sample(kind: str, fn, noise: torch.Tensor, steps: int, grad_steps: int = 0) -> torch.Tensor:
    """The sampler of base model ``kind`` (DDIM for 'ddpm', Euler for 'flow') following ``fn``."""
    if kind == "ddpm":
        return ddim_sample(fn, noise, steps, grad_steps)
    if kind == "flow":
        return euler_sample(fn, noise, steps, grad_steps)
    raise ValueError(f"unknown t2i base model kind {kind!r}; valid: {', '.join(KINDS)}")


def base_fn(unet, kind: str, emb: torch.Tensor):
    """The base model as the function its sampler follows: epsilon(x, t) or u(x, sigma)."""
    if kind == "ddpm":
        return lambda x, t: predict(unet, x, t, emb)
    return lambda x, sigma: predict(unet, x, sigma * 1000.0, emb)


# -- reward classifiers -----------------------------------------------------------------------------

class DigitCNN(nn.Module):
    """The correctness classifier: small CNN (the ``correct`` reward; the FID-style distances use another
    network, benchmarks/t2i/features.py)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.SiLU(), nn.Conv2d(32, 64, 3, padding=1), nn.SiLU(), nn.AvgPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(64, 10)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


class DigitMLP(nn.Module):
    """The held-out classifier: a different architecture and seed, so it does not share the CNN's blind spots."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(),
                                 nn.Linear(256, 10))

    def forward(self, x):
        return self.net(x)


CLASSIFIERS = {"cnn": (DigitCNN, 1), "mlp": (DigitMLP, 2)}  # name -> (class, training seed)


def train_classifier(name: str, epochs: int = 40, device: str = "cpu") -> tuple[nn.Module, dict]:
    cls, seed = CLASSIFIERS[name]
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = t2i_data.split("train")
    net = cls().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            xb = x[idx] + 0.05 * torch.randn(x[idx].shape, generator=g)  # light noise: smoother gradients
            loss = nn.functional.cross_entropy(net(xb.to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval().requires_grad_(False)
    xt, yt = t2i_data.split("test")
    with torch.no_grad():
        acc = float((net(xt.to(device)).argmax(-1) == yt.to(device)).float().mean())
    return net, {"test_accuracy": acc, "epochs": epochs}


def cached_net(name: str, make, train, device: str = "cpu") -> nn.Module:
    """The network ``make()`` with the weights ``train(device) -> (net, metadata)`` gave it, trained once (on
    ``device``) and cached as ``<name>-v<VERSION>.pt`` (CPU state dict) with its metadata; on ``device``,
    frozen, in eval mode."""
    folder = cache_dir("t2i", "models")
    target = folder / f"{name}-v{VERSION}.pt"
    with file_lock(folder / f"{name}.lock"):
        if not target.exists():
            with torch.enable_grad():  # the first caller is usually a reward inside torch.no_grad()
                net, meta = train(device)
            torch.save(cpu_state(net), target.with_suffix(".tmp"))
            target.with_suffix(".tmp").rename(target)
            target.with_suffix(".json").write_text(json.dumps(meta))
    net = make()
    net.load_state_dict(torch.load(target, map_location="cpu", weights_only=True))
    return net.to(device).eval().requires_grad_(False)


def classifier(name: str, device: str = "cpu") -> nn.Module:
    """A reward classifier ('cnn' or 'mlp') on ``device``, trained once (there) and cached."""
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown t2i classifier {name!r}; valid: {', '.join(CLASSIFIERS)}")
    return cached_net(f"classifier-{name}", CLASSIFIERS[name][0], lambda dev: train_classifier(name, device=dev),
                      device)
