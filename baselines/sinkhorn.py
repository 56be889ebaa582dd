"""`sinkhorn`: the discrete entropic OT plan on n samples of each marginal (POT, log domain).

``ot.sinkhorn`` with reg = lam solves the same entropic problem as the track's closed form, but
between the two empirical measures; the plan is scored through its exact moments.
"""

from __future__ import annotations

from tiltbench.benchmarks.ot.discrete import samples, sinkhorn_plan
from tiltbench.benchmarks.ot.track import GaussianOTTask, plan_moments


def sinkhorn(task: GaussianOTTask, config: dict, seed: int) -> dict:
    """Discrete entropic OT (POT Sinkhorn, log domain, float32) on n samples of each marginal."""
    x, y = samples(task, seed)
    P, diagnostics = sinkhorn_plan(x, y, task.lam, config["max_iter"], config["tol"], config["scaling"],
                                   config["scaling_iter"], config.get("device", "cpu"))
    mean, cov = plan_moments(x, y, P)
    return {"mean": mean, "cov": cov, "metrics": diagnostics}
