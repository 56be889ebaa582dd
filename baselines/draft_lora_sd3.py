"""LoRA DRaFT-K reward finetuning of a Stable Diffusion 3 pipeline (velocity guidance's baseline on the same base).

Clark, Vicol, Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards. ICLR 2024,
carried to a rectified flow: the loop (benchmarks/t2i_sd/draft.py) backpropagates the reward of decoded
samples through the last k Euler steps into LoRA adapters on the MMDiT's attention projections.
"""

from tiltbench.benchmarks.t2i_sd.draft import finetune


def draft_lora_sd3(task, config: dict, seed: int) -> dict:
    """LoRA DRaFT-K on the SD3 MMDiT through the Euler sampler (classifier-free guidance kept)."""
    return finetune(task, config, seed, "sd3", "draft-lora-sd3")
