"""`lp`: the exact (unregularised) discrete OT plan on n samples of each marginal, ``ot.emd``.

It ignores the entropic term, so at large lam it is the wrong target; that is part of what the
board shows.
"""

from __future__ import annotations

import numpy as np
import ot

from tiltbench.benchmarks.ot.discrete import samples
from tiltbench.benchmarks.ot.track import GaussianOTTask, plan_moments
from tiltbench.registry import register_solver

_LP = {"smoke": {"max_iter": 1_000_000}, "cpu": {"max_iter": 50_000_000}, "gpu": {"max_iter": 100_000_000}}


@register_solver("ot", "lp", "baseline", citation="Bonneel et al. Displacement interpolation using Lagrangian "
                 "mass transport. SIGGRAPH Asia 2011 (POT ot.emd)", defaults=_LP,
                 depends=("tiltbench.benchmarks.ot.discrete",))
def lp(task: GaussianOTTask, config: dict, seed: int) -> dict:
    """Exact discrete OT (network simplex, ``ot.emd``) on n samples of each marginal."""
    x, y = samples(task, seed)
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    P, log = ot.emd(a, b, ot.dist(x, y), numItermax=config["max_iter"], log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd did not converge: {log['warning']} (max_iter = {config['max_iter']})")
    mean, cov = plan_moments(x, y, P)
    return {"mean": mean, "cov": cov}
