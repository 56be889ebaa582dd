"""LoRA DRaFT-K on a Stable Diffusion-class pipeline: the reward-finetuning loop both `t2i-sd` baselines run
(Clark, Vicol, Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards. ICLR 2024,
Algorithm 1 with LoRA and truncated backpropagation, "DRaFT-K").

Each step samples a batch of prompts with fresh noise through the track's sampler (DDIM for sd, Euler for
sd3, classifier-free guidance kept), backpropagates minus the reward of the decoded images through the
last ``k`` sampler steps and the VAE decoder into LoRA adapters on the denoiser's attention projections
(peft, through diffusers' ``add_adapter``), and takes an AdamW step on them.  Gradient checkpointing keeps
the memory of the differentiated steps down on a real model.  The base weights never change; the LoRA
rank and scale are the config's ``rank`` and ``alpha``.  The loss is the reward alone: lambda plays no
part (DRaFT maximises reward; its KL to the base is set by where it stops, the ``steps`` a grid tunes), so
its rows are the same on tasks that differ only in lambda.

It lives in the track because the two baselines (baselines/draft_lora_sd.py, draft_lora_sd3.py) never import
each other.
"""

from __future__ import annotations

import time

import torch

from . import pipelines
from .track import eval_batch, finish, load_base, noise_for, sample_images, scorer

TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
TRAIN_STREAM = 21


def add_lora(net, rank: int, alpha: float):
    """``net`` itself (no copy: a paper-scale denoiser would double its memory) with LoRA adapters on its
    attention projections; only they require gradients.  The base weights stay as they were."""
    from peft import LoraConfig

    model = net
    model.requires_grad_(False)
    model.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights="gaussian",
                                 target_modules=list(TARGET_MODULES)))
    trainable = [p for n, p in model.named_parameters() if "lora" in n]
    if not trainable:
        raise ValueError(f"no LoRA adapter attached: the denoiser has none of the modules {', '.join(TARGET_MODULES)}")
    for p in trainable:
        p.requires_grad_(True)
        p.data = p.data.float()  # adapters train in float32 even on a half-precision base
    return model, trainable


def check(config: dict, task, solver: str) -> None:
    for key, low in (("steps", 1), ("batch", 1), ("rank", 1), ("k", 1)):
        if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < low:
            raise ValueError(f"{solver} {key} = {config[key]!r}: must be an integer >= {low}")
    if config["k"] > task.sample_steps:
        raise ValueError(f"{solver} k = {config['k']}: must be in [1, sample_steps = {task.sample_steps}]")
    if not config["lr"] > 0:
        raise ValueError(f"{solver} lr = {config['lr']!r}: must be > 0")


def finetune(task, config: dict, seed: int, kind: str, solver: str) -> dict:
    """LoRA DRaFT-K of base ``kind`` for ``config['steps']`` updates; the output of solver ``solver``."""
    check(config, task, solver)
    device = config.get("device", "cpu")
    pipe = load_base(task, kind, device)
    base_net = pipelines.denoiser(pipe, kind)
    model, params = add_lora(base_net, config["rank"], float(config["alpha"]))
    if config["checkpointing"]:
        model.enable_gradient_checkpointing()
    model.train()
    opt = torch.optim.AdamW(params, lr=config["lr"], weight_decay=0.0)
    reward = scorer(task, device)
    prompts = task.prompts()
    cond = pipelines.Conditioning(pipe, kind, prompts, device)
    g = torch.Generator().manual_seed(seed)
    dtype = pipelines.check_dtype(task.dtype)
    history, curve, t0 = [], [], time.perf_counter()
    for step in range(1, config["steps"] + 1):
        idx = torch.randint(len(prompts), (config["batch"],), generator=g)
        noise = noise_for(pipe, kind, task, config["batch"], TRAIN_STREAM, seed * 100_003 + step)
        z = pipelines.sample(pipe, kind, cond, idx.to(device), noise.to(device, dtype), task.sample_steps,
                             task.cfg(kind), net=model, grad_steps=config["k"])
        images = pipelines.decode(pipe, kind, z)
        loss = -reward(images, [prompts[i] for i in idx.tolist()]).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{solver} loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config["max_grad_norm"])
        opt.step()
        history.append(-float(loss.detach()))
        curve.append((round(1000 * (time.perf_counter() - t0)), history[-1]))
    train_s = time.perf_counter() - t0
    model.eval().requires_grad_(False)
    idx, noise = eval_batch(task, pipe, kind, seed)
    t0 = time.perf_counter()
    images, _ = sample_images(pipe, kind, task, cond, idx, noise, net=model)
    rate = len(idx) / (time.perf_counter() - t0)
    return finish(task, kind, images, idx, device, {"train_s": train_s, "samples_per_s": rate},
                  {"train_reward": list(enumerate(history, 1)), "reward_vs_ms": curve})
