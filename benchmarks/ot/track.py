"""The `ot` track: entropy-regularised optimal transport between two Gaussians.

Problem (Cuturi 2013; Janati et al. 2020):  min_pi  E_pi ||x - y||^2 + lam * KL(pi || mu (x) nu)
with mu = N(m_x, A), nu = N(m_y, B).  The optimal plan is itself Gaussian with a closed form, so
every solver is scored against the exact answer.  A solver returns the first two moments of its
coupling, ``{"mean": (2d,), "cov": (2d, 2d)}`` over the stacked vector (x, y).

Samplers (SCONES, the reference rows) are scored through the moments of n sampled pairs; discrete
plans (LP, Sinkhorn) through the exact moments of their n x n plan, which pools n^2 weighted pairs.
Compare a sampler with the ``floor`` row, and a plan with the closed form.

Task family ``gaussian-d{D}-lam{L}[-n{N}]``: covariances with eigenvalues drawn uniformly in [1, 10]
and random eigenvectors, means drawn from N(0, I).  The optional ``-n{N}`` suffix sets the number of
samples per marginal for that task (N >= 2), overriding the track config's ``n``, so that one profile
can sweep n (``gaussian-d16-lam32-n30000``).  The instance depends only on (base seed, task name
without the ``-n{N}`` suffix), so every n of a sweep solves the same pair of Gaussians; reps change
the samples solvers draw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import ot


TASK_RE = re.compile(r"^gaussian-d(\d+)-lam(\d+(?:\.\d+)?)$")
N_SUFFIX = re.compile(r"-n([^-]*)$")  # the optional sample-size suffix of any task name
N_FORM = "<task>-n{N} with an integer N >= 2, e.g. gaussian-d16-lam32-n30000"


# ---------------------------------------------------------------------------- closed forms
def sqrtm_psd(S: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    w, V = np.linalg.eigh((S + S.T) / 2)
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def random_covariance(d: int, rng: np.random.Generator, low: float = 1.0, high: float = 10.0) -> np.ndarray:
    """Q diag(u) Q^T with u ~ U[low, high] and Q a random orthogonal matrix."""
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    Q = Q * np.sign(np.diag(R))
    return (Q * rng.uniform(low, high, d)) @ Q.T


def entropic_cross_covariance(A: np.ndarray, B: np.ndarray, lam: float) -> np.ndarray:
    """Cross-covariance Cov(x, y) of the entropic OT plan between N(., A) and N(., B).

    Janati, Muzellec, Peyre, Cuturi (2020), "Entropic optimal transport between unbalanced
    Gaussian measures has a closed form", Thm. 1 (balanced case).  Their regulariser is
    2 sigma^2 KL(pi || mu (x) nu), so sigma^2 = lam / 2, and

        D = (4 A^1/2 B A^1/2 + sigma^4 I)^1/2,    C = 1/2 A^1/2 D A^-1/2 - (sigma^2 / 2) I.

    As lam -> 0, A^-1 C tends to the Monge map of ``ot.gaussian.bures_wasserstein_mapping``.
    """
    d = A.shape[0]
    s2 = lam / 2.0
    A_half = sqrtm_psd(A)
    D = sqrtm_psd(4 * A_half @ B @ A_half + s2**2 * np.eye(d))
    return 0.5 * A_half @ D @ np.linalg.inv(A_half) - (s2 / 2.0) * np.eye(d)


def entropic_plan(m_x, A, m_y, B, lam):
    """Mean and covariance of the optimal entropic plan, as one Gaussian on (x, y)."""
    C = entropic_cross_covariance(A, B, lam)
    return np.concatenate([m_x, m_y]), np.block([[A, C], [C.T, B]])


# ---------------------------------------------------------------------------- moments and metrics
def sample_moments(x: np.ndarray, y: np.ndarray):
    """Mean and covariance of paired samples (x_i, y_i), stacked as one vector."""
    z = np.concatenate([x, y], axis=1).astype(np.float64)
    return z.mean(0), np.cov(z, rowvar=False)


def plan_moments(x: np.ndarray, y: np.ndarray, P: np.ndarray):
    """Mean and covariance of the discrete coupling sum_ij P_ij delta_(x_i, y_j)."""
    x, y, P = (np.asarray(v, dtype=np.float64) for v in (x, y, P))
    P = P / P.sum()
    wx, wy = P.sum(1), P.sum(0)
    mx, my = wx @ x, wy @ y
    xc, yc = x - mx, y - my
    Sxx, Syy, Sxy = xc.T @ (wx[:, None] * xc), yc.T @ (wy[:, None] * yc), xc.T @ (P @ yc)
    return np.concatenate([mx, my]), np.block([[Sxx, Sxy], [Sxy.T, Syy]])


def transport_cost(mean: np.ndarray, cov: np.ndarray) -> float:
    """E ||x - y||^2 under a coupling with these moments."""
    d = mean.shape[0] // 2
    dm = mean[:d] - mean[d:]
    return float(dm @ dm + np.trace(cov[:d, :d]) + np.trace(cov[d:, d:]) - 2 * np.trace(cov[:d, d:]))


def bw_uvp(mean, cov, true_mean, true_cov) -> tuple[float, float]:
    """Bures-Wasserstein unexplained variance of a coupling, in two conventions.

    BW^2 is the squared 2-Wasserstein distance between the Gaussians with the two sets of moments.
    Returns (100 * BW^2 / (tr Sigma / 2), BW^2 / tr Sigma): the first is the BW-UVP of Korotin et
    al. (2021) used by the SCONES paper, the second the plain unexplained-variance fraction.
    """
    w = float(ot.gaussian.bures_wasserstein_distance(mean, true_mean, cov, true_cov))
    var = float(np.trace(true_cov))
    return 100.0 * w**2 / (0.5 * var), w**2 / var


# ---------------------------------------------------------------------------- the task
@dataclass
class GaussianOTTask:
    name: str
    d: int
    lam: float
    n: int
    mean_x: np.ndarray
    cov_x: np.ndarray
    mean_y: np.ndarray
    cov_y: np.ndarray
    true_mean: np.ndarray
    true_cov: np.ndarray

    def sample_x(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.multivariate_normal(self.mean_x, self.cov_x, size=n)

    def sample_y(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.multivariate_normal(self.mean_y, self.cov_y, size=n)


def parse_task(name: str) -> tuple[int, float]:
    match = TASK_RE.match(name)
    if not match:
        raise ValueError("task names look like gaussian-d{D}-lam{L}, e.g. gaussian-d16-lam4")
    d, lam = int(match.group(1)), float(match.group(2))
    if d < 1 or lam <= 0:
        raise ValueError(f"gaussian-d{{D}}-lam{{L}} needs D >= 1 and L > 0, got D={d}, L={lam:g}")
    return d, lam


def split_n(name: str) -> tuple[str, int | None]:
    """Split the optional ``-n{N}`` suffix off a task name: ('gaussian-d16-lam32', 30000) for
    'gaussian-d16-lam32-n30000', (name, None) without one."""
    match = N_SUFFIX.search(name)
    if not match:
        return name, None
    value = match.group(1)
    if not value.isdigit() or int(value) < 2:
        raise ValueError(f"bad sample size n = {value!r} in task {name!r}: task names take the form {N_FORM}")
    return name[:match.start()], int(value)


def make_task(name: str, config: dict, seed: int) -> GaussianOTTask:
    base, n = split_n(name)
    d, lam = parse_task(base)
    if n is None:
        n = int(config.get("n", 1000))
    if n < 2:
        raise ValueError(f"track config n = {n}: need at least 2 samples")
    rng = np.random.default_rng(seed)
    m_x, m_y = rng.standard_normal(d), rng.standard_normal(d)
    A, B = random_covariance(d, rng), random_covariance(d, rng)
    true_mean, true_cov = entropic_plan(m_x, A, m_y, B, lam)
    return GaussianOTTask(name, d, lam, n, m_x, A, m_y, B, true_mean, true_cov)


def evaluate(task: GaussianOTTask, output: dict) -> dict:
    mean, cov = np.asarray(output["mean"], dtype=np.float64), np.asarray(output["cov"], dtype=np.float64)
    if mean.shape != (2 * task.d,) or cov.shape != (2 * task.d, 2 * task.d):
        raise ValueError(f"solver returned moments of shape {mean.shape}/{cov.shape}, expected "
                         f"({2 * task.d},)/({2 * task.d}, {2 * task.d})")
    uvp, frac = bw_uvp(mean, cov, task.true_mean, task.true_cov)
    cost, true_cost = transport_cost(mean, cov), transport_cost(task.true_mean, task.true_cov)
    return {"bw_uvp": uvp, "bw_frac": frac, "cost": cost, "cost_rel_err": abs(cost - true_cost) / true_cost}


# ---------------------------------------------------------------------------- reference rows
def independent(task: GaussianOTTask, config: dict, seed: int) -> dict:
    """Independent coupling mu (x) nu from n samples of each: what 'no transport' scores."""
    rng = np.random.default_rng(seed)
    return dict(zip(("mean", "cov"), sample_moments(task.sample_x(task.n, rng), task.sample_y(task.n, rng))))


def finite_sample_floor(task: GaussianOTTask, config: dict, seed: int) -> dict:
    """n exact sample pairs of the true plan: the error of a perfect sampler at this n.

    Not a lower bound for every solver: couplings whose moments pool all n^2 weighted pairs
    (Sinkhorn, LP) carry less cross-covariance noise and can score below it, while samplers such
    as SCONES cannot."""
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(task.true_mean, task.true_cov, size=task.n)
    return dict(zip(("mean", "cov"), sample_moments(z[:, :task.d], z[:, task.d:])))
