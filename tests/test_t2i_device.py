"""The t2i track's GPU path, tested as far as a CPU machine can: the gpu-smoke profile gives every t2i
solver a CUDA cell, every solver runs its gpu-smoke configuration with the device the worker hands it
and is scored by the track's evaluate, and asking for CUDA here fails instead of quietly computing on
the CPU."""

import math

import pytest
import torch

from tiltbench import registry
from tiltbench.profiles import DEFAULT_FILE, get_profile
from tiltbench.runner import plan

pytest.importorskip("diffusers")

# the tiny sizes of tests/test_t2i_track.py, so that both share the cached base models, classifiers and pools
TINY = {"widths": [16, 32], "base_steps": 30, "sample_steps": 4, "pool": 6, "target_pool": 8, "n_eval": 2}
SOLVERS = ("guidance-net", "guidance-net-tweedie", "velocity-guidance", "reward-finetune", "reward-finetune-flow",
           "naive-guidance", "base-ddpm", "base-flow", "tilted-ddpm", "tilted-flow")


@pytest.fixture(scope="module")
def gpu_smoke_cells():
    registry.load_plugins()
    return {c.solver: c for c in plan(get_profile("gpu-smoke", DEFAULT_FILE), tracks=["t2i"])}


def tiny_run(cell, device: str):
    """The cell's solver on a tiny task with the cell's configuration, on ``device``."""
    track = registry.get_track("t2i")
    task = track.make_task("correct-lam0.1", {**cell.track_config, **TINY}, 0)
    config = {**cell.config, "device": device}
    if "steps" in config:  # the code path, not the budget
        config["steps"] = 3
    return track, task, registry.get_solver("t2i", cell.solver).fn(task, config, 1)


def test_gpu_smoke_plans_cuda_cells_for_every_t2i_solver(gpu_smoke_cells):
    assert set(gpu_smoke_cells) == {s.name for s in registry.solvers("t2i")} == set(SOLVERS)
    assert {c.device for c in gpu_smoke_cells.values()} == {"cuda"}
    assert {c.task for c in gpu_smoke_cells.values()} == {"correct-lam0.1"}


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_gpu_smoke_configuration_runs_on_the_cpu_device(gpu_smoke_cells, solver):
    track, task, out = tiny_run(gpu_smoke_cells[solver], "cpu")
    assert out["x"].device.type == "cpu" and out["x"].shape == (20, 1, 8, 8)
    metrics = track.evaluate(task, out)
    assert all(math.isfinite(v) for v in metrics.values()) and 0 <= metrics["accuracy"] <= 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("solver", SOLVERS)
def test_a_solver_asked_for_cuda_fails_here_instead_of_using_the_cpu(gpu_smoke_cells, solver):
    with pytest.raises((AssertionError, RuntimeError), match="(?i)cuda"):
        tiny_run(gpu_smoke_cells[solver], "cuda")


# PyTorch's "meta" device holds shapes but no data and, like CUDA, refuses to mix with CPU tensors (other
# than 0-dim scalars).  So a computation asked for "meta" runs until it first reads a value (.item(),
# .cpu()); failing there, with a "meta tensor" error rather than a device mismatch, shows that every
# tensor before that point was on the device asked for: the closest a CPU machine gets to a CUDA run.
META_ERROR = "meta tensor"  # "Tensor.item() cannot be called on meta tensors", "Cannot copy out of meta tensor"


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_solver_asked_for_the_meta_device_keeps_its_tensors_there(gpu_smoke_cells, solver):
    # the samplers run to the end (the first read is finish's copy of the samples); methods that train
    # stop at the pool's rewards: their training loops are checked below
    with pytest.raises((RuntimeError, NotImplementedError), match=META_ERROR):
        tiny_run(gpu_smoke_cells[solver], "meta")


def test_the_training_loops_keep_their_tensors_on_the_device_they_are_given():
    import copy

    from tiltbench.baselines.reward_finetune import draft_step
    from tiltbench.benchmarks.t2i import features as t2i_features, models as t2i_models, track as t2i
    from tiltbench.methods.guidance_net import GuidanceNet, guided_eps, train_guidance

    task = t2i.make_task("correct-lam0.1", TINY, 0)
    unet, _ = t2i.base(task, "ddpm", "meta")
    digits, noise = t2i.eval_batch(task, 1)
    x, d = noise[:8].clamp(-1, 1), digits[:8]
    model = copy.deepcopy(unet).train().requires_grad_(True)
    flow_model = copy.deepcopy(t2i.base(task, "flow", "meta")[0]).train().requires_grad_(True)
    net = GuidanceNet(16).to("meta").eval().requires_grad_(False)
    loops = {
        "base ddpm": lambda: t2i_models.train_base(t2i_models.BaseSpec("ddpm", (16, 32), 2, 4), device="meta"),
        "base flow": lambda: t2i_models.train_base(t2i_models.BaseSpec("flow", (16, 32), 2, 4), device="meta"),
        "classifier": lambda: t2i_models.train_classifier("mlp", epochs=1, device="meta"),
        "guidance, samples": lambda: train_guidance((x, d, torch.ones(8), None), 2, 4, 1e-3, 16, 0, "meta"),
        "guidance, tweedie targets": lambda: train_guidance((x, d, torch.ones(8), torch.arange(8)), 2, 4, 1e-3, 16, 0,
                                                            "meta"),
        "feature autoencoder": lambda: t2i_features.train_autoencoder(epochs=1, device="meta"),
        "guided sampling": lambda: t2i.sample_batched(lambda emb, _: guided_eps(unet, net, emb, 1.0), "ddpm", digits,
                                                      noise, task.sample_steps, device="meta").cpu(),
        "draft step": lambda: draft_step(model, torch.optim.AdamW(model.parameters()), task.reward_fn(), d, noise[:8],
                                         task.sample_steps, 1, 1.0, "meta"),
        "draft step, flow": lambda: draft_step(flow_model, torch.optim.AdamW(flow_model.parameters()), task.reward_fn(),
                                               d, noise[:8], task.sample_steps, 1, 1.0, "meta", kind="flow"),
    }
    for name, loop in loops.items():
        with pytest.raises((RuntimeError, NotImplementedError), match=META_ERROR):
            loop()
