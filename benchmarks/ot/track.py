"""The `ot` track: entropy-regularised optimal transport with a known optimal plan.

Problem (Cuturi 2013; Janati et al. 2020):  min_pi  E_pi ||x - y||^2 + lam * KL(pi || mu (x) nu).
Two task families, both with the exact plan known, so every solver is scored against the answer:
``gaussian-d{D}-lam{L}`` (mu = N(m_x, A), nu = N(m_y, B), a Gaussian plan in closed form; this
module) and ``mixture-d{D}-lam{L}`` (Gushchin et al. 2023: Gaussian-mixture conditionals; mixture.py).

A solver returns the first two moments of its coupling, ``{"mean": (2d,), "cov": (2d, 2d)}`` over
the stacked vector (x, y), and the moments of its conditional pi(. | x) at the task's m fixed
conditioning points ``task.x_test``: ``"cond_mean": (m, d)``, ``"cond_cov": (m, d, d)``.  The joint
is scored by ``bw_uvp`` (primary), the conditionals by ``cbw_uvp`` (Gushchin et al. 2023).

Samplers (SCONES, the reference rows) are scored through the moments of n sampled pairs; discrete
plans (LP, Sinkhorn) through the exact moments of their n x n plan, which pools n^2 weighted pairs.
Compare a sampler with the ``floor`` row, and a plan with the closed form.

Track config: ``n`` samples per marginal, ``cond_points`` = m (default min(8, n)).

Task family ``gaussian-d{D}-lam{L}``: covariances with eigenvalues drawn uniformly in [1, 10] and
random eigenvectors, means drawn from N(0, I).  The instance depends only on (base seed, task);
reps change the samples solvers draw; ``x_test`` is drawn from mu with the task's seed, so it is
the same for every rep.

Any task name may end in ``-n{N}`` (N >= 2), which sets the number of samples per marginal for that
task, overriding the track config's ``n``, so that one profile can sweep n
(``gaussian-d16-lam32-n30000``).  The instance is seeded from the name without the suffix
(``Track.instance_suffix``), so every n of a sweep solves the same problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

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


def gaussian_conditional(true_mean, true_cov, x):
    """Moments of y | x under a Gaussian joint on (x, y): the Schur complement,

        y | x ~ N(m_y + C^T A^-1 (x - m_x), B - C^T A^-1 C),

    returned as means (len(x), d) and covariances (len(x), d, d) (the same for every x)."""
    d = true_mean.shape[0] // 2
    A, C, B = true_cov[:d, :d], true_cov[:d, d:], true_cov[d:, d:]
    K = np.linalg.solve(A, C)  # A^-1 C
    means = true_mean[d:] + (np.asarray(x) - true_mean[:d]) @ K
    cov = B - C.T @ K
    return means, np.broadcast_to((cov + cov.T) / 2, (len(means), d, d)).copy()


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


def conditional_sample_moments(y: np.ndarray):
    """Per-point mean and covariance of k samples of y | x at each of m points, y of shape (m, k, d)."""
    y = np.asarray(y, dtype=np.float64)
    mean = y.mean(1)
    yc = y - mean[:, None]
    return mean, np.einsum("mki,mkj->mij", yc, yc) / (y.shape[1] - 1)


def plan_conditionals(y: np.ndarray, P: np.ndarray, m: int):
    """Moments of the conditionals of a discrete plan at its first m source points: row i of P,
    normalised, is the law of y | x_i on the target sample (population moments; a point mass has
    covariance 0)."""
    y = np.asarray(y, dtype=np.float64)
    W = np.asarray(P[:m], dtype=np.float64)
    W = W / W.sum(1, keepdims=True)
    mean = W @ y
    cov = np.einsum("ij,jd,je->ide", W, y, y) - mean[:, :, None] * mean[:, None, :]
    return mean, (cov + cov.transpose(0, 2, 1)) / 2


def transport_cost(mean: np.ndarray, cov: np.ndarray) -> float:
    """E ||x - y||^2 under a coupling with these moments."""
    d = mean.shape[0] // 2
    dm = mean[:d] - mean[d:]
    return float(dm @ dm + np.trace(cov[:d, :d]) + np.trace(cov[d:, d:]) - 2 * np.trace(cov[:d, d:]))


def bw_uvp(mean, cov, true_mean, true_cov) -> float:
    """Bures-Wasserstein unexplained variance of a coupling (Korotin et al. 2021, "Do neural optimal
    transport solvers work?", Sec. 4):  BW2^2-UVP = 100 * BW2^2(fit, truth) / (1/2 Var(truth)).

    Their W2 carries the 1/2 of their cost ||x - y||^2 / 2, so their BW2^2 is half the usual squared
    Bures-Wasserstein distance W^2 between the Gaussians with the two sets of moments, and the value
    is 100 * W^2 / tr Sigma (as for ``cbw_uvp``; their L2-UVP uses the same scale).  Boards before
    2026-11-27 printed twice this (100 * W^2 / (tr Sigma / 2)).
    """
    w = float(ot.gaussian.bures_wasserstein_distance(mean, true_mean, cov, true_cov))
    return 100.0 * w**2 / float(np.trace(true_cov))


def bures_wasserstein_sq(m1, C1, m2, C2) -> float:
    """Squared 2-Wasserstein distance between N(m1, C1) and N(m2, C2), singular covariances allowed:
    ||m1 - m2||^2 + tr C1 + tr C2 - 2 tr (C2^1/2 C1 C2^1/2)^1/2."""
    R = sqrtm_psd(C2)
    cross = np.trace(sqrtm_psd(R @ C1 @ R))
    return float(max(np.sum((m1 - m2) ** 2) + np.trace(C1) + np.trace(C2) - 2 * cross, 0.0))


def cbw_uvp(cond_mean, cond_cov, true_cond_mean, true_cond_cov, var_y: float) -> float:
    """Conditional BW-UVP of Gushchin et al. (2023), "Building the bridge of Schrodinger", Sec. 4:

        cBW2^2-UVP = 100 / (1/2 Var(nu)) * E_{x ~ mu} BW2^2(pi_hat(. | x), pi*(. | x)),

    BW2^2 being the Bures-Wasserstein distance between Gaussians with the two conditionals'
    moments, averaged over the task's m points x_test ~ mu.  Gushchin et al. write W2 for the cost
    ||x - y||^2 / 2, so their BW2^2 is half the usual squared distance (their metrics code computes
    it with the 1/2): the value is 100 * E W^2 / Var(nu) with the usual W^2 and Var(nu) = tr Cov(nu).
    The track's ``bw_uvp`` uses the same scale for the joint plan.
    """
    w2 = [bures_wasserstein_sq(*args) for args in zip(cond_mean, cond_cov, true_cond_mean, true_cond_cov)]
    return 100.0 * float(np.mean(w2)) / var_y


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
    x_test: np.ndarray          # (m, d) conditioning points, drawn from mu
    true_cond_mean: np.ndarray  # (m, d) moments of pi*(. | x_test[i])
    true_cond_cov: np.ndarray   # (m, d, d)
    analytic_score: ClassVar[bool] = True  # the score of nu is known in closed form

    @property
    def var_y(self) -> float:
        """Var(nu) = tr Cov(nu), the normaliser of ``cbw_uvp``."""
        return float(np.trace(self.cov_y))

    def sample_x(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.multivariate_normal(self.mean_x, self.cov_x, size=n)

    def sample_y(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.multivariate_normal(self.mean_y, self.cov_y, size=n)

    def sample_plan(self, n: int, rng: np.random.Generator):
        """n exact pairs (x, y) of the optimal plan."""
        z = rng.multivariate_normal(self.true_mean, self.true_cov, size=n)
        return z[:, :self.d], z[:, self.d:]

    def sample_conditional(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One exact sample of pi*(. | x) for each row of x."""
        means, covs = gaussian_conditional(self.true_mean, self.true_cov, x)
        return means + rng.standard_normal(means.shape) @ np.linalg.cholesky(covs[0]).T


def parse_task(name: str) -> tuple[int, float]:
    match = TASK_RE.match(name)
    if not match:
        raise ValueError("task names look like gaussian-d{D}-lam{L} or mixture-d{D}-lam{L}, e.g. gaussian-d16-lam4")
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


def sizes(config: dict) -> tuple[int, int]:
    """The track config's sample size n and number m of conditioning points (default min(8, n))."""
    n = int(config.get("n", 1000))
    if n < 2:
        raise ValueError(f"track config n = {n}: need at least 2 samples")
    m = int(config.get("cond_points", min(8, n)))
    if not 1 <= m <= n:
        raise ValueError(f"track config cond_points = {m}: need 1 <= cond_points <= n = {n}")
    return n, m


def make_task(name: str, config: dict, seed: int):
    name, n = split_n(name)
    if n is not None:
        config = {**config, "n": n}
    if name.startswith("mixture-"):
        from .mixture import make_mixture_task  # mixture.py builds on this module's helpers
        return make_mixture_task(name, config, seed)
    d, lam = parse_task(name)
    n, m = sizes(config)
    rng = np.random.default_rng(seed)
    m_x, m_y = rng.standard_normal(d), rng.standard_normal(d)
    A, B = random_covariance(d, rng), random_covariance(d, rng)
    true_mean, true_cov = entropic_plan(m_x, A, m_y, B, lam)
    x_test = rng.multivariate_normal(m_x, A, size=m)
    cond_mean, cond_cov = gaussian_conditional(true_mean, true_cov, x_test)
    return GaussianOTTask(name, d, lam, n, m_x, A, m_y, B, true_mean, true_cov, x_test, cond_mean, cond_cov)


def _array(output: dict, key: str, shape: tuple) -> np.ndarray:
    if key not in output:
        raise ValueError(f"solver output lacks {key!r}; the ot track needs mean, cov, cond_mean and cond_cov")
    value = np.asarray(output[key], dtype=np.float64)
    if value.shape != shape:
        raise ValueError(f"solver returned {key} of shape {value.shape}, expected {shape}")
    return value


def evaluate(task, output: dict) -> dict:
    d, m = task.d, len(task.x_test)
    mean, cov = _array(output, "mean", (2 * d,)), _array(output, "cov", (2 * d, 2 * d))
    cond_mean, cond_cov = _array(output, "cond_mean", (m, d)), _array(output, "cond_cov", (m, d, d))
    cost, true_cost = transport_cost(mean, cov), transport_cost(task.true_mean, task.true_cov)
    return {"bw_uvp": bw_uvp(mean, cov, task.true_mean, task.true_cov), "cost": cost, "cost_rel_err": abs(cost - true_cost) / true_cost,
            "cbw_uvp": cbw_uvp(cond_mean, cond_cov, task.true_cond_mean, task.true_cond_cov, task.var_y)}


# ---------------------------------------------------------------------------- reference rows
def independent(task, config: dict, seed: int) -> dict:
    """Independent coupling mu (x) nu from n samples of each: what 'no transport' scores.  Its
    conditional is nu's sample moments, whatever x."""
    rng = np.random.default_rng(seed)
    x, y = task.sample_x(task.n, rng), task.sample_y(task.n, rng)
    mean, cov = sample_moments(x, y)
    m, d = len(task.x_test), task.d
    return {"mean": mean, "cov": cov, "cond_mean": np.tile(mean[d:], (m, 1)),
            "cond_cov": np.broadcast_to(cov[d:, d:], (m, d, d)).copy()}


def finite_sample_floor(task, config: dict, seed: int) -> dict:
    """n exact sample pairs of the true plan, and ``cond_samples`` exact samples of pi*(. | x) at each
    conditioning point: the error of a perfect sampler at these sample sizes.

    Not a lower bound for every solver: couplings whose moments pool all n^2 weighted pairs
    (Sinkhorn, LP) carry less cross-covariance noise and can score below it, while samplers such
    as SCONES cannot."""
    rng = np.random.default_rng(seed)
    mean, cov = sample_moments(*task.sample_plan(task.n, rng))
    k = config["cond_samples"]
    y = task.sample_conditional(np.repeat(task.x_test, k, axis=0), rng).reshape(len(task.x_test), k, task.d)
    cond_mean, cond_cov = conditional_sample_moments(y)
    return {"mean": mean, "cov": cov, "cond_mean": cond_mean, "cond_cov": cond_cov}
