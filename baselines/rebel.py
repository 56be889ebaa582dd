"""REBEL: REinforcement learning via Regressing Relative Rewards (Gao et al., NeurIPS 2024, arXiv:2404.16767).

Each policy update regresses the difference of rewards of two completions of the same prompt onto
the difference of their log-ratios to the previous policy pi_t (the paper's core regression):

    L = ( (1/eta) [ log pi_theta(y|x)/pi_t(y|x) - log pi_theta(y'|x)/pi_t(y'|x) ] - (r(x, y) - r(x, y')) )^2.

Not in TRL, so written here.  The `rebel` solver of the `llm` track runs one offline iteration from
pi_t = pi_ref on the shared best-vs-worst pairs (a = chosen, b = rejected).
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


def rebel(task, config: dict, seed: int) -> dict:
    """REBEL: regress (1/eta) x the pair's log-ratio difference onto its reward difference, LoRA, our loop."""
    from tiltbench.benchmarks.llm.loop import own_loop_solver

    eta = config["eta"]
    if not eta > 0:
        raise ValueError(f"rebel eta = {eta!r}: must be > 0")

    def loss(policy_logp, ref_logp, batch):
        b = len(batch)
        r_a = torch.tensor([p.r_chosen for p in batch], device=policy_logp.device)
        r_b = torch.tensor([p.r_rejected for p in batch], device=policy_logp.device)
        return rebel_loss(policy_logp[:b], ref_logp[:b], policy_logp[b:], ref_logp[b:], r_a, r_b, eta)

    return own_loop_solver(task, seed, loss, config.get("device", "cpu"))
