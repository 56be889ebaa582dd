"""When training-free reward guidance acts: one rule shared by every such guidance of the `t2i` track.

Velocity guidance (methods/velocity_guidance.py, flow base) and naive Tweedie guidance
(baselines/naive_guidance.py, DDPM base) both differentiate the reward at a one-step endpoint prediction
of the current state (Ouyang, Xie, Zha, Cheng, "Alignment of Diffusion Model and Flow Matching for
Text-to-Image Generation": the plug-in estimate of the guidance term grad log E[exp(r / lambda) | x_t]).
Near the noise end that prediction is a blurry average that carries no information about the sample, its
reward gradient points at adversarial pixel patterns, and the flow's factor (1 - t) / t explodes.  So both
follow the same two rules:

- the same sampler steps as their base model (the task's ``sample_steps``), and
- guidance acts only at states whose *flow time* t is at least ``t_min`` (and never at t = 0, pure
  noise); earlier steps follow the base model unchanged.

The flow time is the rectified-flow clock x_t = t x_data + (1 - t) noise (t = 1 - sigma in diffusers'
convention).  A DDPM state at timestep k, x_k = sqrt(abar_k) x_data + sqrt(1 - abar_k) noise, has the same
signal-to-noise ratio as flow time

    t(k) = sqrt(abar_k) / (sqrt(abar_k) + sqrt(1 - abar_k))        (t^2 / (1 - t)^2 = abar_k / (1 - abar_k)),

so one ``t_min`` cuts both samplers where their endpoint predictions hold the same information.
"""

from __future__ import annotations

import math

from . import models as t2i_models

T_MIN = 0.2  # the default cut-off of every training-free guidance of the track
KINDS = ("ddpm", "flow")


def flow_time(kind: str, step) -> float:
    """The flow time t in [0, 1] (0: pure noise, 1: data) of a sampler state: ``step`` is the DDPM integer
    timestep (kind 'ddpm') or diffusers' flow sigma (kind 'flow')."""
    if kind == "flow":
        return 1.0 - float(step)
    if kind == "ddpm":
        abar = float(t2i_models.alpha_bar(step))
        return math.sqrt(abar) / (math.sqrt(abar) + math.sqrt(1.0 - abar))
    raise ValueError(f"unknown t2i sampler kind {kind!r}; valid: {', '.join(KINDS)}")


def guided(kind: str, step, t_min: float) -> bool:
    """Whether guidance acts at this sampler state: its flow time is at least ``t_min`` and above 0 (pure
    noise holds no information about the endpoint, and the flow's factor (1 - t) / t is infinite there)."""
    t = flow_time(kind, step)
    return t > 0.0 and t >= t_min


def check_t_min(solver: str, t_min) -> float:
    """``t_min`` as a float, or a ValueError naming the solver and the bad value."""
    if isinstance(t_min, bool) or not isinstance(t_min, (int, float)) or not 0.0 <= t_min < 1.0:
        raise ValueError(f"{solver} t_min = {t_min!r}: must be a number in [0, 1) (flow time from which "
                         f"guidance acts; default {T_MIN})")
    return float(t_min)
