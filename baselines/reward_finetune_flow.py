"""Reward finetuning of the rectified-flow base model: DRaFT-K (Clark, Vicol, Swersky, Fleet. Directly
Fine-Tuning Diffusion Models on Differentiable Rewards. ICLR 2024) through the flow model's Euler sampler.

The same loop as baselines/reward_finetune.py (benchmarks/t2i/draft.py) (batch of captions and noise, Euler sampling with the model
being trained, gradient of the mean reward of the clamped x_0 through the last K steps, full finetuning,
stopped when the running batch reward reaches the exact tilted target of *base-flow*), so that
velocity guidance, the paper's flow-matching method, has a finetuning baseline on its own base model
rather than on the DDPM (whose unguided reward differs).
"""

from __future__ import annotations

from tiltbench.benchmarks.t2i.draft import finetune


def reward_finetune_flow(task, config: dict, seed: int) -> dict:
    """DRaFT-K: full finetuning of base-flow through the last K Euler steps, stopped at tilted-flow's reward."""
    return finetune(task, config, seed, "flow", "reward-finetune-flow")
