"""The llm track's GPU path, tested as far as a CPU machine can: the gpu-smoke profile gives every llm
solver it runs a cuda cell, each of them runs that configuration (the tiny random Llama) on the device
the worker hands it, and asking for CUDA here fails instead of quietly training on the CPU."""

import math

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("trl")

import torch  # noqa: E402

from tiltbench import registry  # noqa: E402
from tiltbench.profiles import DEFAULT_FILE, get_profile  # noqa: E402
from tiltbench.runner import plan  # noqa: E402

SOLVERS = ("qrpo", "dpo", "simpo", "rebel", "reference")  # vllm-parity needs vLLM, which the GPU machine lacks


@pytest.fixture(scope="module")
def gpu_smoke_cells():
    registry.load_plugins()
    return {c.solver: c for c in plan(get_profile("gpu-smoke", DEFAULT_FILE), tracks=["llm"])}


def test_gpu_smoke_plans_cuda_cells_for_every_llm_solver_but_the_vllm_one(gpu_smoke_cells):
    assert set(gpu_smoke_cells) == set(SOLVERS) == {s.name for s in registry.solvers("llm")} - {"vllm-parity"}
    assert {c.device for c in gpu_smoke_cells.values()} == {"cuda"}
    cell = next(iter(gpu_smoke_cells.values()))
    assert cell.track_config["model"] == "tiny-random" and cell.track_config.get("backend", "hf") == "hf"


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_gpu_smoke_configuration_runs_on_the_cpu_device(gpu_smoke_cells, solver):
    cell = gpu_smoke_cells[solver]
    track = registry.get_track("llm")
    task = track.make_task(cell.task, cell.track_config, 0)
    out = registry.get_solver("llm", solver).fn(task, {**cell.config, "device": "cpu"}, 1)
    metrics = {**track.evaluate(task, out), **out["metrics"]}
    assert all(math.isfinite(v) for v in metrics.values())
    assert len(out["text"]) == task.n_test * task.eval_samples and 0 <= metrics["reward"] <= 1
    if solver != "reference":
        assert metrics["n_pairs"] >= 1 and metrics["step_s"] > 0 and metrics["kl_k3"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("solver", SOLVERS)
def test_a_solver_asked_for_cuda_fails_here_instead_of_training_on_the_cpu(gpu_smoke_cells, solver):
    cell = gpu_smoke_cells[solver]
    task = registry.get_track("llm").make_task(cell.task, cell.track_config, 0)
    with pytest.raises((AssertionError, RuntimeError), match="(?i)cuda"):
        registry.get_solver("llm", solver).fn(task, {**cell.config, "device": "cuda"}, 1)


def test_trl_trainers_are_told_the_cells_device(gpu_smoke_cells):
    """use_cpu on a cpu cell even where a GPU is visible; never on a cuda cell (TRL then takes the one GPU)."""
    from tiltbench.benchmarks.llm.loop import trl_args

    task = registry.get_track("llm").make_task("minilm", gpu_smoke_cells["dpo"].track_config, 0)
    assert trl_args(task, 0, "out", "cpu")["use_cpu"] is True
    assert trl_args(task, 0, "out", "cuda")["use_cpu"] is False


def test_reference_sets_of_another_device_are_cached_apart(gpu_smoke_cells):
    from tiltbench.benchmarks.llm.loop import _gen_key

    task = registry.get_track("llm").make_task("minilm", gpu_smoke_cells["qrpo"].track_config, 0)
    cpu = _gen_key(task, "/m", "train", 4, 3)
    assert cpu == _gen_key(task, "/m", "train", 4, 3, "cpu") and cpu != _gen_key(task, "/m", "train", 4, 3, "cuda")
    assert _gen_key(task, "/m", "train", 4, 3, "cuda") == _gen_key(task, "/m", "train", 4, 3, "cuda:0")


def test_the_vllm_memory_share_is_a_validated_track_key():
    from tiltbench.benchmarks.llm.track import make_task

    assert make_task("minilm", {}, 0).vllm_gpu_memory == 0.3
    assert make_task("minilm", {"vllm_gpu_memory": 0.5}, 0).vllm_gpu_memory == 0.5
    with pytest.raises(ValueError, match=r"vllm_gpu_memory = 1.5: must be in \(0, 1\]"):
        make_task("minilm", {"vllm_gpu_memory": 1.5}, 0)
