"""`barycentric`: the barycentric projection T(x_i) = sum_j P_ij y_j / a_i of the Sinkhorn plan.

The deterministic map that large-scale OT methods often report (Seguy et al. 2018); its coupling
(x_i, T(x_i)) is scored through sample moments, like a sampler's; its conditional at x_test[i] is the
point mass at T(x_test[i]).
"""

from __future__ import annotations

from tiltbench.benchmarks.ot.discrete import samples, sinkhorn_plan
import numpy as np

from tiltbench.benchmarks.ot.track import sample_moments


def barycentric(task, config: dict, seed: int) -> dict:
    """Barycentric projection of the Sinkhorn plan: the coupling (x_i, T(x_i))."""
    x, y = samples(task, seed)
    P, diagnostics = sinkhorn_plan(x, y, task.lam, config["max_iter"], config["tol"], config["scaling"],
                                   config["scaling_iter"], config.get("device", "cpu"))
    mapped = (P @ y) / P.sum(1, keepdims=True)
    mean, cov = sample_moments(x, mapped)
    m = len(task.x_test)
    return {"mean": mean, "cov": cov, "cond_mean": mapped[:m], "cond_cov": np.zeros((m, task.d, task.d)),
            "metrics": diagnostics}
