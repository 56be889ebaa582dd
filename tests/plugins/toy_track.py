"""A tiny track for testing the harness itself: each solver misbehaves in one named way."""

import math
import os
import signal
import time

from tiltbench.registry import Metric, Track, register_solver, register_track


def make_task(name, config, seed):
    if not name.startswith("const-"):
        raise ValueError("task names look like const-{V}")
    return float(name.split("-", 1)[1])


def evaluate(task, output):
    return {"value": output["value"]}


register_track(Track(name="toy", description="harness test track", task_pattern="const-{V}",
                     metrics=[Metric("value", "", True), Metric("noise", "", None)], primary="value",
                     make_task=make_task, evaluate=evaluate, pairs={"good": ["slow"]},
                     validation="the same constant (tuning cells only draw other seeds)", frontier=("value", "wall_s")))

KNOBS = {"toy": {"sleep_s": 0.0, "alloc_gb": 0.0, "offset": 0.0}}


@register_solver("toy", "good", "method", citation="-", defaults=KNOBS)
def good(task, config, seed):
    """Returns the task value plus offset plus seed-dependent noise, after sleeping sleep_s."""
    import numpy as np

    time.sleep(config["sleep_s"])
    return {"value": task + config["offset"] + np.random.default_rng(seed).normal(), "metrics": {"noise": seed % 7},
            "curves": {"loss": [(0, 1.0), (1, 0.5)]}}


@register_solver("toy", "slow", "baseline", citation="-", defaults=KNOBS)
def slow(task, config, seed):
    """Sleeps sleep_s, then returns the task value."""
    time.sleep(config["sleep_s"])
    return {"value": task}


@register_solver("toy", "boom", "baseline", citation="-", defaults=KNOBS)
def boom(task, config, seed):
    """Raises."""
    raise ValueError("boom: deliberate failure")


@register_solver("toy", "nan", "baseline", citation="-", defaults=KNOBS)
def nan(task, config, seed):
    """Returns NaN."""
    return {"value": math.nan}


@register_solver("toy", "hog", "baseline", citation="-", defaults=KNOBS)
def hog(task, config, seed):
    """Allocates alloc_gb of memory."""
    block = bytearray(int(config["alloc_gb"] * 2**30))
    return {"value": float(len(block) > 0)}


@register_solver("toy", "die", "baseline", citation="-", defaults=KNOBS)
def die(task, config, seed):
    """SIGKILLs its own worker process."""
    os.kill(os.getpid(), signal.SIGKILL)


# Claims of the toy track: one whose gate can never hold on const tasks (slow returns the task's
# value, 1-4), so `tiltbench claims --strict` must report it as not judged.
from tiltbench.claims import Claim, Gate, register_claim  # noqa: E402

register_claim(Claim(track="toy", id="toy-good-beats-slow", statement="good beats slow", source="-",
                     metric="value", method="good", comparator="slow", relation="greater",
                     gates=(Gate.at_least("slow", "value", 100.0, why="slow must reach 100"),)))


@register_solver("toy", "gpuid", "baseline", citation="-", defaults=KNOBS)
def gpuid(task, config, seed):
    """Reports the GPU its executor handed it (CUDA_VISIBLE_DEVICES, -1 when unset), after sleep_s."""
    time.sleep(config["sleep_s"])
    return {"value": float(os.environ.get("CUDA_VISIBLE_DEVICES", "-1")),
            "metrics": {"on_cpu": float(config["device"] == "cpu")}}
