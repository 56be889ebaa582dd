"""The entropic Gaussian closed form against POT: the Monge map as lam -> 0, Sinkhorn on samples."""

import numpy as np
import ot
import pytest

from tiltbench.benchmarks.ot.track import (entropic_cross_covariance, entropic_plan, make_task, plan_moments, random_covariance,
                           sample_moments, transport_cost, bw_uvp)


def _pair(d, seed=0):
    rng = np.random.default_rng(seed)
    return random_covariance(d, rng), random_covariance(d, rng)


@pytest.mark.parametrize("d", [1, 3, 8])
def test_small_lambda_recovers_the_bures_wasserstein_map(d):
    A, B = _pair(d)
    T, _ = ot.gaussian.bures_wasserstein_mapping(np.zeros(d), np.zeros(d), A, B)
    C = entropic_cross_covariance(A, B, lam=1e-6)
    np.testing.assert_allclose(np.linalg.solve(A, C), T, atol=1e-5)


def test_large_lambda_tends_to_the_independent_coupling():
    A, B = _pair(4)
    assert np.abs(entropic_cross_covariance(A, B, lam=1e7)).max() < 1e-4


def test_joint_covariance_is_positive_definite_and_cost_decreases_with_lambda():
    A, B = _pair(5)
    costs = []
    for lam in (0.1, 1.0, 10.0, 100.0):
        mean, cov = entropic_plan(np.zeros(5), A, np.ones(5), B, lam)
        assert np.linalg.eigvalsh(cov).min() > 0
        costs.append(transport_cost(mean, cov))
    assert costs == sorted(costs)  # more entropy, more expensive plan


def test_matches_pot_sinkhorn_on_samples():
    """POT's discrete entropic plan on n samples converges to the closed form."""
    d, lam, n = 2, 4.0, 1500
    A, B = _pair(d, seed=3)
    rng = np.random.default_rng(0)
    x = rng.multivariate_normal(np.zeros(d), A, n)
    y = rng.multivariate_normal(np.zeros(d), B, n)
    a = np.full(n, 1 / n)
    P = ot.sinkhorn(a, a, ot.dist(x, y), reg=lam, method="sinkhorn_log", numItermax=2000, stopThr=1e-7)
    _, cov = plan_moments(x, y, P)
    C = entropic_cross_covariance(A, B, lam)
    assert np.abs(cov[:d, d:] - C).max() < 0.15 * np.abs(C).max()


def test_bw_uvp_is_zero_for_the_truth_and_positive_otherwise():
    task = make_task("gaussian-d3-lam2", {"n": 100}, seed=1)
    assert bw_uvp(task.true_mean, task.true_cov, task.true_mean, task.true_cov) == pytest.approx(0, abs=1e-8)
    # a pure shift by 1 in each of the 2d coordinates: W^2 = 2d, on the scale 100 W^2 / tr Sigma (Korotin)
    uvp = bw_uvp(task.true_mean + 1, task.true_cov, task.true_mean, task.true_cov)
    assert uvp == pytest.approx(100 * 2 * task.d / np.trace(task.true_cov))


def test_plan_moments_of_a_product_plan_equal_sample_moments():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    mean, cov = plan_moments(x, y, np.eye(50) / 50)
    m2, c2 = sample_moments(x, y)
    np.testing.assert_allclose(mean, m2)
    np.testing.assert_allclose(cov, c2 * 49 / 50)  # plan moments are population (1/n) moments


@pytest.mark.parametrize("bad", ["gaussian-d0-lam1", "gaussian-d2", "gauss-d2-lam1", "gaussian-d2-lam0"])
def test_bad_task_names_are_rejected(bad):
    with pytest.raises(ValueError, match="gaussian-d"):
        make_task(bad, {"n": 10}, 0)
