"""Task family ``mixture-d{D}-lam{L}``: a non-Gaussian entropic plan known by construction.

Gushchin, Kolesov, Mokrov, Karpikova, Spiridonov, Burnaev, Korotin (NeurIPS 2023), "Building the
bridge of Schrodinger: a continuous entropic OT benchmark", Sec. 3-4 (mixtures benchmark pairs).

Conventions.  The track solves  min E_pi ||x - y||^2 + lam KL(pi || mu (x) nu);  Gushchin et al. use
the cost ||x - y||^2 / 2 and the regulariser eps: halving our objective gives theirs with
eps = lam / 2, i.e. lam = 2 eps.  Their eps in {0.1, 1, 10} is lam in {0.2, 2, 20} here.

Construction (their Sec. 3, specialised to the quadratic cost).  Take any source mu and any positive
g(y), and set

    pi(y | x) = g(y) exp(2 <x, y> / lam) / Z(x),        pi(x, y) = mu(x) pi(y | x).

Since exp(-||x - y||^2 / lam) = exp(-||x||^2 / lam) exp(2 <x, y> / lam) exp(-||y||^2 / lam),
pi = exp((phi(x) + psi(y) - ||x - y||^2) / lam) mu (x) nu with lam phi(x) = ||x||^2 - lam log Z(x)
and lam psi(y) = ||y||^2 + lam log(g(y) / nu(y)), nu the y-marginal of pi: the form that characterises
the optimal entropic plan (Csiszar 1975), so pi is *the* entropic plan between mu and its own nu.

Gushchin et al. take their Schrodinger potential exp(f*(y) / eps) = sum_k alpha_k N(y; mu_k, Sigma_k)
(a log-sum-exp of quadratics), so that pi(y | x) is proportional to exp(f*(y)/eps) N(y; x, eps I).  In the form
above this is g(y) = exp(f*(y)/eps) exp(-||y||^2 / lam), itself a Gaussian mixture
sum_k w_k N(y; m_k, S_k) with (product of two Gaussian densities)

    S_k = (Sigma_k^-1 + (2 / lam) I)^-1,   m_k = S_k Sigma_k^-1 mu_k,   w_k = alpha_k N(0; mu_k, Sigma_k + (lam/2) I).

Tilting a Gaussian, N(y; m, S) exp(<a, y>) = exp(<a, m> + a'Sa / 2) N(y; m + S a, S), so with
a = 2 x / lam the conditional plan is the Gaussian mixture

    pi(y | x) = sum_k p_k(x) N(y; m_k + S_k a, S_k),   p_k(x) = softmax_k(log w_k + <a, m_k> + a'S_k a / 2).

Instance (what we chose; Gushchin et al. ship theirs as data files we did not use): source
mu = N(0, I_D), where their official code loads a Gaussian-mixture source (``input_probs/mus/sigmas``
files), so these are pairs of their construction with the simplest source, not their pairs, and the
marginals are closer to Gaussian than theirs; K = 5 potential components with equal weights alpha_k, means mu_k ~ N(0, 4 I_D) and
covariances with eigenvalues uniform in [0.1, 1] and random eigenvectors (``random_covariance``).  Their
dimensions are D in {2, 16, 64, 128} with eps in {0.1, 1, 10}; any D >= 1 and lam > 0 are accepted.
The parameters depend only on (base seed, task); reps change the samples solvers draw.

True moments.  pi(. | x) has closed-form mean and covariance for every x, so the plan's joint moments
are expectations over x ~ mu of closed-form quantities (Rao-Blackwellised): the x-block is mu's own
(0, I), the cross and y-blocks are estimated from a fixed Monte-Carlo sample of ``MC_SAMPLES`` x's
drawn from the task's seed, in float64 chunks.  There is no analytic score of nu (its density is an
integral over x), so SCONES learns it (``target_score = "auto"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import logsumexp, softmax

from .track import random_covariance, sizes

MIXTURE_RE = re.compile(r"^mixture-d(\d+)-lam(\d+(?:\.\d+)?)$")
COMPONENTS = 5
MC_SAMPLES = 200_000
CHUNK = 10_000


def parse_mixture_task(name: str) -> tuple[int, float]:
    match = MIXTURE_RE.match(name)
    if not match:
        raise ValueError("mixture task names look like mixture-d{D}-lam{L}, e.g. mixture-d16-lam2")
    d, lam = int(match.group(1)), float(match.group(2))
    if d < 1 or lam <= 0:
        raise ValueError(f"mixture-d{{D}}-lam{{L}} needs D >= 1 and L > 0, got D={d}, L={lam:g}")
    return d, lam


def gaussian_logpdf(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(x; mean, cov) for each row of x."""
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, (np.atleast_2d(x) - mean).T)
    return -0.5 * (z**2).sum(0) - np.log(np.diag(L)).sum() - 0.5 * len(mean) * np.log(2 * np.pi)


def tilt_weights(alpha, mus, Sigmas, lam):
    """g(y) = [sum_k alpha_k N(y; mu_k, Sigma_k)] exp(-||y||^2 / lam) as sum_k w_k N(y; m_k, S_k):
    returns (log w, m, S).  Product of Gaussian densities, see the module docstring."""
    d = mus.shape[1]
    S = np.linalg.inv(np.linalg.inv(Sigmas) + (2.0 / lam) * np.eye(d))
    m = np.einsum("kij,kjl,kl->ki", S, np.linalg.inv(Sigmas), mus)
    log_w = np.log(alpha) + np.array([gaussian_logpdf(np.zeros(d), mu, Sig + (lam / 2) * np.eye(d))[0]
                                      for mu, Sig in zip(mus, Sigmas)])
    return log_w, m, (S + S.transpose(0, 2, 1)) / 2


def conditional_components(x, log_w, m, S, lam):
    """Components of pi(. | x) for each row of x: probabilities p (N, K) and means (N, K, d),
    p_k(x) = softmax(log w_k + <a, m_k> + a'S_k a / 2), mean_k(x) = m_k + S_k a, a = 2 x / lam."""
    a = 2.0 * np.asarray(x, dtype=np.float64) / lam
    shift = np.stack([a @ S_k for S_k in S], axis=1)  # S_k a (S_k symmetric)
    logits = log_w + a @ m.T + 0.5 * (a[:, None, :] * shift).sum(2)
    return softmax(logits, axis=1), m + shift


def mixture_moments(p, means, S):
    """Mean (N, d) and covariance (N, d, d) of the mixtures sum_k p_k N(means_k, S_k)."""
    mean = np.einsum("nk,nki->ni", p, means)
    dev = means - mean[:, None]
    cov = np.einsum("nk,kij->nij", p, S) + np.einsum("nk,nki,nkj->nij", p, dev, dev)
    return mean, cov


def plan_moments_rb(log_w, m, S, lam, rng, n_mc: int = MC_SAMPLES):
    """Joint mean and covariance of pi for mu = N(0, I), Rao-Blackwellised over y | x:

        E y = E_x m(x),  Cov(x, y) = E_x x m(x)^T,  Cov(y) = E_x C(x) + Cov_x m(x),

    with m(x), C(x) the closed-form conditional moments and E_x a Monte-Carlo mean over n_mc x ~ mu.
    Accumulates E[p_k], E[x m(x)^T], E[m(x)] and E[sum_k p_k mean_k mean_k^T] chunk by chunk."""
    d, K = m.shape[1], len(log_w)
    sum_p, sum_m, sum_xm, sum_second = np.zeros(K), np.zeros(d), np.zeros((d, d)), np.zeros((d, d))
    for start in range(0, n_mc, CHUNK):
        x = rng.standard_normal((min(CHUNK, n_mc - start), d))
        p, means = conditional_components(x, log_w, m, S, lam)
        mean = np.einsum("nk,nki->ni", p, means)
        weighted = (np.sqrt(p)[:, :, None] * means).reshape(-1, d)
        sum_p += p.sum(0)
        sum_m += mean.sum(0)
        sum_xm += x.T @ mean
        sum_second += weighted.T @ weighted
    E_m = sum_m / n_mc
    cov_y = np.einsum("k,kij->ij", sum_p / n_mc, S) + sum_second / n_mc - np.outer(E_m, E_m)
    C = sum_xm / n_mc  # E x = 0
    true_cov = np.block([[np.eye(d), C], [C.T, (cov_y + cov_y.T) / 2]])
    return np.concatenate([np.zeros(d), E_m]), true_cov


@dataclass
class MixtureOTTask:
    name: str
    d: int
    lam: float
    n: int
    log_w: np.ndarray           # (K,) log-weights of g
    comp_mean: np.ndarray       # (K, d) means m_k of g
    comp_cov: np.ndarray        # (K, d, d) covariances S_k of g (and of pi(. | x)'s components)
    true_mean: np.ndarray
    true_cov: np.ndarray
    x_test: np.ndarray
    true_cond_mean: np.ndarray
    true_cond_cov: np.ndarray
    analytic_score: ClassVar[bool] = False

    @property
    def var_y(self) -> float:
        return float(np.trace(self.true_cov[self.d:, self.d:]))

    def conditional_moments(self, x: np.ndarray):
        return mixture_moments(*conditional_components(x, self.log_w, self.comp_mean, self.comp_cov, self.lam),
                               self.comp_cov)

    def sample_x(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.d))

    def sample_conditional(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One exact sample of pi(. | x) for each row of x: a component by inverse CDF, then its Gaussian."""
        p, means = conditional_components(x, self.log_w, self.comp_mean, self.comp_cov, self.lam)
        k = np.minimum((p.cumsum(1) < rng.random((len(p), 1))).sum(1), p.shape[1] - 1)
        z = rng.standard_normal((len(p), self.d))
        y = np.empty_like(z)
        for j in range(p.shape[1]):
            rows = k == j
            y[rows] = means[rows, j] + z[rows] @ np.linalg.cholesky(self.comp_cov[j]).T
        return y

    def sample_plan(self, n: int, rng: np.random.Generator):
        x = self.sample_x(n, rng)
        return x, self.sample_conditional(x, rng)

    def sample_y(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """nu, sampled as x ~ mu then y ~ pi(. | x)."""
        return self.sample_plan(n, rng)[1]


def make_mixture_task(name: str, config: dict, seed: int) -> MixtureOTTask:
    d, lam = parse_mixture_task(name)
    n, m = sizes(config)
    rng = np.random.default_rng(seed)
    alpha = np.full(COMPONENTS, 1.0 / COMPONENTS)
    mus = 2.0 * rng.standard_normal((COMPONENTS, d))
    Sigmas = np.stack([random_covariance(d, rng, 0.1, 1.0) for _ in range(COMPONENTS)])
    log_w, comp_mean, comp_cov = tilt_weights(alpha, mus, Sigmas, lam)
    log_w = log_w - logsumexp(log_w)
    x_test = rng.standard_normal((m, d))
    true_mean, true_cov = plan_moments_rb(log_w, comp_mean, comp_cov, lam, rng)
    cond_mean, cond_cov = mixture_moments(*conditional_components(x_test, log_w, comp_mean, comp_cov, lam), comp_cov)
    return MixtureOTTask(name, d, lam, n, log_w, comp_mean, comp_cov, true_mean, true_cov, x_test, cond_mean, cond_cov)
