"""The guidance network on a Stable Diffusion pipeline: finetuning-free alignment in latent space.

Ouyang, Xie, Zha, Cheng, "Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation".
The same estimator as methods/guidance_net.py (read its docstring for the derivation), moved to the latent
space of a frozen ``StableDiffusionPipeline``: a small network f_phi(z_t, t, c) learns log h_t(z_t, c) =
log E[exp(r(decode(z_0), c) / lambda) | z_t] by the weighted logistic loss

    L(phi) = E[ w(z_0) softplus(-f_phi(z_t)) + softplus(f_phi(z_t)) ],   w = exp(r / lambda), mean 1 per prompt,

on the base pipeline's own samples z_0 (classifier-free guided, the track's DDIM sampler; their sampling
time is charged to ``train_s``), noised afresh each step by the pipeline's DDPM schedule.  Only reward
values are needed, never reward gradients.  Sampling adds its gradient to the guided epsilon:

    eps'(z_t, t, c) = eps_cfg(z_t, t, c) - gamma sqrt(1 - abar_t) grad_z f_phi(z_t, t, c).

The prompt enters f through the mean of the pipeline's prompt token embeddings.  The training states are
the pool's final latents noised by the forward process, not the sampler's own intermediate states (the
estimator's assumption: the base sampler's marginals match the forward process's).
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

from tiltbench.benchmarks.t2i_sd import pipelines
from tiltbench.benchmarks.t2i_sd.track import base_pool, eval_batch, finish, load_base, sample_images, score, scorer

KIND = "sd"


class LatentGuidanceNet(nn.Module):
    """f_phi(z_t, t, c): a small CNN on latents whose features are shifted by time and prompt embeddings."""

    def __init__(self, channels: int, text_dim: int, width: int = 64):
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        self.time_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_emb = TimestepEmbedding(width, width)
        self.text_emb = nn.Linear(text_dim, width)
        self.conv_in = nn.Conv2d(channels, width, 3, padding=1)
        self.conv_mid = nn.Conv2d(width, width, 3, padding=1, stride=2)
        self.conv_out = nn.Conv2d(width, width, 3, padding=1)
        self.head = nn.Linear(width, 1)

    def forward(self, z, t, text):
        t = torch.as_tensor(t, device=z.device).expand(z.shape[0]).float()
        cond = self.time_emb(self.time_proj(t)) + self.text_emb(text)
        h = F.silu(self.conv_in(z) + cond[:, :, None, None])
        h = F.silu(self.conv_out(F.silu(self.conv_mid(h)))).mean(dim=(2, 3))
        return self.head(h).squeeze(-1)


def logistic_loss(f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """E[w softplus(-f) + softplus(f)]; minimised by f = log E[w | z_t]."""
    return (w * F.softplus(-f) + F.softplus(f)).mean()


def tilt_weights(rewards: torch.Tensor, idx: torch.Tensor, lam: float) -> torch.Tensor:
    """exp(r / lambda) normalised to mean 1 within each prompt (a per-prompt constant has no gradient)."""
    w = torch.empty_like(rewards, dtype=torch.float64)
    for p in idx.unique():
        mask = idx == p
        logw = rewards[mask].double() / lam
        w[mask] = torch.softmax(logw, 0) * mask.sum()
    return w.float()


def guided_correction(net, cond, idx, gamma: float, alphas_cumprod: torch.Tensor):
    """correct(eps, z, t) for ``pipelines.sample``: the guidance network's gradient term."""

    def correct(eps, z, t):
        abar = alphas_cumprod[t].to(z.device)
        with torch.enable_grad():
            zz = z.detach().float().requires_grad_(True)
            grad, = torch.autograd.grad(net(zz, t, cond.summary(idx).float()).sum(), zz)
        return eps - gamma * (1 - abar).sqrt().to(eps.dtype) * grad.to(eps.dtype)

    return correct


def guidance_net_sd(task, config: dict, seed: int) -> dict:
    """Guidance network on the base pipeline's samples (weighted logistic loss, latent space), frozen SD pipeline."""
    for key in ("steps", "batch", "width"):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < 1:
            raise ValueError(f"guidance-net-sd {key} = {config[key]!r}: must be an integer >= 1")
    device = config.get("device", "cpu")
    pipe = load_base(task, KIND, device)
    prompts = task.prompts()
    cond = pipelines.Conditioning(pipe, KIND, prompts, device)
    pool = base_pool(task, KIND, "train", device, pipe)
    r = score(scorer(task, device), pool["images"], [prompts[i] for i in pool["idx"].tolist()], device)
    w = tilt_weights(r, pool["idx"], task.lam)
    alphas = pipe.scheduler.alphas_cumprod.float()
    net = LatentGuidanceNet(pool["z"].shape[1], cond.cond.shape[-1], config["width"]).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config["lr"])
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    losses, t0 = [], time.perf_counter()
    for step in range(1, config["steps"] + 1):
        pick = torch.randint(len(w), (config["batch"],), generator=g)
        t = torch.randint(len(alphas), (config["batch"],), generator=g)
        abar = alphas[t][:, None, None, None]
        z0 = pool["z"][pick]
        zt = abar.sqrt() * z0 + (1 - abar).sqrt() * torch.randn(z0.shape, generator=g)
        f = net(zt.to(device), t.to(device), cond.summary(pool["idx"][pick].to(device)).float())
        loss = logistic_loss(f, w[pick].to(device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"guidance-net-sd loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - t0 + float(pool["sample_s"])
    net.eval().requires_grad_(False)
    idx, noise = eval_batch(task, pipe, KIND, seed)
    t0 = time.perf_counter()
    images, _ = sample_images(pipe, KIND, task, cond, idx, noise, correct_for=lambda sub: guided_correction(
        net, cond, sub.to(device), config["gamma"], alphas))
    rate = len(idx) / (time.perf_counter() - t0)
    return finish(task, KIND, images, idx, device, {"train_s": train_s, "samples_per_s": rate},
                  {"train_loss": list(enumerate(losses, 1))})
