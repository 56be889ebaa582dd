"""Reward finetuning of the diffusion base model by backpropagating the reward through sampling:
DRaFT-K (Clark, Vicol, Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards.
ICLR 2024), the ReFL family's simplest member.

Each step draws a batch of captions and noise, runs DDIM with the model being trained, keeps the autograd
graph only through the last K steps (earlier steps are sampled without gradients) and ascends the mean
reward of the clamped x_0 (clamping to [-1, 1] matters: without it the reward is hacked by out-of-range
pixels).  The whole UNet is finetuned (full finetuning, no LoRA: the base has a few million parameters).
With K equal to the sampler's step count the update is the exact gradient of the batch's reward through
the whole sampler (DRaFT's Eq. for full backpropagation; tests/test_t2i_draft.py checks it against finite
differences); smaller K truncates it.

DRaFT has no KL term, so left alone it runs past the tilted distribution the guidance methods aim at.
To compare costs at equal reward, training stops as soon as the running mean of the batch reward (last
``window`` steps) reaches the exact tilted target's reward (``stop_at_target``), or after ``steps``.
``finetune_steps`` records where it stopped.  Two curves are stored: ``train_reward`` (step, batch reward)
and ``reward_vs_ms`` (training milliseconds so far, running mean of the last ``window`` batch rewards, from
the first full window on), the axes of the guidance network's curve.  The running mean lags the model
(it averages rewards of the last ``window`` parameter versions), so the time it reads for a reward is an
overestimate by at most ``window`` steps.  lr 1e-5: at 1e-4 a pilot run (correct-lam0.1) wrecked the
samples within 100 steps (FID to the base 288) before reaching the target.

The same loop finetunes the flow base through its Euler sampler (baselines/reward_finetune_flow.py).
"""

from __future__ import annotations

import copy
import time

import torch

from tiltbench.benchmarks.t2i import data as t2i_data, models as t2i_models
from tiltbench.benchmarks.t2i.track import base, base_metrics, eval_batch, finish, sample_batched, tilted_target


def draft_loss(model, reward, digits, noise, steps: int, k: int, device: str = "cpu",
               kind: str = "ddpm") -> torch.Tensor:
    """Minus the mean reward of one batch sampled by ``model`` (base ``kind``'s sampler, on ``device``) from
    CPU ``digits`` and ``noise``, differentiable through the last ``k`` sampler steps."""
    emb = t2i_data.prompt_embeddings(digits).to(device)
    x0 = t2i_models.sample(kind, t2i_models.base_fn(model, kind, emb), noise.to(device), steps, grad_steps=k)
    return -reward(x0, digits.to(device)).mean()


def draft_step(model, opt, reward, digits, noise, steps: int, k: int, max_grad_norm: float,
               device: str = "cpu", kind: str = "ddpm") -> float:
    """One DRaFT-K update on ``device`` (where ``model`` is) on one batch of CPU ``digits`` and ``noise``;
    returns the batch's mean reward."""
    loss = draft_loss(model, reward, digits, noise, steps, k, device, kind)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"reward-finetune loss is {loss.item()}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    opt.step()
    return -float(loss.detach())


def finetune(task, config: dict, seed: int, kind: str, solver: str) -> dict:
    """DRaFT-K of base ``kind`` with ``config``; the output of solver ``solver``."""
    if not 1 <= config["k"] <= task.sample_steps:
        raise ValueError(f"{solver} k = {config['k']}: must be in [1, sample_steps = {task.sample_steps}]")
    if not config["window"] >= 1:
        raise ValueError(f"{solver} window = {config['window']}: must be >= 1")
    device = config.get("device", "cpu")
    unet, meta = base(task, kind, device)
    model = copy.deepcopy(unet).train().requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=0.0)
    reward = task.reward_fn()
    target = tilted_target(task, kind, device)["reward"] if config["stop_at_target"] else float("inf")
    g = torch.Generator().manual_seed(seed + 1)
    window = config["window"]
    history, curve, t0 = [], [], time.perf_counter()
    for _ in range(config["steps"]):
        digits = torch.randint(10, (config["batch"],), generator=g)
        noise = torch.randn((config["batch"], 1, 8, 8), generator=g)
        history.append(draft_step(model, opt, reward, digits, noise, task.sample_steps, config["k"], 1.0, device,
                                  kind))
        if len(history) >= window:
            running = sum(history[-window:]) / window
            curve.append((round(1000 * (time.perf_counter() - t0)), running))
            if running >= target:
                break
    train_s = time.perf_counter() - t0
    model.eval().requires_grad_(False)
    digits, noise = eval_batch(task, seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        x = sample_batched(lambda emb, _: t2i_models.base_fn(model, kind, emb), kind, digits, noise,
                           task.sample_steps, device=device)
    rate = len(x) / (time.perf_counter() - t0)
    out = finish(task, kind, x, digits, {"train_s": train_s, "samples_per_s": rate,
                                         "finetune_steps": float(len(history)), **base_metrics(task, kind, meta)})
    out["curves"]["train_reward"] = list(enumerate(history, 1))
    out["curves"]["reward_vs_ms"] = curve
    return out


def reward_finetune(task, config: dict, seed: int) -> dict:
    """DRaFT-K: full finetuning of base-ddpm through the last K DDIM steps, stopped at the tilted target's reward."""
    return finetune(task, config, seed, "ddpm", "reward-finetune")
