"""CLIP-based reward models for the `t2i-sd` track, loaded from a local folder (or built tiny and random).

A scorer is a ``transformers`` ``CLIPModel`` plus, optionally, a head:

- no head (PickScore / CLIP-score style): r(x, c) = logit_scale * cos(image embedding, prompt embedding)
  / 100, i.e. the cosine times CLIP's learned temperature over 100 (PickScore's own scale);
- a head (LAION-aesthetic style): r(x, c) = head(normalised image embedding), a linear or MLP head saved as
  ``head.pt`` in the folder (the ``state_dict`` of a stack of Linear layers, as LAION's aesthetic MLP saves
  it; ``head.json`` may say ``{"activation": "relu"}`` to put ReLUs between them).  Its input width must
  equal the CLIP projection width.

Images enter in [-1, 1] and are resized and normalised with CLIP's mean and std inside torch, so the reward
is differentiable in the pixels (velocity guidance and reward finetuning backpropagate through it).
Folder layout: a ``CLIPModel`` written by ``save_pretrained`` with its tokenizer (``tokenizer.json`` or
vocab files), plus ``head.pt`` when there is a head.  ``"tiny"`` builds a random scorer from config;
``"tiny:N"`` seeds it with N, so a held-out scorer differs from the training one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HEAD_ACTIVATIONS = ("none", "relu")


class ClipScorer(nn.Module):
    """r(images in [-1, 1], prompts) -> one reward per image."""

    def __init__(self, clip, tokenizer, head: nn.Module | None = None):
        super().__init__()
        self.clip, self.tokenizer, self.head = clip.eval(), tokenizer, head
        self.requires_grad_(False)
        self.size = clip.config.vision_config.image_size
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}

    def image_embeds(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate((images.float() + 1) / 2, size=(self.size, self.size), mode="bicubic",
                          align_corners=False, antialias=True)  # as CLIP's processor resizes (bicubic)
        mean = torch.tensor(CLIP_MEAN, device=x.device)[None, :, None, None]
        std = torch.tensor(CLIP_STD, device=x.device)[None, :, None, None]
        dtype = next(self.clip.parameters()).dtype
        feats = self.clip.get_image_features(pixel_values=((x - mean) / std).to(dtype))
        feats = getattr(feats, "pooler_output", feats)
        return F.normalize(feats.float(), dim=-1)

    def text_embeds(self, prompts: list[str], device) -> torch.Tensor:
        key = tuple(prompts)
        if key not in self._text_cache:
            tok = self.tokenizer(prompts, padding="max_length", truncation=True,
                                 max_length=self.clip.config.text_config.max_position_embeddings, return_tensors="pt")
            with torch.no_grad():
                feats = self.clip.get_text_features(input_ids=tok.input_ids.to(device))
            self._text_cache[key] = F.normalize(getattr(feats, "pooler_output", feats).float(), dim=-1)
        return self._text_cache[key]

    def forward(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        img = self.image_embeds(images)
        if self.head is not None:
            return self.head(img.to(next(self.head.parameters()).dtype)).float().squeeze(-1)
        scale = self.clip.logit_scale.exp().float()
        return scale * (img * self.text_embeds(prompts, img.device)).sum(-1) / 100.0


def head_from_state(state: dict, width: int, where: str, activation: str = "none") -> nn.Sequential:
    """The stack of Linear layers that ``state`` describes (keys ``[prefix.]<index>.weight|bias``, as
    LAION's aesthetic MLP saves them; dropout layers leave gaps in the indices), ``activation`` ("none",
    LAION's layout, or "relu") between them.  Its input must be ``width`` wide."""
    if activation not in HEAD_ACTIVATIONS:
        raise ValueError(f"reward head {where}: activation {activation!r}; valid: {', '.join(HEAD_ACTIVATIONS)}")
    weights = {int(k.split(".")[-2]): k for k in state if k.endswith(".weight") and k.split(".")[-2].isdigit()}
    if not weights:
        raise ValueError(f"reward head {where}: no Linear layers (keys like '0.weight') in its state_dict")
    order = sorted(weights)
    first = state[weights[order[0]]]
    if first.ndim != 2 or first.shape[1] != width:
        raise ValueError(f"reward head {where} takes inputs {first.shape[-1]} wide, but the CLIP model projects to "
                         f"{width}: the head does not belong to this CLIP")
    modules: list[nn.Module] = []
    for i, idx in enumerate(order):
        w = state[weights[idx]]
        linear = nn.Linear(w.shape[1], w.shape[0])
        bias = state.get(weights[idx][: -len("weight")] + "bias", torch.zeros(w.shape[0]))
        linear.load_state_dict({"weight": w, "bias": bias})
        modules.append(linear)
        if activation == "relu" and i < len(order) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def tiny_scorer(seed: int = 0, head: bool = False) -> ClipScorer:
    """A random CLIP scorer built from config (32x32 images); a linear head when ``head``."""
    from transformers import CLIPConfig, CLIPModel

    from .pipelines import tiny_tokenizer

    torch.manual_seed(1000 + seed)
    config = CLIPConfig(text_config=dict(vocab_size=514, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, max_position_embeddings=48, bos_token_id=512,
                                         eos_token_id=513, pad_token_id=513),
                        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=4, image_size=32, patch_size=8),
                        projection_dim=32)
    clip = CLIPModel(config)
    return ClipScorer(clip, tiny_tokenizer(), nn.Sequential(nn.Linear(32, 1)) if head else None)


def load_scorer(path: str, device: str = "cpu", dtype: torch.dtype = torch.float32) -> ClipScorer:
    """The scorer at local folder ``path``, or a tiny random one (``"tiny"`` / ``"tiny:N"``), on ``device``."""
    if path == "tiny" or path.startswith("tiny:"):
        seed = path.partition(":")[2]
        if seed and not seed.isdigit():
            raise ValueError(f"reward path {path!r}: 'tiny' or 'tiny:N' with N a non-negative integer, or a folder")
        return tiny_scorer(int(seed or 0)).to(device)
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(f"reward path {str(folder)!r} is not a CLIPModel folder (no config.json); give a folder "
                         "written by CLIPModel.save_pretrained (plus head.pt for a head), or 'tiny'")
    from transformers import AutoTokenizer, CLIPModel

    clip = CLIPModel.from_pretrained(folder, torch_dtype=dtype)
    head = None
    if (folder / "head.pt").is_file():
        state = torch.load(folder / "head.pt", map_location="cpu", weights_only=True)
        spec = json.loads((folder / "head.json").read_text()) if (folder / "head.json").is_file() else {}
        head = head_from_state(state, clip.config.projection_dim, str(folder / "head.pt"),
                               spec.get("activation", "none"))
    return ClipScorer(clip, AutoTokenizer.from_pretrained(folder), head).to(device)
