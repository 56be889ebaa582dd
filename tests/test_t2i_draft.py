"""DRaFT's update is the gradient of the batch reward through the sampler (Clark et al., ICLR 2024): with K
equal to the step count, the gradient reward finetuning follows must match a central finite difference
of the same reward through the same sampler, on both base kinds (DDIM for the DDPM, Euler for the flow),
and truncating to K = 1 must change it (so the check can tell the two apart).

diffusers' Euler scheduler computes each step in float32 whatever the model's dtype, so the flow's
finite difference uses a larger step h (float32 rounding of the reward would swamp h = 1e-6) and a looser
tolerance; the DDIM path stays in float64."""

import pytest
import torch

pytest.importorskip("diffusers")

from tiltbench.benchmarks.t2i.draft import draft_loss, draft_step  # noqa: E402


class TinyEps(torch.nn.Module):
    """A float64 stand-in for the UNet with a handful of parameters and the UNet's call signature: its
    output depends non-linearly on the state, the timestep and the caption embedding."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = torch.nn.Parameter(torch.tensor([0.7], dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor([0.2], dtype=torch.float64))
        self.w = torch.nn.Parameter(0.3 * torch.randn((1, 1, 8, 8), generator=g, dtype=torch.float64))

    def forward(self, x, timestep, encoder_hidden_states=None, class_labels=None):
        t = torch.as_tensor(timestep, dtype=torch.float64).reshape(-1)[:, None, None, None] / 1000.0
        c = class_labels[:, :1, None, None].double()
        return type("Out", (), {"sample": torch.tanh(self.a * x + self.w * t + 3.0 * self.b * c)})()


def reward(x, digits):
    # smooth and non-linear, so that the gradient depends on where the samples land
    return torch.sin(2.0 * x).mean(dim=(1, 2, 3)) - (x - 0.2 * digits[:, None, None, None]).pow(2).mean(dim=(1, 2, 3))


def finite_difference(model, param, index, digits, noise, steps, kind, h):
    flat = param.data.view(-1)
    with torch.no_grad():
        flat[index] += h
        up = draft_loss(model, reward, digits, noise, steps, 0, kind=kind)
        flat[index] -= 2 * h
        down = draft_loss(model, reward, digits, noise, steps, 0, kind=kind)
        flat[index] += h
    return float((up - down) / (2 * h))


@pytest.mark.parametrize("kind,h,rel", [("ddpm", 1e-6, 1e-5), ("flow", 1e-3, 2e-3)])
def test_full_draft_gradient_matches_a_finite_difference_through_the_sampler(kind, h, rel):
    steps = 3
    model = TinyEps()
    digits = torch.arange(4)
    noise = 0.5 * torch.randn((4, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    params = [("a", model.a, 0), ("b", model.b, 0), ("w[3]", model.w, 3), ("w[40]", model.w, 40)]

    full = torch.autograd.grad(draft_loss(model, reward, digits, noise, steps, steps, kind=kind),
                               [p for _, p, _ in params])
    truncated = torch.autograd.grad(draft_loss(model, reward, digits, noise, steps, 1, kind=kind),
                                    [p for _, p, _ in params])
    differs = False
    for (name, param, index), g_full, g_trunc in zip(params, full, truncated):
        fd = finite_difference(model, param, index, digits, noise, steps, kind, h)
        assert g_full.view(-1)[index].item() == pytest.approx(fd, rel=rel, abs=1e-7), name
        differs |= abs(g_trunc.view(-1)[index].item() - fd) > 0.05 * abs(fd) + 1e-6
    assert differs, "DRaFT-1's truncated gradient equals the full one: the check cannot tell them apart"


def test_a_draft_step_ascends_the_batch_reward_and_reports_it():
    model = TinyEps()
    digits = torch.arange(4)
    noise = 0.5 * torch.randn((4, 1, 8, 8), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    before = -float(draft_loss(model, reward, digits, noise, 3, 0))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    reported = draft_step(model, opt, reward, digits, noise, 3, 3, max_grad_norm=1e9)
    after = -float(draft_loss(model, reward, digits, noise, 3, 0))
    assert reported == pytest.approx(before, rel=1e-12)
    assert after > before
