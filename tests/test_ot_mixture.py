"""The Gaussian-mixture task family (Gushchin et al. 2023) and the conditional metric cbw_uvp."""

import numpy as np
import ot
import pytest
from scipy.special import logsumexp

from tiltbench import registry
from tiltbench.benchmarks.ot.manifest import SINKHORN_DEFAULTS
from tiltbench.benchmarks.ot.mixture import conditional_components, mixture_moments, tilt_weights
from tiltbench.benchmarks.ot.track import bures_wasserstein_sq, cbw_uvp, make_task, sample_moments

SMALL = {"n": 200, "cond_points": 8}


def _potential(d, seed=0, k=3):
    rng = np.random.default_rng(seed)
    alpha = rng.dirichlet(np.ones(k))
    mus = 2 * rng.standard_normal((k, d))
    Sigmas = np.stack([np.diag(rng.uniform(0.1, 1.0, d)) for _ in range(k)])
    return alpha, mus, Sigmas


def _direct_conditional(x, alpha, mus, Sigmas, lam, grid):
    """pi(y | x) proportional to [sum_k alpha_k N(y; mu_k, Sigma_k)] exp(-||x - y||^2 / lam), on grid points."""
    log_f = logsumexp([np.log(a) - 0.5 * np.einsum("ni,ij,nj->n", grid - mu, np.linalg.inv(S), grid - mu)
                       - 0.5 * np.linalg.slogdet(2 * np.pi * S)[1] for a, mu, S in zip(alpha, mus, Sigmas)], axis=0)
    log_p = log_f - ((grid - x) ** 2).sum(1) / lam
    return np.exp(log_p - logsumexp(log_p))


@pytest.mark.parametrize("lam", [0.2, 2.0, 20.0])
def test_conditional_formula_matches_direct_evaluation_in_1d(lam):
    alpha, mus, Sigmas = _potential(1)
    log_w, m, S = tilt_weights(alpha, mus, Sigmas, lam)
    grid = np.linspace(-15, 15, 30001)[:, None]
    for x in (-1.5, 0.0, 0.7):
        direct = _direct_conditional(np.array([x]), alpha, mus, Sigmas, lam, grid)
        p, means = conditional_components(np.array([[x]]), log_w, m, S, lam)
        density = sum(pk * np.exp(-0.5 * (grid[:, 0] - mk[0]) ** 2 / Sk[0, 0]) / np.sqrt(2 * np.pi * Sk[0, 0])
                      for pk, mk, Sk in zip(p[0], means[0], S))
        np.testing.assert_allclose(density * (grid[1, 0] - grid[0, 0]), direct, atol=1e-6)


def test_conditional_moments_match_direct_evaluation_in_2d():
    lam = 2.0
    alpha, mus, Sigmas = _potential(2, seed=1)
    log_w, m, S = tilt_weights(alpha, mus, Sigmas, lam)
    axis = np.linspace(-12, 12, 601)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    x = np.array([[0.5, -1.0]])
    w = _direct_conditional(x[0], alpha, mus, Sigmas, lam, grid)
    mean_direct = w @ grid
    cov_direct = (grid - mean_direct).T @ (w[:, None] * (grid - mean_direct))
    mean, cov = mixture_moments(*conditional_components(x, log_w, m, S, lam), S)
    np.testing.assert_allclose(mean[0], mean_direct, atol=1e-6)
    np.testing.assert_allclose(cov[0], cov_direct, atol=1e-5)


def test_plan_marginals_and_conditionals_match_sampling():
    """Consistency of the task's samplers with its closed forms.  The x and nu checks compare a sampler
    with the same construction (they catch a sampler that drifts from it, not a wrong construction);
    the construction itself is checked against direct density evaluation above and against the Janati
    closed form at K = 1 below."""
    task = make_task("mixture-d2-lam2", {"n": 200, "cond_points": 4}, seed=3)
    rng = np.random.default_rng(0)
    x, y = task.sample_plan(200_000, rng)
    np.testing.assert_allclose(x.mean(0), 0, atol=0.01)  # mu = N(0, I)
    np.testing.assert_allclose(np.cov(x, rowvar=False), np.eye(2), atol=0.02)
    mean, cov = sample_moments(x, y)  # joint by sampling vs Rao-Blackwellised closed form
    np.testing.assert_allclose(mean, task.true_mean, atol=0.02)
    np.testing.assert_allclose(cov, task.true_cov, atol=0.03)
    y2 = task.sample_y(200_000, rng)  # nu sampled on its own agrees with the pairs' y
    np.testing.assert_allclose(y2.mean(0), y.mean(0), atol=0.02)
    np.testing.assert_allclose(np.cov(y2, rowvar=False), np.cov(y, rowvar=False), atol=0.03)
    ys = task.sample_conditional(np.repeat(task.x_test[:1], 100_000, axis=0), rng)
    np.testing.assert_allclose(ys.mean(0), task.true_cond_mean[0], atol=0.02)
    np.testing.assert_allclose(np.cov(ys, rowvar=False), task.true_cond_cov[0], atol=0.03)


def test_conditionals_are_not_gaussian_mixtures_of_one():
    """The family is non-Gaussian: at lam = 20 the conditional keeps several components."""
    task = make_task("mixture-d2-lam20", SMALL, seed=3)
    p, _ = conditional_components(task.x_test, task.log_w, task.comp_mean, task.comp_cov, task.lam)
    assert (p.max(1) < 0.9).any()


def test_sinkhorn_approaches_the_known_plan():
    track, sinkhorn = registry.get_track("ot"), registry.get_solver("ot", "sinkhorn")
    cfg = SINKHORN_DEFAULTS["smoke"]
    scores = {}
    for n in (100, 1500):
        task = track.make_task("mixture-d2-lam2", {"n": n, "cond_points": 16}, seed=4)
        scores[n] = track.evaluate(task, sinkhorn.fn(task, cfg, 1))["cbw_uvp"]
    indep = track.evaluate(task, registry.get_solver("ot", "independent").fn(task, {}, 1))["cbw_uvp"]
    assert scores[1500] < scores[100] and scores[1500] < indep / 10, (scores, indep)


@pytest.mark.parametrize("name", ["gaussian-d3-lam2", "mixture-d3-lam2"])
def test_cbw_uvp_is_zero_for_the_truth_and_exact_for_a_shift(name):
    track = registry.get_track("ot")
    task = track.make_task(name, SMALL, seed=2)
    exact = {"mean": task.true_mean, "cov": task.true_cov, "cond_mean": task.true_cond_mean,
             "cond_cov": task.true_cond_cov}
    assert track.evaluate(task, exact)["cbw_uvp"] == pytest.approx(0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5])  # BW^2 of a pure shift is ||shift||^2 at every point
    shifted = track.evaluate(task, {**exact, "cond_mean": task.true_cond_mean + shift})["cbw_uvp"]
    assert shifted == pytest.approx(100 * shift @ shift / task.var_y, rel=1e-6)


def test_bures_wasserstein_matches_pot_and_gaussian_conditional_is_exact():
    task = make_task("gaussian-d3-lam2", SMALL, seed=2)
    rng = np.random.default_rng(0)
    C = np.cov(rng.standard_normal((10, 3)), rowvar=False)
    pot = ot.gaussian.bures_wasserstein_distance(np.zeros(3), task.true_cond_mean[0], C, task.true_cond_cov[0]) ** 2
    assert bures_wasserstein_sq(np.zeros(3), C, task.true_cond_mean[0], task.true_cond_cov[0]) == pytest.approx(pot)
    ys = task.sample_conditional(np.repeat(task.x_test[:1], 100_000, axis=0), rng)
    np.testing.assert_allclose(ys.mean(0), task.true_cond_mean[0], atol=0.05)
    np.testing.assert_allclose(np.cov(ys, rowvar=False), task.true_cond_cov[0], atol=0.1)
    # and the Schur complement agrees with the joint's closed form (Var(nu) normaliser is tr B)
    assert cbw_uvp(task.true_cond_mean, task.true_cond_cov, task.true_cond_mean, task.true_cond_cov,
                   task.var_y) == pytest.approx(0, abs=1e-9)


def test_scones_learns_the_score_on_a_mixture_task():
    track, scones = registry.get_track("ot"), registry.get_solver("ot", "scones")
    task = track.make_task("mixture-d2-lam2", SMALL, seed=5)
    cfg = registry.solver_config(scones, "smoke", {"steps": 50, "score_steps": 50, "langevin_steps": 20,
                                                  "cond_samples": 8})
    assert cfg["target_score"] == "auto"
    out = scones.fn(task, cfg, 1)
    metrics = track.evaluate(task, out)
    assert out["metrics"]["score_learned"] == 1 and np.isfinite(metrics["cbw_uvp"])
    with pytest.raises(ValueError, match="target_score = 'analytic': task mixture-d2-lam2 has no analytic score "
                                         "of nu; valid here: auto, learned"):
        scones.fn(task, {**cfg, "target_score": "analytic"}, 1)


@pytest.mark.parametrize("bad, message", [
    ("mixture-d0-lam1", r"mixture-d\{D\}-lam\{L\} needs D >= 1 and L > 0, got D=0"),
    ("mixture-d2", r"mixture task names look like mixture-d\{D\}-lam\{L\}"),
    ("mixture-d2-lam0", r"got D=2, L=0"),
    ("mix-d2-lam1", r"gaussian-d\{D\}-lam\{L\} or mixture-d\{D\}-lam\{L\}"),
])
def test_bad_mixture_names_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        make_task(bad, {"n": 10}, 0)


@pytest.mark.parametrize("name", ["gaussian-d2-lam1", "mixture-d2-lam1"])
@pytest.mark.parametrize("points", [0, 11])
def test_bad_cond_points_are_rejected(name, points):
    with pytest.raises(ValueError, match=f"cond_points = {points}: need 1 <= cond_points <= n = 10"):
        make_task(name, {"n": 10, "cond_points": points}, 0)


@pytest.mark.parametrize("lam", [0.2, 2.0, 20.0])
def test_one_component_reduces_to_the_closed_form_gaussian_plan(lam):
    """K = 1: the construction's plan between mu = N(0, I) and its y-marginal is the entropic plan
    of Janati et al. (2020) between those two Gaussians (an independent check of the formulas)."""
    from tiltbench.benchmarks.ot.mixture import tilt_weights
    from tiltbench.benchmarks.ot.track import entropic_cross_covariance, random_covariance

    rng = np.random.default_rng(3)
    d = 3
    mus, sigmas = rng.standard_normal((1, d)), random_covariance(d, rng, 0.1, 1.0)[None]
    log_w, m, S = tilt_weights(np.ones(1), mus, sigmas, lam)
    # y | x ~ N(m + S a, S), a = 2 x / lam, x ~ N(0, I): Cov(y) = S + (2/lam)^2 S S, Cov(x, y) = (2/lam) S
    cov_y = S[0] + (2 / lam) ** 2 * S[0] @ S[0]
    np.testing.assert_allclose(entropic_cross_covariance(np.eye(d), cov_y, lam), (2 / lam) * S[0], atol=1e-9)
