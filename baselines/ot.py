"""Baselines of the `ot` track, all on n samples of each marginal with POT.

- ``lp``: the exact (unregularised) discrete OT plan, ``ot.emd`` (network simplex).  It ignores the
  entropic term, so at large lam it is the wrong target; that is part of what the board shows.
- ``sinkhorn``: the discrete entropic plan, ``ot.sinkhorn`` with reg = lam (log-domain, torch
  float32 backend).  POT minimises <P, M> + reg * sum P log P under the marginal constraints, which
  equals <P, M> + reg * KL(P || a b^T) up to a constant (Cuturi 2013).
- ``barycentric``: the barycentric projection T(x_i) = sum_j P_ij y_j / a_i of the Sinkhorn plan,
  the deterministic map large-scale OT methods often report (Seguy et al. 2018).
"""

from __future__ import annotations

import numpy as np
import ot
import torch

from benchmarks.ot import GaussianOTTask, plan_moments, sample_moments
from tiltbench.registry import register_solver

CUTURI = "Cuturi. Sinkhorn Distances: Lightspeed Computation of Optimal Transport. NeurIPS 2013"


def _samples(task: GaussianOTTask, seed: int):
    rng = np.random.default_rng(seed)
    return task.sample_x(task.n, rng), task.sample_y(task.n, rng)


def sinkhorn_plan(x: np.ndarray, y: np.ndarray, lam: float, max_iter: int, tol: float):
    """Entropic plan between the empirical measures of x and y.

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


# cpu: at d = 64, lam = 4 one log-domain iteration costs ~0.15 s at n = 2000 on one core, so the
# cap of 1000 iterations bounds a cell to a few minutes; `converged` says whether it bound.
_SINKHORN = {"smoke": {"max_iter": 2000, "tol": 1e-6}, "cpu": {"max_iter": 1000, "tol": 1e-6},
             "gpu": {"max_iter": 10000, "tol": 1e-7}}


@register_solver("ot", "sinkhorn", "baseline", citation=CUTURI, defaults=_SINKHORN)
def sinkhorn(task: GaussianOTTask, config: dict, seed: int) -> dict:
    """Discrete entropic OT (POT Sinkhorn, log domain, float32) on n samples of each marginal."""
    x, y = _samples(task, seed)
    P, diagnostics = sinkhorn_plan(x, y, task.lam, config["max_iter"], config["tol"])
    mean, cov = plan_moments(x, y, P)
    return {"mean": mean, "cov": cov, "metrics": diagnostics}


@register_solver("ot", "barycentric", "baseline", citation="Seguy et al. Large-Scale Optimal Transport and "
                 "Mapping Estimation. ICLR 2018", defaults=_SINKHORN)
def barycentric(task: GaussianOTTask, config: dict, seed: int) -> dict:
    """Barycentric projection of the Sinkhorn plan: the coupling (x_i, T(x_i))."""
    x, y = _samples(task, seed)
    P, diagnostics = sinkhorn_plan(x, y, task.lam, config["max_iter"], config["tol"])
    mapped = (P @ y) / P.sum(1, keepdims=True)
    mean, cov = sample_moments(x, mapped)
    return {"mean": mean, "cov": cov, "metrics": diagnostics}


_LP = {"smoke": {"max_iter": 1_000_000}, "cpu": {"max_iter": 50_000_000}, "gpu": {"max_iter": 100_000_000}}


@register_solver("ot", "lp", "baseline", citation="Bonneel et al. Displacement interpolation using Lagrangian "
                 "mass transport. SIGGRAPH Asia 2011 (POT ot.emd)", defaults=_LP)
def lp(task: GaussianOTTask, config: dict, seed: int) -> dict:
    """Exact discrete OT (network simplex, ``ot.emd``) on n samples of each marginal."""
    x, y = _samples(task, seed)
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    P, log = ot.emd(a, b, ot.dist(x, y), numItermax=config["max_iter"], log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd did not converge: {log['warning']} (max_iter = {config['max_iter']})")
    mean, cov = plan_moments(x, y, P)
    return {"mean": mean, "cov": cov}
