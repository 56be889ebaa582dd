"""The ot track's GPU path, tested as far as a CPU machine can: every solver runs the gpu-smoke
configuration with the device the worker hands it, the torch solvers really place their tensors on
that device (asking for CUDA here fails instead of quietly computing on the CPU), and the SCONES
dual-collapse remedy (lam annealing) follows its schedule."""

import pytest
import torch

from tiltbench import registry
from tiltbench.methods.scones import annealed_lam
from tiltbench.profiles import DEFAULT_FILE, get_profile
from tiltbench.runner import plan

TORCH_SOLVERS = ("sinkhorn", "barycentric", "scones", "sinkhorn-online")  # lp (ot.emd) is CPU-only


@pytest.fixture(scope="module")
def gpu_smoke_cells():
    registry.load_plugins()
    return {c.solver: c for c in plan(get_profile("gpu-smoke", DEFAULT_FILE), tracks=["ot"])}


def test_gpu_smoke_plans_cuda_cells_for_every_ot_solver(gpu_smoke_cells):
    assert set(gpu_smoke_cells) == {s.name for s in registry.solvers("ot")}
    assert {c.device for c in gpu_smoke_cells.values()} == {"cuda"}


@pytest.mark.parametrize("solver", ["sinkhorn", "barycentric", "scones", "lp", "sinkhorn-online", "floor"])
def test_the_gpu_smoke_configuration_runs_on_the_cpu_device(gpu_smoke_cells, solver):
    cell = gpu_smoke_cells[solver]
    track = registry.get_track("ot")
    task = track.make_task("gaussian-d2-lam4", {**cell.track_config, "n": 300, "cond_points": 8}, 0)
    config = {**cell.config, "device": "cpu"}
    if solver == "scones":  # the code path, not the budget
        config.update(steps=20, score_steps=20, langevin_steps=10, cond_samples=8)
    metrics = track.evaluate(task, registry.get_solver("ot", solver).fn(task, config, 1))
    assert metrics["bw_uvp"] >= 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("solver", TORCH_SOLVERS)
def test_a_torch_solver_puts_its_tensors_on_the_device_it_is_given(gpu_smoke_cells, solver):
    cell = gpu_smoke_cells[solver]
    track = registry.get_track("ot")
    task = track.make_task("gaussian-d2-lam4", {"n": 100, "cond_points": 4}, 0)
    with pytest.raises((AssertionError, RuntimeError), match="(?i)cuda"):
        registry.get_solver("ot", solver).fn(task, {**cell.config, "device": "cuda"}, 1)


def test_lam_annealing_goes_geometrically_from_factor_times_lam_to_lam_by_half_time():
    assert annealed_lam(4.0, 8.0, 0, 100) == pytest.approx(32.0)
    assert annealed_lam(4.0, 8.0, 25, 100) == pytest.approx(4.0 * 8 ** 0.5)
    assert annealed_lam(4.0, 8.0, 50, 100) == annealed_lam(4.0, 8.0, 99, 100) == pytest.approx(4.0)
    assert annealed_lam(4.0, 1.0, 0, 100) == 4.0


def test_scones_rejects_lam_anneal_below_one(gpu_smoke_cells):
    task = registry.get_track("ot").make_task("gaussian-d2-lam4", {"n": 100}, 0)
    with pytest.raises(ValueError, match=r"lam_anneal = 0.5: must be >= 1"):
        registry.get_solver("ot", "scones").fn(task, {**gpu_smoke_cells["scones"].config, "lam_anneal": 0.5}, 1)


def test_scones_rejects_an_empty_start_pool(gpu_smoke_cells):
    task = registry.get_track("ot").make_task("gaussian-d2-lam4", {"n": 100}, 0)
    with pytest.raises(ValueError, match=r"start_pool = 0: must be a positive"):
        registry.get_solver("ot", "scones").fn(task, {**gpu_smoke_cells["scones"].config, "start_pool": 0}, 1)


def test_resampled_starts_are_pool_points_weighted_towards_x():
    """Each start is one of the pool's points, and the SIR weights exp((psi - |x - y|^2) / lam) pull
    it towards its x: with psi = 0 and a small lam every start is the pool point nearest its x."""
    import numpy as np

    from tiltbench.methods.scones import resample_start

    rng = np.random.default_rng(0)
    pool, x = rng.normal(size=(16, 2)), rng.normal(size=(300, 2))
    starts = resample_start(x, pool, lambda y: torch.zeros(len(y)), lam=1e-4, seed=1, chunk=64)
    nearest = pool[np.argmin(((x[:, None, :] - pool[None]) ** 2).sum(-1), axis=1)]
    np.testing.assert_array_equal(starts, nearest)


@pytest.mark.parametrize("preset, expected", [(None, "1"), ("", "")])
def test_the_ot_track_keeps_pot_from_importing_jax_unless_the_user_says_otherwise(preset, expected):
    """Where JAX is installed, POT's import of it made XLA reserve 75% of the GPU in every cell."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("POT_BACKEND_DISABLE_")}
    if preset is not None:
        env["POT_BACKEND_DISABLE_JAX"] = preset
    out = subprocess.run([sys.executable, "-c", "import os, tiltbench.benchmarks.ot.discrete, ot.backend as b; "
                          "print(repr(os.environ['POT_BACKEND_DISABLE_JAX']), b.jax is not False)"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == repr(expected)
