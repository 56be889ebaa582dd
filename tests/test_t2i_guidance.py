"""Training-free guidance and the guidance network on closed-form base models (Gaussian data, exact
epsilon / velocity), where the exact tilted target is known:

- the shared schedule: both training-free guidances act exactly at the sampler states whose flow time is
  at least t_min, and the DDPM's flow time is the one of equal signal-to-noise ratio;
- with a non-linear (quadratic) reward the naive Tweedie plug-in r(x0_hat(x_t)) over-tilts, because
  log E[exp(r(x_0) / lambda) | x_t] is not r(E[x_0 | x_t]) / lambda, while the guidance network fitted to
  base samples lands on the exact target (Ouyang, Xie, Zha, Cheng: why the guidance is learned).
"""

import math

import pytest
import torch

pytest.importorskip("diffusers")

from tiltbench.baselines import naive_guidance  # noqa: E402
from tiltbench.benchmarks.t2i import manifest, models as t2i_models, schedule, track as t2i  # noqa: E402
from tiltbench.methods import guidance_net, velocity_guidance  # noqa: E402

from test_t2i_track import GaussianDDPM, GaussianFlow  # noqa: E402


def test_flow_time_of_a_ddpm_state_has_the_same_signal_to_noise_ratio():
    assert manifest.T_MIN == schedule.T_MIN
    for k in (0, 100, 500, 900, 999):
        abar = float(t2i_models.alpha_bar(k))
        t = schedule.flow_time("ddpm", k)
        assert t ** 2 / (1 - t) ** 2 == pytest.approx(abar / (1 - abar), rel=1e-6)
    assert schedule.flow_time("flow", 0.25) == 0.75
    ts = [schedule.flow_time("ddpm", k) for k in range(0, 1000, 50)]
    assert ts == sorted(ts, reverse=True)  # noisier timestep, earlier flow time
    with pytest.raises(ValueError, match="'gan'; valid: ddpm, flow"):
        schedule.flow_time("gan", 3)
    with pytest.raises(ValueError, match="naive-guidance t_min = 1.0"):
        schedule.check_t_min("naive-guidance", 1.0)


class CountingReward:
    def __init__(self):
        self.calls = 0

    def __call__(self, x, digits):
        self.calls += 1
        return x.mean(dim=(1, 2, 3))


@pytest.mark.parametrize("t_min", [0.0, 0.2, 0.6])
def test_both_training_free_guidances_act_exactly_from_flow_time_t_min(t_min):
    from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

    steps, noise, emb = 20, torch.randn((4, 1, 8, 8), generator=torch.Generator().manual_seed(0)), torch.zeros(4, 384)
    digits = torch.zeros(4, dtype=torch.long)
    ddim = DDIMScheduler.from_config(t2i_models.ddpm_scheduler().config, timestep_spacing="trailing")
    ddim.set_timesteps(steps)
    flow = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    flow.set_timesteps(steps)
    expected = {"ddpm": sum(schedule.flow_time("ddpm", int(k)) >= t_min for k in ddim.timesteps),
                "flow": sum(0 < 1 - float(s) >= t_min for s in flow.sigmas[:-1])}  # never at pure noise
    assert 0 < expected["ddpm"] <= steps and 0 < expected["flow"] <= steps

    naive_reward, flow_reward = CountingReward(), CountingReward()
    t2i_models.ddim_sample(naive_guidance.tweedie_guided_eps(GaussianDDPM(0.0, 0.3), emb, naive_reward, digits,
                                                             1.0, 1.0, t_min), noise, steps)
    t2i_models.euler_sample(velocity_guidance.guided_velocity(GaussianFlow(0.0, 0.3), emb, flow_reward, digits, 1.0,
                                                              t_min=t_min), noise, steps)
    assert (naive_reward.calls, flow_reward.calls) == (expected["ddpm"], expected["flow"])


def test_naive_guidance_before_t_min_is_the_base_sampler():
    unet = GaussianDDPM(0.0, 0.3)
    noise = torch.randn((8, 1, 8, 8), generator=torch.Generator().manual_seed(3))
    base = t2i_models.ddim_sample(lambda x, t: unet(x, t).sample, noise, 10)
    reward = CountingReward()
    never = naive_guidance.tweedie_guided_eps(unet, torch.zeros(8, 384), reward, torch.zeros(8, dtype=torch.long),
                                              0.01, 1.0, t_min=0.999999)
    assert torch.allclose(t2i_models.ddim_sample(never, noise, 10), base) and reward.calls == 0


def test_learned_guidance_lands_on_the_tilt_of_a_quadratic_reward_where_the_naive_plug_in_over_tilts():
    # data N(0, s^2) per pixel; reward -a (u - c)^2 on the image mean u ~ N(0, s^2 / 64), lambda 1: the
    # exact tilt of u is N(2 a c / P, 1 / P) with P = 64 / s^2 + 2 a (mean 0.025, std 0.0177 here).  The
    # plug-in evaluates the reward at E[x_0 | x_t] and ignores the posterior spread v_t of u, so early on it
    # pulls (1 + 2 a v_t)-fold too hard (2 a v_t = 1 at the start) and ends too close to c, too narrow.
    s, a, c, lam = 0.2, 800.0, 0.05, 1.0
    precision = 64 / s ** 2 + 2 * a / lam
    mean, std = 2 * a * c / lam / precision, precision ** -0.5

    def reward(x, d):
        return -a * (x.mean(dim=(1, 2, 3)) - c) ** 2

    unet = GaussianDDPM(0.0, s)
    g = torch.Generator().manual_seed(0)
    x = s * torch.randn((2000, 1, 8, 8), generator=g)
    d = torch.zeros(2000, dtype=torch.long)
    w = t2i.tilt_weights(reward(x, d), d, lam).float() * 2000
    noise = torch.randn((400, 1, 8, 8), generator=g)
    emb, digits = torch.zeros(400, 384), torch.zeros(400, dtype=torch.long)

    # 1500 steps as in test_t2i_track's linear case: the last iterate is noisy (no learning-rate decay);
    # at 1000 steps this seed's mean was 0.036, at 800 0.027, at 1500 0.027
    net, _ = guidance_net.train_guidance((x, d, w, None), steps=1500, batch=128, lr=1e-3, width=64, seed=0)
    learned = t2i_models.ddim_sample(guidance_net.guided_eps(unet, net, emb, 1.0), noise, 25).mean(dim=(1, 2, 3))
    naive = {t_min: t2i_models.ddim_sample(naive_guidance.tweedie_guided_eps(unet, emb, reward, digits, lam, 1.0,
                                                                             t_min), noise, 25).mean(dim=(1, 2, 3))
             for t_min in (0.0, schedule.T_MIN)}

    assert learned.mean().item() == pytest.approx(mean, abs=0.005)
    assert learned.std().item() == pytest.approx(std, rel=0.15)
    for t_min, u in naive.items():  # with or without the cut-off: the cut-off only skips uninformative steps
        assert u.mean().item() - mean > 0.008, t_min
        assert u.std().item() < 0.8 * std, t_min
        assert abs(u.mean().item() - learned.mean().item()) > 0.006, t_min
    assert math.isfinite(learned.sum().item())
