"""DRaFT-K, the reward-finetuning loop both of the `t2i` track's finetuning baselines run (Clark, Vicol,
Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards. ICLR 2024): on the DDPM
through DDIM (baselines/reward_finetune.py) and on the rectified flow through its Euler sampler
(baselines/reward_finetune_flow.py).  It lives in the track because a baseline never imports another
baseline; the baselines' docstrings say what it does and why.
"""

from __future__ import annotations

import copy
import time

import torch

from tiltbench.benchmarks.t2i import data as t2i_data, models as t2i_models
from tiltbench.benchmarks.t2i.track import (base, base_metrics, eval_batch, finish, reward_probe, sample_batched,
                                            tilted_target)


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
    for key, low in (("window", 1), ("probe_every", 1), ("probe_n", 1)):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < low:
            raise ValueError(f"{solver} {key} = {config[key]!r}: must be an integer >= {low}")
    device = config.get("device", "cpu")
    unet, meta = base(task, kind, device)
    model = copy.deepcopy(unet).train().requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=0.0)
    reward = task.reward_fn()
    target = tilted_target(task, kind, device)["reward"] if config["stop_at_target"] else float("inf")
    g = torch.Generator().manual_seed(seed + 1)
    window = config["window"]
    reward_of = reward_probe(task, kind, seed, config["probe_n"], device)  # the guidance network's probe samples

    def probe() -> float:
        """Mean reward of the fixed probe batch under the current model."""
        with torch.no_grad():
            return reward_of(lambda emb, _: t2i_models.base_fn(model, kind, emb))

    history, curve, paused, t0 = [], [], 0.0, time.perf_counter()
    for step in range(1, config["steps"] + 1):
        digits = torch.randint(10, (config["batch"],), generator=g)
        noise = torch.randn((config["batch"], 1, 8, 8), generator=g)
        history.append(draft_step(model, opt, reward, digits, noise, task.sample_steps, config["k"], 1.0, device,
                                  kind))
        done = len(history) >= window and sum(history[-window:]) / window >= target  # the stopping rule
        if step % config["probe_every"] == 0 or done or step == config["steps"]:
            t_probe = time.perf_counter()
            curve.append((round(1000 * (t_probe - t0 - paused)), probe()))
            paused += time.perf_counter() - t_probe
        if done:
            break
    train_s = time.perf_counter() - t0 - paused
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
