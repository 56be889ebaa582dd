"""Baseline of the `rl` track: SAC trained on the task's handcrafted dm_control reward."""

from __future__ import annotations

from tiltbench.benchmarks.rl.loop import HandcraftedReward, train
from tiltbench.benchmarks.rl.track import RLTask


def sac_handcrafted(task: RLTask, config: dict, seed: int) -> dict:
    """SAC (twin Q, automatic temperature) on the task's own reward, on the cell's device."""
    return train(task, seed, HandcraftedReward(), device=config.get("device", "cpu"))
