"""Baseline of the `rl` track: SAC trained on the task's handcrafted dm_control reward."""

from __future__ import annotations

from tiltbench.benchmarks.rl.loop import HandcraftedReward, train
from tiltbench.benchmarks.rl.track import DEPENDS, RLTask
from tiltbench.registry import register_solver

SAC_CITATION = ("Haarnoja, Zhou, Hartikainen et al. Soft Actor-Critic Algorithms and Applications. "
                "arXiv:1812.05905 (2018)")


@register_solver("rl", "sac-handcrafted", "baseline", citation=SAC_CITATION,
                 defaults={"smoke": {}, "cpu": {}, "gpu": {}},
                 depends=DEPENDS)
def sac_handcrafted(task: RLTask, config: dict, seed: int) -> dict:
    """SAC (twin Q, automatic temperature) on the task's own reward."""
    return train(task, seed, HandcraftedReward())
