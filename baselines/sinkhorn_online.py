"""`sinkhorn-online`: the discrete entropic plan of `sinkhorn`, computed without any n x n matrix.

Same problem, samples, epsilon-scaling schedule and stopping rule as ``baselines/sinkhorn.py``, but
the cost is recomputed in blocks of rows (or columns) at every half-iteration, so memory is
O(n * block) while the time stays O(n^2 d) per iteration.  Dual form (Peyre & Cuturi 2019,
"Computational Optimal Transport", Remark 4.22, the log-domain updates):

    f_i = -lam * log sum_j b_j exp((g_j - C_ij) / lam),   g_j = -lam * log sum_i a_i exp((f_i - C_ij) / lam),

with the plan P_ij = a_i b_j exp((f_i + g_j - C_ij) / lam).  The plan's moments and its rows at the
task's conditioning points are then accumulated block by block from f and g.

Our own block loop rather than POT's lazy solver (``ot.bregman.empirical_sinkhorn(isLazy=True)``),
which this solver first used: POT builds each cost block with NumPy, so it cannot run on a GPU, and it
takes no warm start, so it cannot do the epsilon-scaling that makes the dense solver converge at
small lam.  The two agree to 1e-6 (tests/test_ot_scaling.py).
"""

from __future__ import annotations

import ctypes
import math

import numpy as np
import ot
import torch

from tiltbench.benchmarks.ot.discrete import DoesNotFit, samples, scaling_schedule
from tiltbench.benchmarks.ot.track import plan_conditionals

BYTES_PER_ENTRY = 32  # a block's float64 cost and the logsumexp argument, and their temporaries


def free_blocks_to_the_system() -> None:
    """Serve every allocation over 1 MB from its own mmap, returned to the system when freed.

    glibc raises its mmap threshold each time such a block is freed, after which the cost blocks come
    from the heap, which fragments and grows: measured here with POT's lazy Sinkhorn (which this solver
    used before its own block loop), the peak was 1.4 GB at n = 10000 and 4.5 GB at n = 20000 (growing
    like n^2); with a fixed threshold, 0.47 GB."""
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


def block_sinkhorn(x: torch.Tensor, y: torch.Tensor, lam: float, max_iter: int, tol: float, regs: list[float],
                   scaling_iter: int, rows: int):
    """Log-domain Sinkhorn between uniform weights on x and y with the cost ||x_i - y_j||^2 built in
    blocks of ``rows`` rows or columns, through the regularisations ``regs`` (epsilon-scaling: the dual
    potentials f, g carry over unchanged from one reg to the next), up to ``max_iter`` iterations at
    the last.  Stops when the L2 norm of the column-marginal error is below ``tol``, checked every 10
    iterations (POT's rule for ``sinkhorn_log``, which the dense solver uses).

    Returns (f, g, iterations in all stages, iterations at the last reg, the last measured error:
    below ``tol`` exactly when the last stage stopped on it rather than at ``max_iter``)."""
    n, m = len(x), len(y)
    log_a, log_b = -math.log(n), -math.log(m)
    xx, yy = (x * x).sum(1), (y * y).sum(1)
    f = torch.zeros(n, dtype=x.dtype, device=x.device)
    g = torch.zeros(m, dtype=x.dtype, device=x.device)
    total, err = 0, math.inf
    for stage, reg in enumerate(regs):
        cap = max_iter if stage == len(regs) - 1 else scaling_iter
        for it in range(cap):
            # C_ij = xx_i + yy_j - 2 x_i.y_j, so each block is one matrix product plus a vector:
            # f_i = xx_i - reg * logsumexp_j(log b + (g_j - yy_j) / reg + 2 x_i.y_j / reg), and likewise g
            gy = log_b + (g - yy) / reg
            for i in range(0, n, rows):  # f from g, row block by row block
                f[i:i + rows] = xx[i:i + rows] - reg * torch.logsumexp(gy + (2 / reg) * (x[i:i + rows] @ y.T), dim=1)
            fx = log_a + (f - xx) / reg
            g_new = torch.empty_like(g)
            for j in range(0, m, rows):  # g from f, column block by column block
                g_new[j:j + rows] = yy[j:j + rows] - reg * torch.logsumexp(fx + (2 / reg) * (y[j:j + rows] @ x.T), dim=1)
            # the column sums of the plan before this g update: b_j exp((g_j - g_new_j) / reg)
            if it % 10 == 0:
                err = float(torch.linalg.vector_norm(math.exp(log_b) * (torch.exp((g - g_new) / reg) - 1)))
            g = g_new
            total += 1
            if it % 10 == 0 and err < tol:
                break
    return f, g, total, it + 1, err


def sq_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j||^2 for a block of rows, shape (len(x), len(y))."""
    return ((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T).clamp_min(0)


def sinkhorn_online(task, config: dict, seed: int) -> dict:
    """Discrete entropic OT on n samples of each marginal (log domain, float64, epsilon-scaling) in
    O(n) memory, on the cell's device.  ``max_n`` > 0 refuses larger n: a time budget (the work
    grows as n^2)."""
    if 0 < config["max_n"] < task.n:
        raise DoesNotFit(f"n = {task.n} is above max_n = {config['max_n']} for sinkhorn-online (time budget: "
                         "~n^2 work per iteration)")
    free_blocks_to_the_system()
    device = config.get("device", "cpu")
    x, y = samples(task, seed)
    n = len(x)
    rows = block_rows(n, config["block_mb"])
    xt = torch.as_tensor(x, dtype=torch.float64, device=device)
    yt = torch.as_tensor(y, dtype=torch.float64, device=device)
    cost_max = (max(float(sq_dist(xt[i:i + rows], yt).max()) for i in range(0, n, rows))
                if config["scaling"] > 1 else 0.0)  # one more pass over the cost, for the schedule only
    regs = scaling_schedule(cost_max, task.lam, config["scaling"])
    f, g, total, _, err = block_sinkhorn(xt, yt, task.lam, config["max_iter"], config["tol"], regs,
                                            config["scaling_iter"], rows)
    if not (torch.isfinite(f).all() and torch.isfinite(g).all()):
        raise FloatingPointError(f"block Sinkhorn produced non-finite potentials (lam = {task.lam:g})")
    # log-scalings u = f / lam + log a, v = g / lam + log b: P_ij = exp(u_i + v_j - C_ij / lam)
    u = (f / task.lam - math.log(n)).cpu().numpy()
    v = (g / task.lam - math.log(n)).cpu().numpy()
    mean, cov, marginal_err = lazy_plan_moments(x, y, u, v, task.lam, rows)
    m = len(task.x_test)  # the first m rows of the plan: its conditionals at the task's x_test
    rows_m = np.exp(u[:m, None] + v[None, :] - ot.dist(x[:m], y) / task.lam)
    cond_mean, cond_cov = plan_conditionals(y, rows_m, m)
    return {"mean": mean, "cov": cov, "cond_mean": cond_mean, "cond_cov": cond_cov,
            "metrics": {"iterations": total, "marginal_err": marginal_err,
                        "converged": float(err < config["tol"])}}
