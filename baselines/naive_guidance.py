"""Naive (training-free) reward-gradient guidance of the diffusion base model: the reference row the
alignment paper warns about.

It replaces the guidance term grad log E[exp(r(x_0) / lambda) | x_t] by the gradient of the reward of the
one-step Tweedie estimate x0_hat(x_t) = (x_t - sqrt(1 - abar_t) eps(x_t)) / sqrt(abar_t), i.e.
h_t ~ exp(r(x0_hat) / lambda) (the plug-in of universal / reconstruction guidance), and follows

    eps_guided = eps - scale * sqrt(1 - abar_t) * grad_x r(x0_hat(x_t)) / lambda.

Early in sampling x0_hat is a blurry average, so the reward's gradient there points at adversarial
pixel patterns rather than at the tilted distribution (Ouyang et al., Sec. 3: the motivation for learning
the guidance instead).  It follows the same rules as velocity guidance, the flow model's plug-in
(benchmarks/t2i/schedule.py): the base sampler's steps, and guidance only from flow time ``t_min`` on (the
DDPM timestep of equal signal-to-noise ratio), so that the two plug-ins differ only in their base model.
"""

from __future__ import annotations

import time

import torch

from tiltbench.benchmarks.t2i import models as t2i_models, schedule
from tiltbench.benchmarks.t2i.track import base, base_metrics, eval_batch, finish, sample_batched


def tweedie_guided_eps(unet, emb, reward, digits, lam: float, scale: float, t_min: float = schedule.T_MIN):
    """eps(x, t) with the naive reward-gradient correction (backpropagates through the UNet) at the steps
    the track's schedule guides; the base model's eps elsewhere."""

    def fn(x, t):
        if not schedule.guided("ddpm", t, t_min):
            with torch.no_grad():
                return t2i_models.predict(unet, x, t, emb)
        abar = t2i_models.alpha_bar(t)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            eps = t2i_models.predict(unet, x, t, emb)
            x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
            grad, = torch.autograd.grad(reward(x0.clamp(-1, 1), digits).sum() / lam, x)
        return eps.detach() - scale * (1 - abar).sqrt() * grad

    return fn


def naive_guidance(task, config: dict, seed: int) -> dict:
    """Training-free Tweedie reward-gradient guidance of base-ddpm from flow time t_min on (the adversarial-artifact case)."""
    t_min = schedule.check_t_min("naive-guidance", config["t_min"])
    device = config.get("device", "cpu")
    unet, meta = base(task, "ddpm", device)
    digits, noise = eval_batch(task, seed)
    reward = task.reward_fn()
    t0 = time.perf_counter()
    x = sample_batched(lambda emb, d: tweedie_guided_eps(unet, emb, reward, d, task.lam, config["scale"], t_min),
                       "ddpm", digits, noise, task.sample_steps, device=device)
    rate = len(x) / (time.perf_counter() - t0)
    return finish(task, "ddpm", x, digits, {"train_s": 0.0, "samples_per_s": rate, **base_metrics(task, "ddpm", meta)})
