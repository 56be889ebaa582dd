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

- ``targets = "samples"`` (``guidance-net``, the paper's method): x_0 from the base model's own samples (the
  cached *train* pool, never the pool that defines the exact target; its sampling time is charged to this
  method's ``train_s``), w from their rewards;
- ``targets = "tweedie"`` (``guidance-net-tweedie``, a reference row, not the paper's method): x_t from
  forward-noised *training images* (``draws`` noisings of each, fixed), w = exp(r(x0_hat(x_t)) / lambda) at
  the base model's one-step Tweedie estimate x0_hat (one base forward per pair, charged to ``train_s``).
  Because w is then a deterministic function of x_t, the minimiser is f = r(x0_hat(x_t)) / lambda + const:
  the network *amortises the naive Tweedie plug-in* of baselines/naive_guidance.py (same guidance field,
  minus the reward's Jacobian through the UNet), so it inherits that plug-in's bias.  Until 2026-11-27 it
  was called ``guidance-net-1step`` and described as the paper's one-step variant.  It is not: the paper's
  abstract says it "achieve[s] comparable performance to finetuning-based models with one-step generation
  with at least a 60% reduction in computational cost" (arXiv 2602.00413, abstract), which we read as: the
  aligned model's images are *generated* in one sampling step; nothing there makes the guidance network's
  training targets one-step estimates.  The track does not implement one-step generation: it needs a
  one-step base model (a distilled one); one DDIM step from t = 999 of this epsilon-model returns at best
  E[x_0 | x_999, c], the caption's mean image, since x_999 holds almost no signal.

The gradient of f, not f, guides; ``gamma`` scales it (1 = the exact tilt when f = log h_t).

Training curve: every ``probe_every`` steps (and at the last) the current network guides a fixed probe
batch (``probe_n`` samples per caption, noise apart from the evaluation's) and its mean reward is stored with
the seconds spent so far (pool sampling included, the probes themselves excluded) as the curve
``reward_vs_ms`` (milliseconds, reward): the same axes as reward finetuning's curve, so the report can read
each one's cost at the reward the other reaches.

Everything runs on ``config["device"]``; the training pairs are made and drawn on the CPU (CPU
generators: the same stream on every device) and each batch is moved to the device.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

from tiltbench.benchmarks.t2i import data as t2i_data, models as t2i_models
from tiltbench.benchmarks.t2i.track import (base, base_metrics, base_pool, eval_batch, finish, reward_probe,
                                            sample_batched, tilt_weights)

TARGETS = ("samples", "tweedie")


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


def tweedie_targets(unet, task, draws: int, seed: int, device: str = "cpu") -> tuple[torch.Tensor, ...]:
    """(x_t, t, digits, w) for the amortised plug-in: each training image noised ``draws`` times at random t,
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

    "samples": (x_0 of the base model's train pool, digits, w, None) — x_t is drawn afresh every step;
    "tweedie": fixed (x_t, digits, w, t) from ``tweedie_targets``."""
    if targets == "samples":
        pool = base_pool(task, "ddpm", device, "train")
        with torch.no_grad():
            r = task.reward_fn()(pool["x"].to(device), pool["digits"].to(device)).cpu()
        w = tilt_weights(r, pool["digits"], task.lam).float() * task.pool
        return (pool["x"], pool["digits"], w, None), float(pool["sample_s"])
    t0 = time.perf_counter()
    xt, t, digits, w = tweedie_targets(unet, task, draws, seed, device)
    return (xt, digits, w, t), time.perf_counter() - t0


def train_guidance(data, steps: int, batch: int, lr: float, width: int, seed: int,
                   device: str = "cpu", probe=None, probe_every: int = 0) -> tuple[GuidanceNet, float]:
    """Fit f_phi on ``device`` by the weighted logistic loss on ``data`` = (x, digits, w, t), CPU tensors:
    x are clean images noised afresh each step when t is None, else fixed noisy images at times t.  Each
    batch is drawn on the CPU and moved to ``device``.  ``probe(net, seconds)`` is called every
    ``probe_every`` steps and after the last, with the training seconds so far; its own time is not
    counted.  Returns (net, training seconds)."""
    x_all, d_all, w_all, t_all = data
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    noise_sched = t2i_models.ddpm_scheduler()
    net = GuidanceNet(width).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    t0, paused = time.perf_counter(), 0.0
    for step in range(1, steps + 1):
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
        if probe is not None and ((probe_every and step % probe_every == 0) or step == steps):
            t_probe = time.perf_counter()
            probe(net, t_probe - t0 - paused)
            paused += time.perf_counter() - t_probe
    net.eval().requires_grad_(False)
    return net, time.perf_counter() - t0 - paused


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


def probe_reward(task, unet, config: dict, seed: int, device: str = "cpu"):
    """probe(net) -> mean training reward of a fixed probe batch sampled with ``net``'s guidance."""
    probe = reward_probe(task, "ddpm", seed, config["probe_n"], device)
    return lambda net: probe(lambda emb, _: guided_eps(unet, net, emb, config["gamma"]))


def check_config(config: dict) -> None:
    if config["targets"] not in TARGETS:
        raise ValueError(f"guidance-net targets = {config['targets']!r}; valid: {', '.join(TARGETS)}")
    for key, low in (("steps", 1), ("batch", 1), ("probe_every", 0), ("probe_n", 1)):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < low:
            raise ValueError(f"guidance-net {key} = {config[key]!r}: must be an integer >= {low}")


def solve(task, config: dict, seed: int) -> dict:
    check_config(config)
    device = config.get("device", "cpu")
    unet, meta = base(task, "ddpm", device)
    data, data_s = training_data(task, config["targets"], unet, seed, config["draws"], device)
    curve, probe = [], probe_reward(task, unet, config, seed, device)

    def record(net, seconds: float) -> None:
        curve.append((round(1000 * (data_s + seconds)), probe(net)))

    net, train_s = train_guidance(data, config["steps"], config["batch"], config["lr"], config["width"], seed,
                                  device, record, config["probe_every"])
    digits, noise = eval_batch(task, seed)
    t0 = time.perf_counter()
    x = sample_batched(lambda emb, _: guided_eps(unet, net, emb, config["gamma"]), "ddpm", digits, noise,
                       task.sample_steps, device=device)
    rate = len(x) / (time.perf_counter() - t0)
    out = finish(task, "ddpm", x, digits, {"train_s": train_s + data_s, "samples_per_s": rate,
                                           **base_metrics(task, "ddpm", meta)})
    out["curves"]["reward_vs_ms"] = curve
    return out


def guidance_net(task, config: dict, seed: int) -> dict:
    """Guidance network trained on base samples (weighted logistic loss), frozen base-ddpm."""
    return solve(task, config, seed)


def guidance_net_tweedie(task, config: dict, seed: int) -> dict:
    """The naive Tweedie plug-in r(x0_hat(x_t)) / lambda amortised by a guidance network (noised data, one
    base forward per target; not the paper's method)."""
    return solve(task, config, seed)
