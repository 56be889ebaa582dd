"""The feature space of the `t2i` track's FID-style distances (``fid_base``, ``fid_real``, ``kl_feat``,
``diversity``): the 32-d code of a small convolutional autoencoder trained once on the training digits.

Why this network.  The distances must not be measured by a network that a reward uses: until 2026-11-27
they used the penultimate layer of the CNN classifier that *is* the ``correct`` reward, so a method that
moves samples along directions that network ignores (or adversarially exploits) looked close to the real
digits exactly where it was hacking.  The autoencoder is trained without labels, only to reconstruct the
training images (mean squared error), and no reward, classifier or method touches it; its code keeps what
is needed to redraw a digit (stroke layout, thickness, ink), which is what sample quality means here.  Fixed
random convolutional features were the alternative; we did not use them because at 8x8 they weigh every
pixel direction alike, so the distance is dominated by pixel noise rather than by the shape of the digits
(a learned code concentrates on the data manifold), and a random draw is one more arbitrary choice that
changes every number.
"""

from __future__ import annotations

import torch
from torch import nn

from . import data as t2i_data, models as t2i_models

CODE = 32  # feature dimension
SEED = 3  # training seed (the classifiers use 1 and 2)


class DigitAE(nn.Module):
    """Convolutional autoencoder of 8x8 digits: ``features`` is its CODE-d bottleneck."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.SiLU(), nn.Conv2d(32, 64, 3, padding=1, stride=2), nn.SiLU(),
            nn.Flatten(), nn.Linear(64 * 4 * 4, CODE))
        self.decoder = nn.Sequential(nn.Linear(CODE, 256), nn.SiLU(), nn.Linear(256, 64), nn.Tanh())

    def features(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x)).view(-1, 1, 8, 8)


def train_autoencoder(epochs: int = 60, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Fit the autoencoder on the training digits (reconstruction MSE); metadata: its test-set MSE."""
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    x, _ = t2i_data.split("train")
    net = DigitAE().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            xb = x[idx].to(device)
            loss = (net(xb) - xb).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval().requires_grad_(False)
    xt, _ = t2i_data.split("test")
    with torch.no_grad():
        mse = float((net(xt.to(device)) - xt.to(device)).pow(2).mean())
    return net, {"test_mse": mse, "epochs": epochs}


def feature_net(device: str = "cpu") -> nn.Module:
    """The autoencoder on ``device``, trained once and cached beside the classifiers."""
    return t2i_models.cached_net("features-ae", DigitAE, lambda dev: train_autoencoder(device=dev), device)


def features(x: torch.Tensor) -> torch.Tensor:
    """CODE-d features of images in [-1, 1] (on their device)."""
    with torch.no_grad():
        return feature_net(x.device).features(x)
