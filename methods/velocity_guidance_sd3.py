"""Training-free velocity guidance on a Stable Diffusion 3 (rectified-flow) pipeline, classifier-free guidance kept.

Ouyang, Xie, Zha, Cheng, "Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation".
The estimator of methods/velocity_guidance.py (read its docstring for the derivation) in the latent space
of a frozen ``StableDiffusion3Pipeline``.  With diffusers' conventions (sigma = 1 - t from 1 at noise to 0
at data; the MMDiT predicts u = noise - data = -v), at each Euler step

    x1_hat = z - sigma u_cfg(z, sigma, c)                      (the one-step endpoint latent)
    u'     = u_cfg - gamma (sigma / t) grad_z r(decode(x1_hat), c) / lambda,

with u_cfg the classifier-free-guided output at the task's scale.  ``jac = True`` backpropagates through
the MMDiT (d x1_hat / dz); ``jac = False`` drops that Jacobian.  Guidance acts from flow time t >= t_min on,
as on the `t2i` track: near the noise end x1_hat carries no information and sigma / t explodes.
"""

from __future__ import annotations

import time

import torch

from tiltbench.benchmarks.t2i_sd import pipelines
from tiltbench.benchmarks.t2i_sd.track import eval_batch, finish, load_base, sample_images, scorer

KIND = "sd3"


def guided_velocity(pipe, texts, reward, lam: float, gamma: float, jac: bool, t_min: float):
    """correct(u, z, sigma) for ``pipelines.sample``: it receives the classifier-free-guided u still attached to z
    (``wants_graph``), so the Jacobian costs one backward pass and no second forward."""

    def correct(u, z, sigma):
        t = 1.0 - sigma
        if t <= 0.0 or t < t_min:
            return u.detach()
        with torch.enable_grad():
            x1 = z - sigma * (u if jac else u.detach())  # x + (1 - t) v, v = -u
            r = reward(pipelines.decode(pipe, KIND, x1), texts)
            grad, = torch.autograd.grad(r.sum() / lam, z)
        return u.detach() - gamma * (sigma / t) * grad.to(u.dtype)

    correct.wants_graph = True
    return correct


def velocity_guidance_sd3(task, config: dict, seed: int) -> dict:
    """Training-free: u_cfg - gamma (sigma/t) grad r(decode(x1_hat))/lambda on the frozen SD3 pipeline."""
    t_min = config["t_min"]
    if isinstance(t_min, bool) or not isinstance(t_min, (int, float)) or not 0.0 <= t_min < 1.0:
        raise ValueError(f"velocity-guidance-sd3 t_min = {t_min!r}: must be a number in [0, 1)")
    device = config.get("device", "cpu")
    pipe = load_base(task, KIND, device)
    prompts = task.prompts()
    cond = pipelines.Conditioning(pipe, KIND, prompts, device)
    reward = scorer(task, device)
    idx, noise = eval_batch(task, pipe, KIND, seed)
    t0 = time.perf_counter()
    images, _ = sample_images(pipe, KIND, task, cond, idx, noise, correct_for=lambda sub: guided_velocity(
        pipe, [prompts[i] for i in sub.tolist()], reward, task.lam, config["gamma"], config["jac"], float(t_min)))
    rate = len(idx) / (time.perf_counter() - t0)
    return finish(task, KIND, images, idx, device, {"train_s": 0.0, "samples_per_s": rate})
