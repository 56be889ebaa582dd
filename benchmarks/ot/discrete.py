"""Discrete plans on n samples of each marginal, shared by the `ot` track's POT baselines.

``sinkhorn_plan`` is the entropic plan that both ``baselines/sinkhorn.py`` and
``baselines/barycentric.py`` start from; ``samples`` draws the n points of each marginal that every
discrete baseline of a cell sees (the same draw for the same seed).  The first m source points are
the task's conditioning points ``x_test``, so row i < m of a plan is the plan's conditional at
x_test[i].
"""

from __future__ import annotations

import numpy as np
import ot
import torch


def samples(task, seed: int):
    """n points of mu, the first m of them ``task.x_test`` (fixed points drawn from mu, so the whole is
    still an iid sample of mu), and n points of nu."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([task.x_test, task.sample_x(task.n - len(task.x_test), rng)])
    return x, task.sample_y(task.n, rng)


def sinkhorn_plan(x: np.ndarray, y: np.ndarray, lam: float, max_iter: int, tol: float):
    """Entropic plan between the empirical measures of x and y.

    POT minimises <P, M> + reg * sum P log P under the marginal constraints, which equals
    <P, M> + reg * KL(P || a b^T) up to a constant (Cuturi 2013), so reg = lam.  Log domain, torch
    float32 backend.

    Returns (plan, diagnostics) with the iterations run, the L1 error of the plan's marginals and
    whether POT's stopping threshold was reached within ``max_iter`` (a capped run is reported,
    not hidden).
    """
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
