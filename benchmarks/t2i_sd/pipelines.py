"""Stable Diffusion-class pipelines for the `t2i-sd` track: loading a user's local folder, building tiny random
ones for tests and smoke runs, and the two samplers every solver shares.

Two kinds, each a diffusers pipeline:

- ``"sd"``: ``StableDiffusionPipeline`` (an epsilon-prediction latent diffusion UNet, e.g. SD 1.5 or
  SD 2.1-base; a v-prediction model such as SD 2.1-768 is refused), sampled by DDIM with classifier-free
  guidance;
- ``"sd3"``: ``StableDiffusion3Pipeline`` (a rectified-flow MMDiT, e.g. SD 3 / 3.5), sampled by Euler on the
  scheduler's shifted sigmas, with classifier-free guidance.

The samplers are written here, not taken from ``pipeline.__call__``: the methods change the model's output
at every step (a guidance term), and reward finetuning backpropagates through the last steps, neither of
which the stock ``__call__`` allows.  Prompt encoding and VAE decoding are the pipeline's own.

``"tiny"`` as a path builds a random pipeline from config (a few thousand parameters per part, a byte-level
CLIP tokenizer written here): the same code path as real weights, seconds on a CPU.  No hub access is
needed or attempted; a real folder is one written by ``save_pretrained`` (or a hub snapshot on disk).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

KINDS = {"sd": "StableDiffusionPipeline", "sd3": "StableDiffusion3Pipeline"}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
TINY = "tiny"


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for the bytes 0..255 (GPT-2's table)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(c) for c in keep] + [chr(256 + i) for i in range(len(extra))]


def tiny_tokenizer(max_length: int = 48):
    """A CLIP tokenizer with no merges: every byte is a token (with and without the end-of-word mark)."""
    from transformers import CLIPTokenizer

    chars = _byte_chars()
    vocab = {tok: i for i, tok in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def _tiny_clip_text(seed: int, projection: bool, hidden: int = 32):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=514, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=48, projection_dim=hidden,
                            bos_token_id=512, eos_token_id=513, pad_token_id=513)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def _tiny_vae(seed: int, channels: int):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=channels, block_out_channels=(8, 16),
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         layers_per_block=1, norm_num_groups=4, sample_size=32).eval()


def tiny_pipeline(kind: str, seed: int = 0):
    """A random ``kind`` pipeline built from config: 32x32 images, 16x16 latents."""
    from diffusers import (DDIMScheduler, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                           StableDiffusion3Pipeline, StableDiffusionPipeline, UNet2DConditionModel)

    check_kind(kind)
    if kind == "sd":
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                    layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                    attention_head_dim=4, norm_num_groups=8).eval()
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False, steps_offset=1)
        return StableDiffusionPipeline(vae=_tiny_vae(seed + 1, 4), text_encoder=_tiny_clip_text(seed + 2, False),
                                       tokenizer=tiny_tokenizer(), unet=unet, scheduler=scheduler,
                                       safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    torch.manual_seed(seed)
    # no T5 (SD3 runs without its third encoder): the joint width is the two CLIP widths side by side
    transformer = SD3Transformer2DModel(sample_size=16, patch_size=2, in_channels=4, num_layers=2,
                                        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=64,
                                        caption_projection_dim=32, pooled_projection_dim=64, out_channels=4,
                                        pos_embed_max_size=16).eval()
    return StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=_tiny_vae(seed + 1, 4), text_encoder=_tiny_clip_text(seed + 2, True),
                                    tokenizer=tiny_tokenizer(), text_encoder_2=_tiny_clip_text(seed + 3, True),
                                    tokenizer_2=tiny_tokenizer(), text_encoder_3=None, tokenizer_3=None)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown t2i-sd pipeline kind {kind!r}; valid: {', '.join(KINDS)}")


def check_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise ValueError(f"t2i-sd dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    return DTYPES[dtype]


def load_pipeline(path: str, kind: str, device: str = "cpu", dtype: str = "float32"):
    """The ``kind`` pipeline at local folder ``path`` (or ``"tiny"``), frozen, on ``device`` in ``dtype``.

    A folder whose ``model_index.json`` names another pipeline class is refused with one line naming both."""
    check_kind(kind)
    torch_dtype = check_dtype(dtype)
    if path == TINY:
        pipe = tiny_pipeline(kind)  # built in float32
        if torch_dtype != torch.float32:
            pipe = pipe.to(dtype=torch_dtype)
    else:
        folder = Path(path).expanduser()
        index = folder / "model_index.json"
        if not index.is_file():
            raise ValueError(f"t2i-sd {kind} pipeline path {str(folder)!r} is not a diffusers pipeline folder (no "
                             f"model_index.json); give a folder written by save_pretrained, or 'tiny'")
        spec = json.loads(index.read_text())
        found = spec.get("_class_name")
        if found != KINDS[kind]:
            raise ValueError(f"t2i-sd {kind} pipeline folder {str(folder)!r} holds a {found}; the {kind} kind takes a "
                             f"{KINDS[kind]}")
        import diffusers

        # a folder saved without SD3's T5 encoder (a common memory saving) loads with it set to None
        absent = {part: None for part in ("text_encoder_3", "tokenizer_3")
                  if kind == "sd3" and not any(spec.get(part) or [None])}
        pipe = getattr(diffusers, KINDS[kind]).from_pretrained(folder, torch_dtype=torch_dtype, **absent)
    if kind == "sd" and pipe.scheduler.config.get("prediction_type", "epsilon") != "epsilon":
        raise ValueError(f"t2i-sd sd pipeline {path!r} predicts {pipe.scheduler.config.prediction_type!r}; the guidance "
                         "network's correction is written for epsilon-prediction models (e.g. SD 1.5, SD 2.1-base)")
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    for part in ("unet", "transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3"):
        module = getattr(pipe, part, None)
        if module is not None:
            module.requires_grad_(False).eval()
    return pipe


def denoiser(pipe, kind: str):
    """The network a solver trains or guides: the UNet (sd) or the MMDiT (sd3)."""
    return pipe.unet if kind == "sd" else pipe.transformer


def latent_shape(pipe, kind: str, resolution: int) -> tuple[int, int, int]:
    net = denoiser(pipe, kind)
    return (net.config.in_channels, resolution // pipe.vae_scale_factor, resolution // pipe.vae_scale_factor)


class Conditioning:
    """Classifier-free guidance inputs for a batch of prompts: the prompt and empty-prompt embeddings (and,
    for sd3, the pooled ones), computed once per prompt list and indexed per batch."""

    def __init__(self, pipe, kind: str, prompts: list[str], device: str):
        self.kind = kind
        with torch.no_grad():
            if kind == "sd":
                cond, uncond = pipe.encode_prompt(prompts, device, 1, True, [""] * len(prompts))
                self.cond, self.uncond, self.pooled, self.pooled_uncond = cond, uncond, None, None
            else:
                cond, uncond, pooled, pooled_uncond = pipe.encode_prompt(
                    prompts, None, None, device=device, do_classifier_free_guidance=True,
                    negative_prompt=[""] * len(prompts))
                self.cond, self.uncond, self.pooled, self.pooled_uncond = cond, uncond, pooled, pooled_uncond

    def summary(self, idx: torch.Tensor) -> torch.Tensor:
        """One vector per sample that a small guidance network conditions on: the mean prompt token embedding."""
        return self.cond[idx].mean(dim=1)

    def predict(self, net, z: torch.Tensor, t, idx: torch.Tensor, scale: float) -> torch.Tensor:
        """The classifier-free-guided output (epsilon for sd, diffusers' flow velocity noise - data for sd3)."""
        both = torch.cat([z, z])
        enc = torch.cat([self.uncond[idx], self.cond[idx]])
        tt = torch.as_tensor(t, device=z.device).expand(len(both))
        if self.kind == "sd":
            out = net(both, tt, encoder_hidden_states=enc).sample
        else:
            pooled = torch.cat([self.pooled_uncond[idx], self.pooled[idx]])
            out = net(hidden_states=both, timestep=tt, encoder_hidden_states=enc, pooled_projections=pooled).sample
        uncond, cond = out.chunk(2)
        return uncond + scale * (cond - uncond)


def schedule(pipe, kind: str, steps: int):
    """(timesteps, sigmas-or-None) of a ``steps``-step sampler: DDIM timesteps for sd (from the pipeline's
    scheduler config), the flow scheduler's shifted sigmas (steps + 1, ending at 0) for sd3."""
    if kind == "sd":
        from diffusers import DDIMScheduler

        ddim = DDIMScheduler.from_config(pipe.scheduler.config)
        ddim.set_timesteps(steps)
        return ddim, None
    from diffusers import FlowMatchEulerDiscreteScheduler

    flow = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
    flow.set_timesteps(steps)
    return flow, flow.sigmas


def sample(pipe, kind: str, cond: Conditioning, idx: torch.Tensor, noise: torch.Tensor, steps: int, scale: float,
           correct=None, net=None, grad_steps: int = 0) -> torch.Tensor:
    """Final latents from ``noise`` (on the pipeline's device) for the prompts ``idx`` of ``cond``.

    ``correct(out, z, step)`` may change the guided model output at each step (a guidance term): for sd
    ``step`` is the integer DDPM timestep, for sd3 the flow sigma (1 = noise, 0 = data).  A ``correct``
    with ``wants_graph = True`` gets ``out`` still attached to ``z`` (which then requires grad), so it can
    differentiate through the model without a second forward pass; it returns a detached output.  ``net``
    replaces the pipeline's denoiser (a finetuned one); gradients flow through the last ``grad_steps``
    steps only."""
    net = net if net is not None else denoiser(pipe, kind)
    sched, sigmas = schedule(pipe, kind, steps)
    z = noise * (sched.init_noise_sigma if kind == "sd" else 1.0)
    for i, t in enumerate(sched.timesteps):
        graph = correct is not None and getattr(correct, "wants_graph", False)
        with torch.set_grad_enabled(graph or (i >= steps - grad_steps and torch.is_grad_enabled())):
            if graph:
                z = z.detach().requires_grad_(True)
            out = cond.predict(net, z, t, idx, scale)
            if kind == "sd":
                if correct is not None:
                    out = correct(out, z, int(t))
                z = sched.step(out, t, z).prev_sample
            else:
                if correct is not None:
                    out = correct(out, z, float(sigmas[i]))
                z = z + (sigmas[i + 1] - sigmas[i]) * out
        if i < steps - grad_steps - 1 or graph:
            z = z.detach()
    return z


def decode(pipe, kind: str, z: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] from final latents (differentiable: the rewards backpropagate through it)."""
    vae = pipe.vae
    z = z / vae.config.scaling_factor + (getattr(vae.config, "shift_factor", None) or 0.0)
    return vae.decode(z.to(vae.dtype)).sample.clamp(-1, 1)

