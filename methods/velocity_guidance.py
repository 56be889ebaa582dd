"""Training-free velocity guidance of a rectified-flow model toward p(x | c) exp(r(x, c) / lambda).

Ouyang, Xie, Zha, Cheng, "Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation".
For the linear path x_t = t x_1 + (1 - t) x_0 (x_0 ~ N(0, I) noise, x_1 data) the velocity and the score
are tied by v(x, t) = x / t + ((1 - t) / t) grad log p_t(x), so tilting the marginals by
h_t(x) = E[exp(r(x_1) / lambda) | x_t = x] adds

    v'(x, t) = v(x, t) + gamma ((1 - t) / t) grad_x log h_t(x),

and the method estimates log h_t(x) ~ r(x1_hat(x)) / lambda at the one-step endpoint prediction
x1_hat = x + (1 - t) v(x, t).  ``jac = True`` backpropagates through the network (d x1_hat / dx);
``jac = False`` drops that Jacobian (cheaper, overshoots).  Guidance acts from flow time t >= t_min on: near
the noise end x1_hat carries no information and (1 - t)/t explodes.  That cut-off and the step count are
the track's rule for every training-free guidance (benchmarks/t2i/schedule.py), shared with naive guidance.

diffusers' flow scheduler runs sigma = 1 - t from 1 to 0 and predicts u = -v, hence the signs below.
"""

from __future__ import annotations

import time

import torch

from tiltbench.benchmarks.t2i import models as t2i_models, schedule
from tiltbench.benchmarks.t2i.track import base, base_metrics, eval_batch, finish, sample_batched


def guided_velocity(unet, emb, reward, digits, lam: float, gamma: float = 1.0, jac: bool = True,
                    t_min: float = schedule.T_MIN):
    """u'(x, sigma) in diffusers' convention (u = noise - data = -v, sigma = 1 - t)."""

    def fn(x, sigma):
        if not schedule.guided("flow", sigma, t_min):
            with torch.no_grad():
                return t2i_models.predict(unet, x, sigma * 1000.0, emb)
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            u = t2i_models.predict(unet, x, sigma * 1000.0, emb)
            x1 = x - sigma * (u if jac else u.detach())  # x + (1 - t) v
            grad, = torch.autograd.grad(reward(x1.clamp(-1, 1), digits).sum() / lam, x)
        t = schedule.flow_time("flow", sigma)
        return u.detach() - gamma * (sigma / t) * grad

    return fn


def velocity_guidance(task, config: dict, seed: int) -> dict:
    """Training-free: v + gamma (1-t)/t grad r(x1_hat)/lambda on base-flow, same steps as base-flow."""
    t_min = schedule.check_t_min("velocity-guidance", config["t_min"])
    device = config.get("device", "cpu")
    unet, meta = base(task, "flow", device)
    digits, noise = eval_batch(task, seed)
    reward = task.reward_fn()
    t0 = time.perf_counter()
    x = sample_batched(lambda emb, d: guided_velocity(unet, emb, reward, d, task.lam, config["gamma"], config["jac"],
                                                      t_min), "flow", digits, noise, task.sample_steps,
                       device=device)
    rate = len(x) / (time.perf_counter() - t0)
    return finish(task, "flow", x, digits, {"train_s": 0.0, "samples_per_s": rate, **base_metrics(task, "flow", meta)})
