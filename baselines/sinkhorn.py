"""`sinkhorn`: the discrete entropic OT plan on n samples of each marginal (POT, log domain).

``ot.sinkhorn`` with reg = lam solves the same entropic problem as the track's closed form, but
between the two empirical measures; the plan is scored through its exact moments, and its conditional
at x_test[i] through the weighted moments of row i over the n target points.
"""

from __future__ import annotations

from tiltbench.benchmarks.ot.discrete import samples, sinkhorn_plan
from tiltbench.benchmarks.ot.track import plan_conditionals, plan_moments


def sinkhorn(task, config: dict, seed: int) -> dict:
    """Discrete entropic OT (POT Sinkhorn, log domain, float64, epsilon-scaling) on n samples of each marginal."""
    x, y = samples(task, seed)
    P, diagnostics = sinkhorn_plan(x, y, task.lam, config["max_iter"], config["tol"], config["scaling"],
                                   config["scaling_iter"], config.get("device", "cpu"))
    mean, cov = plan_moments(x, y, P)
    cond_mean, cond_cov = plan_conditionals(y, P, len(task.x_test))
    return {"mean": mean, "cov": cov, "cond_mean": cond_mean, "cond_cov": cond_cov, "metrics": diagnostics}
