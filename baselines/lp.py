"""`lp`: the exact (unregularised) discrete OT plan on n samples of each marginal, ``ot.emd``.

It ignores the entropic term, so at large lam it is the wrong target; that is part of what the
board shows.  Its conditional at x_test[i] is row i of the plan: a point mass (covariance 0), which is
honest, since the unregularised plan is a permutation here.
"""

from __future__ import annotations

import numpy as np
import ot

from tiltbench.benchmarks.ot.discrete import check_memory, samples
from tiltbench.benchmarks.ot.track import plan_conditionals, plan_moments


def lp(task, config: dict, seed: int) -> dict:
    """Exact discrete OT (network simplex, ``ot.emd``) on n samples of each marginal."""
    check_memory("lp", task.n)
    x, y = samples(task, seed)
    a, b = np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y))
    P, log = ot.emd(a, b, ot.dist(x, y), numItermax=config["max_iter"], log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd did not converge: {log['warning']} (max_iter = {config['max_iter']})")
    mean, cov = plan_moments(x, y, P)
    cond_mean, cond_cov = plan_conditionals(y, P, len(task.x_test))
    return {"mean": mean, "cov": cov, "cond_mean": cond_mean, "cond_cov": cond_cov}
