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
and ``reward_vs_ms``: every ``probe_every`` steps (and where it stops) the mean reward of a fixed probe
batch sampled by the current model, against the training milliseconds so far with the probes'
own time left out, on the same probe samples and axes as the guidance network's curve (until
2026-11-28 it was the running mean of the batch rewards, which lags the model by up to ``window``
steps and so overstated the time finetuning needs to reach a reward).  lr 1e-5: at 1e-4 a pilot run (correct-lam0.1) wrecked the
samples within 100 steps (FID to the base 288) before reaching the target.

The loop itself is benchmarks/t2i/draft.py; the same loop finetunes the flow base through its Euler sampler
(baselines/reward_finetune_flow.py).
"""

from __future__ import annotations

from tiltbench.benchmarks.t2i.draft import draft_loss, draft_step, finetune

__all__ = ["draft_loss", "draft_step", "reward_finetune"]


def reward_finetune(task, config: dict, seed: int) -> dict:
    """DRaFT-K: full finetuning of base-ddpm through the last K DDIM steps, stopped at the tilted target's reward."""
    return finetune(task, config, seed, "ddpm", "reward-finetune")
