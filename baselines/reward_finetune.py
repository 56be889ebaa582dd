"""Reward finetuning of the diffusion base model by backpropagating the reward through sampling:
DRaFT-K (Clark, Vicol, Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards.
ICLR 2024), the ReFL family's simplest member.

Each step draws a batch of captions and noise, runs DDIM with the model being trained, keeps the autograd
graph only through the last K steps (earlier steps are sampled without gradients) and ascends the mean
reward of the clamped x_0 (clamping to [-1, 1] matters: without it the reward is hacked by out-of-range
pixels).  The whole UNet is finetuned (full finetuning, no LoRA: the base has a few million parameters).

DRaFT has no KL term, so left alone it runs past the tilted distribution the guidance methods aim at.
To compare costs at equal reward, training stops as soon as the running mean of the batch reward (last
``window`` steps) reaches the exact tilted target's reward (``stop_at_target``), or after ``steps``.
``finetune_steps`` records where it stopped; the reward curve is stored.  lr 1e-5: at 1e-4 a pilot run
(correct-lam0.1) wrecked the samples within 100 steps (FID to the base 288) before reaching the target.
"""

from __future__ import annotations

import copy
import time

import torch

from tiltbench.benchmarks.t2i import data as t2i_data, models as t2i_models
from tiltbench.benchmarks.t2i.track import base, base_metrics, eval_batch, finish, sample_batched, tilted_target


def draft_step(model, opt, reward, digits, noise, steps: int, k: int, max_grad_norm: float,
               device: str = "cpu") -> float:
    """One DRaFT-K update on ``device`` (where ``model`` is) on one batch of CPU ``digits`` and ``noise``;
    returns the batch's mean reward."""
    emb = t2i_data.prompt_embeddings(digits).to(device)
    x0 = t2i_models.ddim_sample(lambda x, t: t2i_models.predict(model, x, t, emb), noise.to(device), steps,
                                grad_steps=k)
    r = reward(x0, digits.to(device))
    loss = -r.mean()
    if not torch.isfinite(loss):
        raise FloatingPointError(f"reward-finetune loss is {loss.item()}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    opt.step()
    return float(r.mean().detach())


def reward_finetune(task, config: dict, seed: int) -> dict:
    """DRaFT-K: full finetuning of base-ddpm through the last K DDIM steps, stopped at the tilted target's reward."""
    if not 1 <= config["k"] <= task.sample_steps:
        raise ValueError(f"reward-finetune k = {config['k']}: must be in [1, sample_steps = {task.sample_steps}]")
    device = config.get("device", "cpu")
    unet, meta = base(task, "ddpm", device)
    model = copy.deepcopy(unet).train().requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=0.0)
    reward = task.reward_fn()
    target = tilted_target(task, "ddpm", device)["reward"] if config["stop_at_target"] else float("inf")
    g = torch.Generator().manual_seed(seed + 1)
    history, t0 = [], time.perf_counter()
    for _ in range(config["steps"]):
        digits = torch.randint(10, (config["batch"],), generator=g)
        noise = torch.randn((config["batch"], 1, 8, 8), generator=g)
        history.append(draft_step(model, opt, reward, digits, noise, task.sample_steps, config["k"], 1.0, device))
        if len(history) >= config["window"] and sum(history[-config["window"]:]) / config["window"] >= target:
            break
    train_s = time.perf_counter() - t0
    model.eval().requires_grad_(False)
    digits, noise = eval_batch(task, seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        x = sample_batched(lambda emb, _: t2i_models.base_fn(model, "ddpm", emb), "ddpm", digits, noise,
                           task.sample_steps, device=device)
    rate = len(x) / (time.perf_counter() - t0)
    out = finish(task, "ddpm", x, digits, {"train_s": train_s, "samples_per_s": rate,
                                           "finetune_steps": float(len(history)), **base_metrics(task, "ddpm", meta)})
    out["curves"]["train_reward"] = list(enumerate(history, 1))
    return out
