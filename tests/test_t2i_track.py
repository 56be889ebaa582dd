"""The `t2i` track: real diffusers UNets, real MiniLM caption embeddings, real digits, tiny budgets.

Base models and classifiers are trained once into $TILTBENCH_CACHE (tiny widths here: seconds), exactly as
the sweep does at larger widths.
"""

import math

import numpy as np
import pytest
import torch

from tiltbench import registry
from tiltbench.errors import TiltbenchError

from conftest import run_smoke_profile

pytest.importorskip("diffusers")

from tiltbench.benchmarks.t2i import data as t2i_data, models as t2i_models, track as t2i  # noqa: E402
from tiltbench.methods import guidance_net, velocity_guidance  # noqa: E402

TINY = {"widths": [16, 32], "base_steps": 30, "sample_steps": 4, "pool": 6, "target_pool": 8, "n_eval": 2}


def tiny_task(name="correct-lam0.1", **overrides):
    return t2i.make_task(name, {**TINY, **overrides}, 0)


def test_task_names_and_config_are_validated():
    task = tiny_task("bright-lam0.03")
    assert (task.reward, task.lam, task.widths) == ("bright", 0.03, (16, 32))
    for bad in ("sharp-lam0.1", "correct", "correct-lam0", "correct-lamx"):
        with pytest.raises(ValueError, match="correct-lam0.1|lambda must be > 0"):
            t2i.make_task(bad, TINY, 0)
    with pytest.raises(TiltbenchError, match="base_stepz"):
        t2i.make_task("correct-lam0.1", {"base_stepz": 3}, 0)
    with pytest.raises(ValueError, match="widths"):
        t2i.make_task("correct-lam0.1", {"widths": [4]}, 0)
    with pytest.raises(ValueError, match="pool = 0"):
        t2i.make_task("correct-lam0.1", {"pool": 0}, 0)


def test_tilt_weights_normalise_per_caption_and_favour_high_reward():
    r = torch.tensor([0.0, 1.0, 0.5, 0.5])
    d = torch.tensor([0, 0, 1, 1])
    w = t2i.tilt_weights(r, d, lam=0.5)
    assert torch.allclose(w[:2].sum(), torch.tensor(1.0, dtype=w.dtype))
    assert torch.allclose(w[2:], torch.tensor([0.5, 0.5], dtype=w.dtype))
    assert w[1] / w[0] == pytest.approx(math.exp(2.0))


def test_feature_distances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))
    assert t2i.frechet(a, a) == pytest.approx(0.0, abs=1e-6)
    assert t2i.gauss_kl(a, a) == pytest.approx(0.0, abs=1e-9)
    assert t2i.frechet(a, b + 2.0) == pytest.approx(12.0, rel=0.15)  # |mean shift|^2 = 3 * 4
    assert t2i.gauss_kl(a, b + 2.0) == pytest.approx(6.0, rel=0.15)  # |shift|^2 / 2 at unit covariance
    same = np.zeros(4, int)
    assert t2i.diversity(np.ones((4, 3)), same) == 0.0


def test_logistic_loss_minimiser_is_log_mean_weight():
    w = torch.tensor([0.1, 0.1, 3.0, 0.8])
    f = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([f], max_iter=100)

    def closure():
        opt.zero_grad()
        loss = guidance_net.logistic_loss(f.expand(4), w)
        loss.backward()
        return loss

    opt.step(closure)
    assert f.item() == pytest.approx(math.log(w.mean().item()), abs=1e-4)


class GaussianFlow(torch.nn.Module):
    """The exact rectified-flow velocity of N(m, s^2 I) data, in diffusers' sigma convention: a closed-form
    stand-in for a trained network, so the guidance formula can be checked against the exact tilt."""

    def __init__(self, m: float, s: float):
        super().__init__()
        self.m, self.s = m, s

    def forward(self, x, timestep, encoder_hidden_states=None, class_labels=None):
        t = 1.0 - timestep[0] / 1000.0
        var = t * t * self.s ** 2 + (1 - t) ** 2
        x1 = self.m + t * self.s ** 2 / var * (x - t * self.m)
        x0 = (1 - t) / var * (x - t * self.m)
        return type("Out", (), {"sample": x0 - x1})()  # u = noise - data


def test_velocity_guidance_lands_on_the_exact_tilt_for_gaussian_data_and_linear_reward():
    # data N(0, 0.2^2), reward a * mean(x): the tilted target is N(s^2 a / (64 lambda), s^2) per pixel
    m, s, a, lam = 0.0, 0.2, 64 * 5.0, 1.0
    unet = GaussianFlow(m, s)
    reward = lambda x, d: a * x.mean(dim=(1, 2, 3))  # noqa: E731
    noise = torch.randn((256, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    digits = torch.zeros(256, dtype=torch.long)
    fn = velocity_guidance.guided_velocity(unet, torch.zeros(256, 384), reward, digits, lam, t_min=0.005)
    x = t2i_models.euler_sample(fn, noise, steps=200)
    assert x.mean().item() == pytest.approx(s * s * a / 64 / lam, abs=0.01)  # 0.2
    assert x.std().item() == pytest.approx(s, rel=0.05)
    base = t2i_models.euler_sample(lambda x, sigma: unet(x, torch.tensor([sigma * 1000.0])).sample, noise, steps=200)
    assert base.mean().item() == pytest.approx(0.0, abs=0.01)


def test_base_model_is_trained_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TILTBENCH_CACHE", str(tmp_path))
    spec = t2i_models.BaseSpec("flow", (16, 32), steps=3, batch=8)
    first, meta = t2i_models.base_model(spec)
    again, meta2 = t2i_models.base_model(spec)
    assert meta == meta2 and meta["train_s"] > 0 and meta["steps"] == 3
    for p, q in zip(first.parameters(), again.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        t2i_models.base_model(spec, str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="ddpm, flow"):
        t2i_models.train_base(t2i_models.BaseSpec("gan", (16, 32), steps=1))


@pytest.mark.parametrize("solver,bad,match", [
    ("reward-finetune", {"k": 0}, "k = 0"),
    ("guidance-net", {"targets": "oracle"}, "samples, tweedie"),
    ("guidance-net", {"probe_n": 0}, "probe_n = 0"),
    ("velocity-guidance", {"t_min": 1.5}, "t_min = 1.5"),
    ("naive-guidance", {"t_min": -0.1}, r"t_min = -0.1: must be a number in \[0, 1\)"),
    ("reward-finetune-flow", {"k": 99}, "reward-finetune-flow k = 99"),
    ("reward-finetune", {"probe_every": 0}, "reward-finetune probe_every = 0: must be an integer >= 1"),
])
def test_bad_solver_config_names_the_value(solver, bad, match):
    s = registry.get_solver("t2i", solver)
    with pytest.raises(ValueError, match=match):
        s.fn(tiny_task(), registry.solver_config(s, "smoke", bad), 0)


def test_every_solver_runs_and_is_scored_on_a_tiny_task():
    task = tiny_task()
    track = registry.get_track("t2i")
    scores = {}
    for s in registry.solvers("t2i"):
        config = registry.solver_config(s, "smoke", {"steps": 3} if "steps" in s.defaults["smoke"] else {})
        out = s.fn(task, config, seed=1)
        assert out["x"].shape == (20, 1, 8, 8) and out["x"].abs().max() <= 1.0
        metrics = track.evaluate(task, out)
        assert all(math.isfinite(v) for v in metrics.values())
        scores[s.name] = metrics
        if s.name == "tilted-ddpm":  # resampled from the base model's target pool, never generated
            pool = t2i.base_pool(task, "ddpm", role="target")["x"].reshape(-1, 64)
            assert all((pool == x.reshape(1, 64)).all(1).any() for x in out["x"])
    assert scores["tilted-ddpm"]["fid_base"] >= 0 and scores["naive-guidance"]["kl_feat"] >= 0


@pytest.mark.parametrize("name", ["reward-finetune", "reward-finetune-flow"])
def test_finetuning_curve_is_probed_like_the_guidance_networks(name):
    """reward_vs_ms: the fixed probe batch's reward every probe_every steps and at the stop, probe time not
    charged (the guidance network's curve is read on the same samples and axes)."""
    s = registry.get_solver("t2i", name)
    config = registry.solver_config(s, "smoke", {"steps": 7, "probe_every": 3, "stop_at_target": False})
    out = s.fn(tiny_task(), config, seed=1)
    curve = out["curves"]["reward_vs_ms"]
    assert len(curve) == 3 and all(0.0 <= r <= 1.0 for _, r in curve)  # steps 3, 6 and the last, 7
    assert [ms for ms, _ in curve] == sorted(ms for ms, _ in curve)
    assert curve[-1][0] <= 1000 * out["metrics"]["train_s"] + 1  # probes left out of the training time
    assert len(out["curves"]["train_reward"]) == 7


def test_smoke_profile_through_the_cli_and_report(tmp_path, monkeypatch):
    md = run_smoke_profile("t2i", tmp_path, monkeypatch, timeout=900)
    for name in ("guidance-net", "guidance-net-tweedie", "velocity-guidance", "reward-finetune",
                 "reward-finetune-flow", "naive-guidance", "base-ddpm", "base-flow", "tilted-ddpm", "tilted-flow"):
        assert f"| {name} |" in md or f"`{name}`" in md, name
    assert "## Compute cost" in md and "ratio vs reward-finetune" in md
    assert "## Cost at matched reward" in md and "reward-finetune at guidance-net's reward" in md
    assert (tmp_path / "out" / "t2i" / "samples_correct-lam0.1.png").stat().st_size > 1000
    assert not list((tmp_path / "out" / "t2i").glob("curves_*image*"))


class GaussianDDPM(torch.nn.Module):
    """The exact epsilon-prediction of N(m, s^2 I) data under the DDPM schedule (closed form)."""

    def __init__(self, m: float, s: float):
        super().__init__()
        self.m, self.s = m, s
        self.abar = t2i_models.ddpm_scheduler().alphas_cumprod

    def forward(self, x, timestep, encoder_hidden_states=None, class_labels=None):
        ab = self.abar[torch.as_tensor(timestep).long().expand(len(x))][:, None, None, None]
        eps = (1 - ab).sqrt() / (ab * self.s ** 2 + 1 - ab) * (x - ab.sqrt() * self.m)
        return type("Out", (), {"sample": eps})()


def test_guidance_network_learns_the_exact_tilt_of_gaussian_data():
    # pool ~ N(0, 0.2^2) per pixel, reward k * mean(x), lambda 1: the tilt shifts every pixel by
    # s^2 k / 64 = 0.025 (one standard deviation of the pool's mean image: importance weights stay healthy)
    s, k = 0.2, 40.0
    unet = GaussianDDPM(0.0, s)
    g = torch.Generator().manual_seed(0)
    x = s * torch.randn((2000, 1, 8, 8), generator=g)
    d = torch.zeros(2000, dtype=torch.long)
    w = t2i.tilt_weights(k * x.mean(dim=(1, 2, 3)), d, 1.0).float() * 2000
    net, _ = guidance_net.train_guidance((x, d, w, None), steps=1500, batch=128, lr=1e-3, width=64, seed=0)
    noise = torch.randn((400, 1, 8, 8), generator=g)
    guided = t2i_models.ddim_sample(guidance_net.guided_eps(unet, net, torch.zeros(400, 384), 1.0), noise, 25)
    base = t2i_models.ddim_sample(lambda x, t: unet(x, t).sample, noise, 25)
    assert base.mean().item() == pytest.approx(0.0, abs=0.004)
    assert guided.mean().item() == pytest.approx(s * s * k / 64, abs=0.005)


def test_models_train_even_when_first_needed_inside_no_grad(tmp_path, monkeypatch):
    # a reward is usually first called under torch.no_grad(); the classifier behind it must still train
    monkeypatch.setenv("TILTBENCH_CACHE", str(tmp_path))
    with torch.no_grad():
        net = t2i_models.classifier("mlp")
        unet, _ = t2i_models.base_model(t2i_models.BaseSpec("ddpm", (16, 32), steps=2, batch=4))
    x, y = t2i_data.split("test")
    assert (net(x).argmax(-1) == y).float().mean() > 0.8
