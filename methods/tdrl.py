"""TdRL: test-driven reinforcement learning (Yu, Wu, Ke, arXiv 2511.07904).

The task is given only by test functions over trajectory segments (benchmarks/rl_testfns.py).
This module holds the lexicographic trajectory comparison mu(tau_1, tau_2) in {0, 1/2, 1} from
which TdRL's return network is trained with a Bradley-Terry loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class RunningTestStats:
    """What the comparison needs from past segments: each pass-fail test's pass rate, and each
    indicative test's running standard deviation and skewness."""

    pass_rate: np.ndarray
    ind_std: np.ndarray
    ind_skew: np.ndarray

    @classmethod
    def from_results(cls, z_pf: np.ndarray, z_ind: np.ndarray) -> "RunningTestStats":
        """From stacked test results of past segments, shapes (N, P) and (N, I)."""
        z_pf, z_ind = np.atleast_2d(z_pf).astype(float), np.atleast_2d(z_ind).astype(float)
        std = z_ind.std(0)
        skew = sps.skew(z_ind, axis=0, bias=True) if len(z_ind) > 2 else np.zeros(z_ind.shape[1])
        return cls(z_pf.mean(0), np.where(std > 0, std, 1.0), np.nan_to_num(skew))


def compare(pf1: np.ndarray, ind1: np.ndarray, pf2: np.ndarray, ind2: np.ndarray, history: RunningTestStats,
            tol: float = 0.1) -> float:
    """mu(tau_1, tau_2): 1 if tau_1 is preferred, 0 if tau_2 is, 1/2 for a tie.

    1. More pass-fail tests passed wins; if both pass all of them, it is a tie.
    2. Same number passed but different tests: whoever passes the differing test with the lowest
       historical pass rate (the hardest one) wins.
    3. Same tests passed: a segment at least as good on every indicative test and better on one wins.
    4. Otherwise indicative tests are compared one at a time, in order of decreasing skewness, each
       difference scaled by the test's running standard deviation; the first scaled difference
       larger than ``tol`` decides.  None does: a tie.
    """
    pf1, pf2 = np.asarray(pf1, dtype=bool), np.asarray(pf2, dtype=bool)
    ind1, ind2 = np.asarray(ind1, dtype=float), np.asarray(ind2, dtype=float)
    n1, n2 = int(pf1.sum()), int(pf2.sum())
    if n1 != n2:
        return 1.0 if n1 > n2 else 0.0
    if n1 == len(pf1):
        return 0.5
    differ = pf1 != pf2
    if differ.any():
        hardest = int(np.argmin(np.where(differ, history.pass_rate, np.inf)))
        return 1.0 if pf1[hardest] else 0.0
    if np.all(ind1 >= ind2) and np.any(ind1 > ind2):
        return 1.0
    if np.all(ind2 >= ind1) and np.any(ind2 > ind1):
        return 0.0
    for i in np.argsort(-history.ind_skew, kind="stable"):
        scaled = (ind1[i] - ind2[i]) / history.ind_std[i]
        if abs(scaled) > tol:
            return 1.0 if scaled > 0 else 0.0
    return 0.5
