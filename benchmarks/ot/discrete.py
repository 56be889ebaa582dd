"""Discrete plans on n samples of each marginal, shared by the `ot` track's POT baselines.

``sinkhorn_plan`` is the entropic plan that both ``baselines/sinkhorn.py`` and
``baselines/barycentric.py`` start from; ``samples`` draws the n points of each marginal that every
discrete baseline of a cell sees (the same draw for the same seed).  The first m source points are
the task's conditioning points ``x_test``, so row i < m of a plan is the plan's conditional at
x_test[i].

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


def samples(task, seed: int):
    """n points of mu, the first m of them ``task.x_test`` (fixed points drawn from mu, so the whole is
    still an iid sample of mu), and n points of nu."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([task.x_test, task.sample_x(task.n - len(task.x_test), rng)])
    return x, task.sample_y(task.n, rng)


# Peak bytes per pair (i, j) of samples, fitted to runs.peak_mem_mb minus the ~320 MB of an idle
# worker (torch imported): ot.emd 39 B at n = 2000 and at n = 10000 (float64 cost matrix, plan and
# network-simplex arrays); the dense log-domain Sinkhorn in float64 with epsilon-scaling 33.5 B at
# n = 3000 and 32.4 B at n = 6000 (d = 16, lam = 4: cost, plan, logsumexp temporaries).  Rounded up.
BYTES_PER_PAIR = {"lp": 40, "sinkhorn": 36}
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



def scaling_schedule(cost_max: float, lam: float, factor: float) -> list[float]:
    """Regularisations lam * factor^K, ..., lam * factor, lam with lam * factor^K >= max cost.

    epsilon-scaling (Kosowsky & Yuille 1994; Schmitzer 2019, "Stabilized sparse scaling algorithms
    for entropy regularized transport problems", Sec. 3.2): solve a sequence of problems of
    decreasing regularisation, each warm-started from the last.  ``factor`` <= 1 means no scaling.
    """
    if factor <= 1:
        return [lam]
    k = max(0, int(np.ceil(np.log(max(cost_max, lam) / lam) / np.log(factor))))
    return [lam * factor**i for i in range(k, 0, -1)] + [lam]


def sinkhorn_plan(x: np.ndarray, y: np.ndarray, lam: float, max_iter: int, tol: float, scaling: float = 0.0,
                  scaling_iter: int = 50, device: str = "cpu"):
    """Entropic plan between the empirical measures of x and y.

    POT minimises <P, M> + reg * sum P log P under the marginal constraints, which equals
    <P, M> + reg * KL(P || a b^T) up to a constant (Cuturi 2013), so reg = lam.  Log domain, torch
    float64 backend on ``device`` (float64 is also the faster of the two on CPU here).

    With ``scaling`` > 1 the plan is reached by epsilon-scaling (``scaling_schedule``): at most
    ``scaling_iter`` iterations at each larger regularisation, the dual potentials f = reg * log u
    carried to the next, then up to ``max_iter`` at reg = lam.  At small lam plain Sinkhorn's
    marginal error decays roughly as 1/iterations; the warm start cuts the iterations to the
    threshold several-fold (d = 64, lam = 4, n = 1000: 1240 instead of more than 5000).

    Returns (plan, diagnostics) with the iterations run (all stages), the L1 error of the plan's
    marginals and whether POT's stopping threshold was reached within ``max_iter`` at reg = lam (a
    capped run is reported, not hidden).  Refuses (DoesNotFit) an n whose n x n arrays would not fit in
    this machine's memory (checked on the CPU only; on a GPU an out-of-memory error is the reason).
    """
    if device == "cpu":
        check_memory("sinkhorn", len(x))
    xt = torch.as_tensor(x, dtype=torch.float64, device=device)
    yt = torch.as_tensor(y, dtype=torch.float64, device=device)
    a = torch.full((len(x),), 1.0 / len(x), dtype=torch.float64, device=device)
    b = torch.full((len(y),), 1.0 / len(y), dtype=torch.float64, device=device)
    M = ot.dist(xt, yt)  # squared Euclidean
    regs = scaling_schedule(float(M.max()), lam, scaling)
    warm, total = None, 0
    for i, reg in enumerate(regs):
        if warm is not None:  # same potentials f = reg * log u, expressed at the new reg
            warm = tuple(w * regs[i - 1] / reg for w in warm)
        last = i == len(regs) - 1
        P = None  # free the last stage's plan before the next stage allocates its own
        P, log = ot.sinkhorn(a, b, M, reg=reg, method="sinkhorn_log", numItermax=max_iter if last else scaling_iter,
                             stopThr=tol, log=True, warn=False, warmstart=warm)
        warm, total = (log["log_u"], log["log_v"]), total + int(log["niter"])
    if not torch.isfinite(P).all():
        raise FloatingPointError(f"Sinkhorn produced a non-finite plan (lam = {lam:g})")
    marginal_err = float((P.sum(1) - a).abs().sum() + (P.sum(0) - b).abs().sum())
    return P.cpu().numpy(), {"iterations": total, "marginal_err": marginal_err,
                             "converged": float(int(log["niter"]) < max_iter - 1)}
