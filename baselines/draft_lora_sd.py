"""LoRA DRaFT-K reward finetuning of a Stable Diffusion pipeline (the guidance network's baseline on the same base).

Clark, Vicol, Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards. ICLR 2024.
The loop (benchmarks/t2i_sd/draft.py) backpropagates the reward of decoded samples through the last k DDIM
steps into LoRA adapters on the UNet's attention projections, with gradient checkpointing.
"""

from tiltbench.benchmarks.t2i_sd.draft import finetune


def draft_lora_sd(task, config: dict, seed: int) -> dict:
    """LoRA DRaFT-K on the SD UNet through the DDIM sampler (classifier-free guidance kept)."""
    return finetune(task, config, seed, "sd", "draft-lora-sd")
