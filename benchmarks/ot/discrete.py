"""Discrete plans on n samples of each marginal, shared by the `ot` track's POT baselines.

``sinkhorn_plan`` is the entropic plan that both ``baselines/sinkhorn.py`` and
``baselines/barycentric.py`` start from; ``samples`` draws the n points of each marginal that every
discrete baseline of a cell sees (the same draw for the same seed).

``check_memory`` lets a solver that holds n x n matrices refuse a cell that cannot fit before it
allocates anything: the cell is then stored as failed with "needs ~N GB, M GB available" rather
than killed by the kernel or left to swap.
"""

from __future__ import annotations

import os
import resource

import numpy as np
import ot
import torch

from .track import GaussianOTTask


def samples(task: GaussianOTTask, seed: int):
    rng = np.random.default_rng(seed)
    return task.sample_x(task.n, rng), task.sample_y(task.n, rng)


# Peak bytes per pair (i, j) of samples, fitted to runs.peak_mem_mb minus the ~320 MB of an idle
# worker (torch imported): ot.emd 39 B at n = 2000 and at n = 10000 (float64 cost matrix, plan and
# network-simplex arrays); the dense log-domain Sinkhorn 15.5 B at n = 10000 (float32 cost, plan and
# one temporary, then the float64 plan).  Rounded up.
BYTES_PER_PAIR = {"lp": 40, "sinkhorn": 16}
BUDGET_ENV = "TILTBENCH_MEMORY_BUDGET_GB"  # overrides the memory this machine has (tests, shared hosts)


class DoesNotFit(RuntimeError):
    """A cell needs more memory (or time) than this machine or the profile gives it.

    Not a MemoryError: the worker reports those as a generic out-of-memory, and this message (the
    estimate and what is available) is the stored reason."""


def available_gb() -> float:
    """Memory this process may still allocate, in GB: the smaller of the machine's available memory
    (psutil, else /proc/meminfo) and what the address-space cap (the profile's memory_limit_gb, set
    by the worker as RLIMIT_AS) leaves; ``TILTBENCH_MEMORY_BUDGET_GB`` replaces both."""
    if os.environ.get(BUDGET_ENV):
        return float(os.environ[BUDGET_ENV])
    try:
        import psutil

        free = psutil.virtual_memory().available / 2**30
    except ImportError:
        with open("/proc/meminfo") as fh:
            free = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:")) / 2**20
    cap, _ = resource.getrlimit(resource.RLIMIT_AS)
    if cap != resource.RLIM_INFINITY:
        with open("/proc/self/statm") as fh:
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        free = min(free, (cap - used) / 2**30)
    return free


def check_memory(solver: str, n: int) -> None:
    """Raise DoesNotFit when ``solver``'s n x n arrays (BYTES_PER_PAIR) exceed ``available_gb()``."""
    need = BYTES_PER_PAIR[solver] * n * n / 2**30
    free = available_gb()
    if need > free:
        raise DoesNotFit(f"{solver} at n = {n} needs ~{need:.3g} GB ({BYTES_PER_PAIR[solver]} B per pair "
                         f"of samples), {free:.3g} GB available")


def sinkhorn_plan(x: np.ndarray, y: np.ndarray, lam: float, max_iter: int, tol: float):
    """Entropic plan between the empirical measures of x and y.

    POT minimises <P, M> + reg * sum P log P under the marginal constraints, which equals
    <P, M> + reg * KL(P || a b^T) up to a constant (Cuturi 2013), so reg = lam.  Log domain, torch
    float32 backend.

    Returns (plan, diagnostics) with the iterations run, the L1 error of the plan's marginals and
    whether POT's stopping threshold was reached within ``max_iter`` (a capped run is reported,
    not hidden).  Refuses (DoesNotFit) an n whose n x n arrays would not fit in memory.
    """
    check_memory("sinkhorn", len(x))
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    a = torch.full((len(x),), 1.0 / len(x))
    b = torch.full((len(y),), 1.0 / len(y))
    M = ot.dist(xt, yt)  # squared Euclidean
    P, log = ot.sinkhorn(a, b, M, reg=lam, method="sinkhorn_log", numItermax=max_iter, stopThr=tol,
                         log=True, warn=False)
    if not torch.isfinite(P).all():
        raise FloatingPointError(f"Sinkhorn produced a non-finite plan (lam = {lam:g})")
    P = P.double()
    marginal_err = float((P.sum(1) - a.double()).abs().sum() + (P.sum(0) - b.double()).abs().sum())
    iters = int(log["niter"])
    return P.numpy(), {"iterations": iters, "marginal_err": marginal_err, "converged": float(iters < max_iter - 1)}
