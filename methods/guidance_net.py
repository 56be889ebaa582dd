"""The guidance network: finetuning-free alignment of a frozen diffusion model to p(x | c) exp(r / lambda).

Ouyang, Xie, Zha, Cheng, "Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation".
The tilted target's score is the base score plus grad_x log h_t(x_t, c), h_t = E[exp(r(x_0, c) / lambda) | x_t].
A small network f_phi(x_t, t, c) learns log h_t (up to a per-caption constant, which has no gradient) and
sampling follows

    eps_guided = eps_base(x_t, t, c) - gamma sqrt(1 - abar_t) grad_x f_phi(x_t, t, c).

Loss: regressing the raw weights exp(r / lambda) is unstable (heavy tails).  We fit f by the weighted
logistic loss

    L(phi) = E_{x_0, t, x_t}[ w(x_0) softplus(-f_phi(x_t)) + softplus(f_phi(x_t)) ],

whose pointwise minimiser is f = log E[w | x_t], with w = exp(r / lambda) normalised to mean 1 per caption.
It needs reward values only, never reward gradients.  Two ways to get the pairs (x_t, w):

- ``targets = "samples"`` (``guidance-net``): x_0 from the base model's own samples (the cached pool; its
  sampling time is charged to this method's ``train_s``), w from their rewards;
- ``targets = "one-step"`` (``guidance-net-1step``, the cheap variant): x_t from forward-noised *training
  images* (``draws`` noisings of each, fixed), w = exp(r(x0_hat(x_t)) / lambda) at the base model's one-step
  Tweedie estimate x0_hat: one base forward per pair instead of a full sampling chain per image (our
  reading of the paper's one-step cost variant; those forwards are charged to ``train_s``).

The gradient of f, not f, guides; ``gamma`` scales it (1 = the exact tilt when f = log h_t).

Everything runs on ``config["device"]``; the training pairs are made and drawn on the CPU (CPU
generators: the same stream on every device) and each batch is moved to the device.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

from tiltbench.benchmarks.t2i import data as t2i_data, models as t2i_models
from tiltbench.benchmarks.t2i.track import base, base_metrics, base_pool, eval_batch, finish, sample_batched, tilt_weights

TARGETS = ("samples", "one-step")


class GuidanceNet(nn.Module):
    """f_phi(x_t, t, c): a small CNN whose features are shifted by time and caption embeddings."""

    def __init__(self, width: int = 64):
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        self.time_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_emb = TimestepEmbedding(width, width)
        self.text_emb = nn.Linear(t2i_models.EMB_DIM, width)
        self.conv_in = nn.Conv2d(1, width, 3, padding=1)
        self.conv_mid = nn.Conv2d(width, width, 3, padding=1)
        self.conv_out = nn.Conv2d(width, width, 3, padding=1)
        self.head = nn.Linear(width, 1)

    def forward(self, x, t, emb):
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0]).float()
        cond = self.time_emb(self.time_proj(t)) + self.text_emb(emb)
        h = F.silu(self.conv_in(x) + cond[:, :, None, None])
        h = F.avg_pool2d(F.silu(self.conv_mid(h)), 2)
        h = F.silu(self.conv_out(h)).mean(dim=(2, 3))
        return self.head(h).squeeze(-1)


def logistic_loss(f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """E[w softplus(-f) + softplus(f)]; minimised by f = log E[w | x_t] (the guidance's log h_t)."""
    return (w * F.softplus(-f) + F.softplus(f)).mean()


def one_step_targets(unet, task, draws: int, seed: int, device: str = "cpu") -> tuple[torch.Tensor, ...]:
    """(x_t, t, digits, w) for the one-step variant: each training image noised ``draws`` times at random t,
    w = exp(r(x0_hat(x_t)) / lambda) at the base model's Tweedie estimate, normalised to mean 1 per caption.
    One base forward per pair (on ``device``, where ``unet`` is), computed once; the pairs are CPU tensors."""
    g = torch.Generator().manual_seed(seed)
    x0, digits = t2i_data.split("train")
    x0, digits = x0.repeat(draws, 1, 1, 1), digits.repeat(draws)
    t = torch.randint(1000, (len(x0),), generator=g)
    xt = t2i_models.ddpm_scheduler().add_noise(x0, torch.randn(x0.shape, generator=g), t)
    abar = t2i_models.ddpm_scheduler().alphas_cumprod[t][:, None, None, None]
    r = []
    with torch.no_grad():
        for idx in torch.arange(len(xt)).split(256):
            emb = t2i_data.prompt_embeddings(digits[idx]).to(device)
            x, ab = xt[idx].to(device), abar[idx].to(device)
            eps = t2i_models.predict(unet, x, t[idx].to(device), emb)
            x0_hat = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
            r.append(task.reward_fn()(x0_hat, digits[idx].to(device)).cpu())
    r = torch.cat(r)
    w = tilt_weights(r, digits, task.lam).float() * torch.bincount(digits, minlength=10)[digits]
    return xt, t, digits, w


def training_data(task, targets: str, unet, seed: int, draws: int, device: str = "cpu"):
    """What the network trains on (CPU tensors), and the seconds of base-model work (on ``device``) spent
    making it.

    "samples": (x_0 of the base pool, digits, w, None) — x_t is drawn afresh every step;
    "one-step": fixed (x_t, digits, w, t) from ``one_step_targets``."""
    if targets == "samples":
        pool = base_pool(task, "ddpm", device)
        with torch.no_grad():
            r = task.reward_fn()(pool["x"].to(device), pool["digits"].to(device)).cpu()
        w = tilt_weights(r, pool["digits"], task.lam).float() * task.pool
        return (pool["x"], pool["digits"], w, None), float(pool["sample_s"])
    t0 = time.perf_counter()
    xt, t, digits, w = one_step_targets(unet, task, draws, seed, device)
    return (xt, digits, w, t), time.perf_counter() - t0


def train_guidance(data, steps: int, batch: int, lr: float, width: int, seed: int,
                   device: str = "cpu") -> tuple[GuidanceNet, float]:
    """Fit f_phi on ``device`` by the weighted logistic loss on ``data`` = (x, digits, w, t), CPU tensors:
    x are clean images noised afresh each step when t is None, else fixed noisy images at times t.  Each
    batch is drawn on the CPU and moved to ``device``.  Returns (net, seconds)."""
    x_all, d_all, w_all, t_all = data
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    noise_sched = t2i_models.ddpm_scheduler()
    net = GuidanceNet(width).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(len(x_all), (batch,), generator=g)
        if t_all is None:
            t = torch.randint(1000, (batch,), generator=g)
            xt = noise_sched.add_noise(x_all[idx], torch.randn(x_all[idx].shape, generator=g), t)
        else:
            xt, t = x_all[idx], t_all[idx]
        emb = t2i_data.prompt_embeddings(d_all[idx])
        f = net(xt.to(device), t.to(device), emb.to(device))
        loss = logistic_loss(f, w_all[idx].to(device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"guidance-network loss is {loss.item()}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval().requires_grad_(False)
    return net, time.perf_counter() - t0


def guided_eps(unet, net, emb, gamma: float):
    """eps(x, t) of the base model corrected by the guidance network's gradient."""

    def fn(x, t):
        abar = t2i_models.alpha_bar(t)
        with torch.no_grad():
            eps = t2i_models.predict(unet, x, t, emb)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            grad, = torch.autograd.grad(net(x, t, emb).sum(), x)
        return eps - gamma * (1 - abar).sqrt() * grad

    return fn


def solve(task, config: dict, seed: int) -> dict:
    if config["targets"] not in TARGETS:
        raise ValueError(f"guidance-net targets = {config['targets']!r}; valid: {', '.join(TARGETS)}")
    device = config.get("device", "cpu")
    unet, meta = base(task, "ddpm", device)
    data, data_s = training_data(task, config["targets"], unet, seed, config["draws"], device)
    net, train_s = train_guidance(data, config["steps"], config["batch"], config["lr"], config["width"], seed,
                                  device)
    digits, noise = eval_batch(task, seed)
    t0 = time.perf_counter()
    x = sample_batched(lambda emb, _: guided_eps(unet, net, emb, config["gamma"]), "ddpm", digits, noise,
                       task.sample_steps, device=device)
    rate = len(x) / (time.perf_counter() - t0)
    return finish(task, "ddpm", x, digits, {"train_s": train_s + data_s, "samples_per_s": rate,
                                            **base_metrics(task, "ddpm", meta)})


def guidance_net(task, config: dict, seed: int) -> dict:
    """Guidance network trained on base samples (weighted logistic loss), frozen base-ddpm."""
    return solve(task, config, seed)


def guidance_net_1step(task, config: dict, seed: int) -> dict:
    """Guidance network trained on noised data with one-step Tweedie reward targets (no base sampling)."""
    return solve(task, config, seed)
