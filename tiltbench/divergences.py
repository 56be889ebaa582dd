"""Distances between two sets of feature vectors through Gaussian fits: pure numpy/scipy functions a track
uses to score its samples against a reference set.

- ``frechet``: the Frechet distance between N(mu1, C1) and N(mu2, C2),
  ||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)) (Heusel et al., "GANs Trained by a Two Time-Scale Update
  Rule Converge to a Local Nash Equilibrium", NeurIPS 2017, eq. 6: the FID formula, here in any feature space);
- ``gauss_kl``: KL(N1 || N2) in closed form.

Each covariance gets a ridge of 1e-4 of its mean eigenvalue, so a fit from few samples stays invertible;
with fewer samples than about twice the feature width the fits are degenerate and the numbers mean little.
(The `t2i` track holds the same two formulas in its own track.py, from before this module; it moves here
the next time its board reruns, since editing it would mark its published rows stale.)
"""

from __future__ import annotations

import numpy as np


def gaussian_fit(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, ridged covariance) of the rows of ``f``."""
    mu, cov = f.mean(0), np.cov(f, rowvar=False)
    return mu, cov + 1e-4 * np.trace(cov) / len(mu) * np.eye(len(mu))


def frechet(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula)."""
    from scipy import linalg

    (m1, c1), (m2, c2) = gaussian_fit(f1), gaussian_fit(f2)
    covmean = linalg.sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))


def gauss_kl(f1: np.ndarray, f2: np.ndarray) -> float:
    """KL(N1 || N2) between Gaussians fitted to two feature sets."""
    (m1, c1), (m2, c2) = gaussian_fit(f1), gaussian_fit(f2)
    inv2 = np.linalg.inv(c2)
    diff = m2 - m1
    _, logdet1 = np.linalg.slogdet(c1)
    _, logdet2 = np.linalg.slogdet(c2)
    return float(0.5 * (np.trace(inv2 @ c1) + diff @ inv2 @ diff - len(m1) + logdet2 - logdet1))
