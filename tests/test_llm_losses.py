"""QRPO's and REBEL's losses as pure functions (the llm track's groundwork; issue 4)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from tiltbench.baselines.rebel import rebel_loss
from tiltbench.methods.qrpo import TRANSFORMS, log_partition, qrpo_loss, quantile_reward, transform_quantile


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("beta", [0.05, 0.5, 1.0, 5.0, 100.0])
def test_log_partition_is_the_exact_integral(transform, beta):
    if transform == "normal-icdf":  # E exp(Z / beta), Z ~ N(0, 1): integrate in z, shifted by the grid max
        grid = np.linspace(-50, 150, 20001)
        shift = float(np.max(grid / beta + stats.norm.logpdf(grid)))
        z, _ = integrate.quad(lambda x: math.exp(x / beta + stats.norm.logpdf(x) - shift), -50, 150,
                              points=[1 / beta], limit=400)
        log_z = math.log(z) + shift
    else:
        f = {"identity": lambda u: u, "log": np.log}[transform]
        z, _ = integrate.quad(lambda u: math.exp(f(u) / beta), 0, 1, limit=200)
        log_z = math.log(z)
    assert log_partition(beta, transform) == pytest.approx(log_z, rel=1e-6, abs=1e-9)


def test_identity_log_partition_differs_from_the_large_beta_approximation():
    # beta = 0.05: log Z = log(0.05) + 20 + log1p(-e^-20) ~ 17.0; 1/(2 beta) would say 10
    assert log_partition(0.05) == pytest.approx(math.log(0.05) + 20.0, abs=1e-6)
    with pytest.raises(ValueError, match="beta = 0"):
        log_partition(0.0)
    with pytest.raises(ValueError, match="valid: identity, log, normal-icdf"):
        log_partition(1.0, "sqrt")


def test_quantile_reward_is_the_empirical_cdf():
    ref = torch.tensor([[0.1, 0.2, 0.3, 0.4], [1.0, 1.0, 2.0, 3.0]])
    q = quantile_reward(torch.tensor([0.25, 1.0]), ref)
    assert q.tolist() == [0.5, 0.5]
    assert transform_quantile(torch.tensor([0.0, 1.0]), "normal-icdf", 4).abs().max() < 2.0  # clipped, finite


def test_qrpo_loss_is_zero_at_the_tilted_optimum_and_positive_elsewhere():
    beta, ref = 0.5, torch.linspace(0, 1, 9).repeat(3, 1)
    reward = torch.tensor([0.2, 0.5, 0.9])
    q = quantile_reward(reward, ref)
    ref_logp = torch.tensor([-10.0, -12.0, -8.0])
    optimum = ref_logp + (q - beta * log_partition(beta)) / beta  # log pi* = log pi_ref + (R_q - beta log Z)/beta
    assert qrpo_loss(optimum, ref_logp, reward, ref, beta).item() == pytest.approx(0.0, abs=1e-10)
    assert qrpo_loss(optimum + 0.3, ref_logp, reward, ref, beta).item() == pytest.approx((0.3 * beta) ** 2, rel=1e-5)


def test_rebel_loss_regresses_reward_differences():
    zero = torch.zeros(2)
    logp_a = torch.tensor([0.5, -0.2])
    # eta * reward difference in log-ratio differences: loss 0
    loss = rebel_loss(logp_a, zero, zero, zero, reward_a=torch.tensor([1.0, -0.4]), reward_b=zero, eta=0.5)
    assert loss.item() == pytest.approx(0.0)
    assert rebel_loss(logp_a, zero, zero, zero, zero, zero, eta=1.0).item() == pytest.approx((0.25 + 0.04) / 2)
    with pytest.raises(ValueError, match="eta"):
        rebel_loss(zero, zero, zero, zero, zero, zero, eta=0.0)


def test_randomised_quantile_stays_uniform_where_rewards_tie():
    """Under pi_ref R_q is uniform only with ties broken at random; 'le' (the paper's) is pushed up."""
    gen = torch.Generator().manual_seed(0)
    values = torch.tensor([0.0, 0.2, 1.0])  # a graded reward: three values, most samples tie
    pool = values[torch.randint(0, 3, (4000, 16), generator=gen)]
    fresh = values[torch.randint(0, 3, (4000,), generator=gen)]  # another pi_ref sample of the same prompt
    le = quantile_reward(fresh, pool, "le")
    rnd = quantile_reward(fresh, pool, "random", torch.Generator().manual_seed(1))
    assert abs(rnd.mean().item() - 0.5) < 0.02 and abs(rnd.var().item() - 1 / 12) < 0.01
    assert le.mean().item() > 0.6
    # without ties the two agree exactly
    cont = torch.rand(50, 16, generator=gen)
    r = torch.rand(50, generator=gen)
    assert torch.equal(quantile_reward(r, cont, "le"), quantile_reward(r, cont, "random"))
    with pytest.raises(ValueError, match="ties = 'ge'; valid: random, le"):
        quantile_reward(r, cont, "ge")


def test_clipping_follows_the_official_code():
    q = torch.tensor([0.0, 0.5, 1.0])
    assert transform_quantile(q, "log", 4).tolist() == pytest.approx([math.log(0.25), math.log(0.5), 0.0])
    icdf = transform_quantile(q, "normal-icdf", 4)
    assert icdf[0].item() == pytest.approx(-icdf[2].item()) and icdf[2].item() == pytest.approx(0.6745, abs=1e-3)
