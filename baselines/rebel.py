"""REBEL: REinforcement learning via Regressing Relative Rewards (Gao et al., NeurIPS 2024, arXiv:2404.16767).

Each policy update regresses the difference of rewards of two completions of the same prompt onto
the difference of their log-ratios to the previous policy pi_t (the paper's core regression):

    L = ( (1/eta) [ log pi_theta(y|x)/pi_t(y|x) - log pi_theta(y'|x)/pi_t(y'|x) ] - (r(x, y) - r(x, y')) )^2.

Not in TRL, so written here; the `llm` track (issue 4, not built yet) will register the solver.
"""

from __future__ import annotations

import torch


def rebel_loss(logp_a: torch.Tensor, old_logp_a: torch.Tensor, logp_b: torch.Tensor, old_logp_b: torch.Tensor,
               reward_a: torch.Tensor, reward_b: torch.Tensor, eta: float) -> torch.Tensor:
    """Mean REBEL loss over a batch of completion pairs (a, b) of the same prompts; all tensors (B,)."""
    if not eta > 0:
        raise ValueError(f"eta = {eta!r}: must be > 0")
    predicted = ((logp_a - old_logp_a) - (logp_b - old_logp_b)) / eta
    return (predicted - (reward_a - reward_b)).pow(2).mean()
