"""`sinkhorn-online`: the discrete entropic plan of `sinkhorn`, computed without any n x n matrix.

Same problem as ``baselines/sinkhorn.py`` (POT, reg = lam, float32 potentials, same samples), but
POT's lazy log-domain Sinkhorn (``ot.bregman.empirical_sinkhorn`` with ``isLazy=True``) recomputes
the cost in blocks of rows at every iteration and returns only the log-scalings f, g, with the plan
P_ij = exp(f_i + g_j - ||x_i - y_j||^2 / lam).  The plan's moments are then accumulated block by
block from f and g.  Memory is O(n * block), time O(n^2 d) per iteration as for the dense solver.

POT's own implementation is used rather than a hand-written one: it is the reference the dense
baseline already comes from, and on this machine (one core, d = 16, lam = 32, n = 5000) it took
2.3 s against 3.6 s for the dense solver.
"""

from __future__ import annotations

import ctypes

import numpy as np
import ot
import torch

from tiltbench.benchmarks.ot.discrete import DoesNotFit, samples
from tiltbench.benchmarks.ot.track import plan_conditionals

BYTES_PER_ENTRY = 16  # a block's float64 cost from POT's dist, its float32 copy and one temporary


def free_blocks_to_the_system() -> None:
    """Serve every allocation over 1 MB from its own mmap, returned to the system when freed.

    glibc raises its mmap threshold each time such a block is freed, after which the cost blocks come
    from the heap, which fragments and grows: measured here, POT's lazy Sinkhorn then peaked at
    1.4 GB at n = 10000 and 4.5 GB at n = 20000 (growing like n^2); with a fixed threshold, 0.47 GB."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def block_rows(n: int, block_mb: float) -> int:
    """Rows per block so that a block of the n-column cost matrix uses about ``block_mb`` MB."""
    return int(min(n, max(1, block_mb * 2**20 // (BYTES_PER_ENTRY * n))))


def lazy_plan_moments(x: np.ndarray, y: np.ndarray, f: np.ndarray, g: np.ndarray, lam: float, rows: int):
    """Mean and covariance of the plan P_ij = exp(f_i + g_j - ||x_i - y_j||^2 / lam), normalised to
    mass 1, accumulated over blocks of ``rows`` rows (float64), and the L1 errors of its marginals
    against uniform weights.  Equals ``track.plan_moments(x, y, P)`` without forming P."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n, m = len(x), len(y)
    # moments about the sample means (the plan's means are close to them: no cancellation below); the
    # cost about one common centre c, which leaves ||x_i - y_j|| unchanged
    x0, y0 = x.mean(0), y.mean(0)
    xc, yc = torch.as_tensor(x - x0), torch.as_tensor(y - y0)
    c = (x0 + y0) / 2
    xk, yk = torch.as_tensor(x - c), torch.as_tensor(y - c)
    f, g = torch.as_tensor(f, dtype=torch.float64), torch.as_tensor(g, dtype=torch.float64)
    row_mass = torch.empty(n, dtype=torch.float64)
    col_mass = torch.zeros(m, dtype=torch.float64)
    cross = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64)
    y_sq = (yk * yk).sum(1)
    for i in range(0, n, rows):
        xb = xk[i:i + rows]
        cost = (xb * xb).sum(1)[:, None] + y_sq[None, :] - 2 * xb @ yk.T
        P = torch.exp(f[i:i + rows, None] + g[None, :] - cost / lam)
        row_mass[i:i + rows] = P.sum(1)
        col_mass += P.sum(0)
        cross += xc[i:i + rows].T @ (P @ yc)
    total = float(row_mass.sum())
    wx, wy = (row_mass / total).numpy(), (col_mass / total).numpy()
    dx, dy = wx @ (x - x0), wy @ (y - y0)  # plan means minus sample means
    xs, ys = x - x0 - dx, y - y0 - dy
    Sxx, Syy = xs.T @ (wx[:, None] * xs), ys.T @ (wy[:, None] * ys)
    Sxy = cross.numpy() / total - np.outer(dx, dy)
    mean = np.concatenate([x0 + dx, y0 + dy])
    marginal_err = float(np.abs(row_mass.numpy() - 1.0 / n).sum() + np.abs(col_mass.numpy() - 1.0 / m).sum())
    return mean, np.block([[Sxx, Sxy], [Sxy.T, Syy]]), marginal_err


def sinkhorn_online(task, config: dict, seed: int) -> dict:
    """Discrete entropic OT (POT lazy log-domain Sinkhorn, float32) on n samples of each marginal,
    in O(n) memory.  ``max_n`` > 0 refuses larger n: a time budget (the cost grows as n^2)."""
    if 0 < config["max_n"] < task.n:
        raise DoesNotFit(f"n = {task.n} is above max_n = {config['max_n']} for sinkhorn-online (time budget: "
                         "~n^2 work per iteration)")
    free_blocks_to_the_system()
    x, y = samples(task, seed)
    n = len(x)
    rows = block_rows(n, config["block_mb"])
    # CPU only, also in a GPU cell: POT's lazy solver builds each cost block with NumPy
    # (ot/bregman/_empirical.py), so CUDA tensors would only add copies.  A device version needs a
    # block loop of our own in torch (open work).
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    uniform = torch.full((n,), 1.0 / n)
    f, g, log = ot.bregman.empirical_sinkhorn(xt, yt, task.lam, uniform, uniform, numIterMax=config["max_iter"],
                                              stopThr=config["tol"], isLazy=True, batchSize=rows, log=True,
                                              warn=False)
    if not (torch.isfinite(f).all() and torch.isfinite(g).all()):
        raise FloatingPointError(f"lazy Sinkhorn produced non-finite potentials (lam = {task.lam:g})")
    mean, cov, marginal_err = lazy_plan_moments(x, y, f.numpy(), g.numpy(), task.lam, rows)
    m = len(task.x_test)  # the first m rows of the plan: its conditionals at the task's x_test
    rows_m = torch.exp(f[:m, None].double() + g[None, :].double()
                       - torch.cdist(torch.as_tensor(x[:m]), torch.as_tensor(y)).pow(2) / task.lam)
    cond_mean, cond_cov = plan_conditionals(y, rows_m.numpy(), m)
    last_err = float(log["err"][-1]) if log["err"] else float("inf")
    return {"mean": mean, "cov": cov, "cond_mean": cond_mean, "cond_cov": cond_cov,
            "metrics": {"iterations": int(log["niter"]), "marginal_err": marginal_err,
                        "converged": float(last_err <= config["tol"])}}
