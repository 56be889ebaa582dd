"""The Gaussian-fit feature distances against their closed forms."""

import numpy as np
import pytest

from tiltbench.divergences import frechet, gauss_kl


def test_a_shift_of_the_mean_is_its_squared_length_and_the_kl_matches_the_closed_form():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(4000, 3))
    shift = np.array([1.0, -2.0, 0.5])
    assert frechet(f, f) == pytest.approx(0.0, abs=1e-6)
    assert frechet(f, f + shift) == pytest.approx((shift ** 2).sum(), rel=1e-6)
    # KL(N(0, I) || N(0, 4 I)) in 3 dims = 0.5 (3/4 - 3 + 3 ln 4)
    assert gauss_kl(f, 2 * f) == pytest.approx(0.5 * (0.75 - 3 + 3 * np.log(4)), rel=1e-3)
    assert gauss_kl(f, f + shift) > 0
