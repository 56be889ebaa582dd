"""The rl track's GPU path, tested as far as a CPU machine can: every solver runs the gpu-smoke
configuration with the device the worker hands it, through real dm_control physics, and the solvers
really place their networks on that device (asking for CUDA here fails instead of quietly computing
on the CPU; on torch's data-less "meta" device the SAC agent's first action fails)."""

import pytest
import torch

from tiltbench import registry
from tiltbench.profiles import DEFAULT_FILE, get_profile
from tiltbench.runner import plan

pytest.importorskip("dm_control", reason="the rl extra is not installed (tox -e py installs it)")

SOLVERS = ("sac-handcrafted", "tdrl")  # the solvers with networks; the random row computes nothing on a device
# a few hundred steps instead of the profile's 2000: the code path, not the budget
TINY = {"steps": 600, "random_steps": 200}
# TdRL explores from step 200 and runs reward rounds at steps 300 and 500 (the second one anchored)
TINY_TDRL = {"explore_steps": 100, "round_every": 200}


@pytest.fixture(scope="module")
def gpu_smoke_cells():
    registry.load_plugins()
    return {c.solver: c for c in plan(get_profile("gpu-smoke", DEFAULT_FILE), tracks=["rl"])}


def _tiny(cell, solver, device, **track_overrides):
    track = registry.get_track("rl")
    task = track.make_task(cell.task, {**cell.track_config, **TINY, **track_overrides}, cell.task_seed)
    config = {**cell.config, **(TINY_TDRL if solver == "tdrl" else {}), "device": device}
    return track, task, config


def test_gpu_smoke_plans_cuda_cells_for_every_rl_solver(gpu_smoke_cells):
    assert set(gpu_smoke_cells) == {s.name for s in registry.solvers("rl")} - {"sac-sb3"} == {*SOLVERS, "random"}
    assert {c.device for c in gpu_smoke_cells.values()} == {"cuda"}


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_gpu_smoke_configuration_runs_on_the_cpu_device(gpu_smoke_cells, solver):
    track, task, config = _tiny(gpu_smoke_cells[solver], solver, "cpu")
    output = registry.get_solver("rl", solver).fn(task, config, 1)
    metrics = track.evaluate(task, output)
    assert 0 <= metrics["norm_return"] <= 1 and 0 <= metrics["pass_all"] <= 1
    assert [step for step, _ in output["curves"]["norm_return"]] == [TINY["steps"]]
    if solver == "tdrl":
        assert output["metrics"]["reward_rounds"] == 2
        assert 0 <= output["metrics"]["explore_return"] <= 1  # scored when exploration ended (step 300)
    else:
        assert "explore_return" not in output["metrics"]


def test_a_snapshot_scores_the_policy_without_changing_the_run():
    """The loop's snapshot evaluates on a fresh copy of the evaluation environment with deterministic
    actions: training and the final evaluation are the same as without it."""
    from tiltbench.benchmarks.rl.loop import HandcraftedReward, train

    class Snapshot(HandcraftedReward):
        snapshot = (300, "early_return")

    task = registry.get_track("rl").make_task("cartpole-balance", {**TINY, "width": 32, "batch": 32,
                                                                   "final_episodes": 1}, 0)
    torch.manual_seed(0)
    plain = train(task, 3, HandcraftedReward())
    torch.manual_seed(0)
    snap = train(task, 3, Snapshot())
    assert 0 <= snap["metrics"]["early_return"] <= 1 and "early_return" not in plain["metrics"]
    assert snap["eval_returns"] == plain["eval_returns"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("solver", SOLVERS)
def test_a_solver_puts_its_networks_on_the_device_it_is_given(gpu_smoke_cells, solver):
    _, task, config = _tiny(gpu_smoke_cells[solver], solver, "cuda")
    with pytest.raises((AssertionError, RuntimeError), match="(?i)cuda"):
        registry.get_solver("rl", solver).fn(task, config, 1)


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_agent_acts_on_the_device_it_is_given(gpu_smoke_cells, solver):
    """On the meta device (shapes, no data) the SAC agent's first action fails.  The budget ends
    before TdRL's first reward round, so only the agent computes: this reaches TdRL's agent, where
    the CUDA test stops at TdRL's own networks."""
    _, task, config = _tiny(gpu_smoke_cells[solver], solver, "meta", steps=100, random_steps=50)
    with pytest.raises((NotImplementedError, RuntimeError), match="(?i)meta"):
        registry.get_solver("rl", solver).fn(task, config, 1)
