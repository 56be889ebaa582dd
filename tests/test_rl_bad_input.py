"""Bad input to an rl cell ends in one line and a failed cell, never a traceback or a number: a test function
that raises, NaN in TdRL's loss, an environment that fails to load.  Real dm_control physics through the real
worker entry point (`run_cell`, called in this process so that the fault can be planted); that the sweep
stores a failed cell's reason is tested for every track in test_runner.py."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")

from tiltbench.benchmarks.rl import tests as rl_tests  # noqa: E402
from tiltbench.profiles import DEFAULT_FILE, get_profile  # noqa: E402
from tiltbench.runner import plan  # noqa: E402
from tiltbench import worker  # noqa: E402

TINY = dict(steps=1500, random_steps=500, width=32, batch=32, eval_every=1000, eval_episodes=1, final_episodes=1)


def _cell(method: str):
    cell = next(c for c in plan(get_profile("smoke", DEFAULT_FILE), tracks=["rl"], methods=[method], reps=1))
    config = {**cell.config, "explore_steps": 200, "round_every": 400} if method == "tdrl" else cell.config
    return dataclasses.replace(cell, track_config={**cell.track_config, **TINY}, config=config)


@pytest.fixture(autouse=True)
def in_this_process(monkeypatch):
    """run_cell sets process-wide limits meant for a fresh worker process; keep them off this test process."""
    import torch

    monkeypatch.setattr(worker, "limit_resources", lambda threads, memory_limit_gb: None)
    monkeypatch.setattr(worker, "quiet_progress_bars", lambda: None)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run_cell(cell):
    return worker.run_cell(cell)


def _one_line(reason: str) -> str:
    assert "\n" not in reason and "Traceback" not in reason
    return reason


def test_a_test_function_that_raises_fails_the_cell_with_its_reason(monkeypatch):
    cell = _cell("tdrl")
    suite = rl_tests.SUITES[cell.task]

    def broken(segment):
        raise ZeroDivisionError("speed over an empty segment")

    monkeypatch.setitem(rl_tests.SUITES, cell.task,
                        dataclasses.replace(suite, pass_fail=suite.pass_fail[:-1] + (("broken", broken),)))
    status, reason = run_cell(cell)
    assert status == "failed"
    assert _one_line(reason).startswith("ZeroDivisionError: speed over an empty segment at ")


def test_nan_in_tdrls_return_loss_fails_the_cell(monkeypatch):
    import torch

    from tiltbench.methods import tdrl

    def nan_forward(self, z):
        return torch.full((len(self.members), z.shape[0]), float("nan")) + 0 * sum(p.sum() for p in self.parameters())

    monkeypatch.setattr(tdrl.ReturnEnsemble, "forward", nan_forward)
    status, reason = run_cell(_cell("tdrl"))
    assert status == "failed"
    assert _one_line(reason).startswith("FloatingPointError: TdRL return loss became non-finite: nan")


@pytest.mark.parametrize("method", ["sac-handcrafted", "tdrl"])
def test_an_environment_that_fails_to_load_fails_the_cell(monkeypatch, method):
    from dm_control import suite

    def no_physics(*args, **kwargs):
        raise RuntimeError("mujoco: could not compile the model")

    monkeypatch.setattr(suite, "load", no_physics)
    status, reason = run_cell(_cell(method))
    assert (status, _one_line(reason).split(" at ")[0]) == ("failed", "RuntimeError: mujoco: could not compile the model")


def test_the_planted_faults_leave_a_healthy_cell_alone():
    """The same tiny cell without a planted fault runs to a finite score (so the tests above test the fault)."""
    status, result = run_cell(_cell("tdrl"))
    assert status == "ok", result
    assert np.isfinite(result["metrics"]["norm_return"])
