"""QRPO: Quantile Reward Policy Optimization (Matrenok, Moalla, Gulcehre, 2025).

The KL-regularised optimum pi*(y|x) = pi_ref(y|x) exp(f(R_q(x, y)) / beta) / Z(x) is fitted by plain
regression once the reward is replaced by its *quantile* under the reference policy,

    R_q(x, y) = P_{y' ~ pi_ref(.|x)}[ r(x, y') <= r(x, y) ],

because R_q is uniform on [0, 1] under pi_ref, so Z(x) = E_{u ~ U[0, 1]}[exp(f(u) / beta)] has a
closed form for simple transforms f.  The loss is the squared residual of that identity:

    L = ( f(R_q(x, y)) - beta log Z - beta log(pi_theta(y|x) / pi_ref(y|x)) )^2.

This module holds these pieces as small pure functions and registers the `qrpo` solver of the `llm`
track: pointwise regression on both completions of every training pair (the same texts the pairwise
baselines see), each scored by the quantile of its reward among its prompt's *quantile pool*: further
completions of pi_ref, sampled beside the training ones and never trained on (the paper's
pre-computed reference rewards).  ``quantile_samples`` uses the first k of that pool (0: all of it),
for the paper's claim that QRPO improves as more reference samples estimate the quantile.
"""

from __future__ import annotations

import math

import torch


TRANSFORMS = ("identity", "log", "normal-icdf")


def log_partition(beta: float, transform: str = "identity") -> float:
    """log Z(beta) = log E_{u ~ U[0, 1]} exp(f(u) / beta), exactly.

    - identity, f(u) = u:  Z = beta (e^{1/beta} - 1), so log Z = log beta + 1/beta + log1p(-e^{-1/beta})
      (written this way it neither overflows for small beta nor loses precision for large beta; the
      first-order approximation log Z ~ 1/(2 beta) is wrong away from beta -> infinity);
    - log, f(u) = log u:  Z = E[u^{1/beta}] = beta / (beta + 1);
    - normal-icdf, f(u) = Phi^{-1}(u) ~ N(0, 1):  Z = exp(1 / (2 beta^2)).
    """
    if not beta > 0:
        raise ValueError(f"beta = {beta!r}: must be > 0")
    if transform == "identity":
        return math.log(beta) + 1.0 / beta + math.log1p(-math.exp(-1.0 / beta))
    if transform == "log":
        return math.log(beta) - math.log1p(beta)
    if transform == "normal-icdf":
        return 1.0 / (2.0 * beta * beta)
    raise ValueError(f"transform = {transform!r}; valid: {', '.join(TRANSFORMS)}")


TIES = ("random", "le")


def quantile_reward(reward: torch.Tensor, ref_rewards: torch.Tensor, ties: str = "le",
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Empirical R_q of ``reward`` among the prompt's reference rewards.

    - ``le`` (the paper's definition and its official code): the share at or below ``reward``;
    - ``random``: the share strictly below plus U x the share equal, U ~ Uniform(0, 1) per sample
      (the randomised probability integral transform).  The exact log Z rests on R_q being uniform
      under pi_ref, which holds for a continuous reward; where rewards tie (a graded, verifiable
      reward: most of a prompt's samples share a few values) ``le`` pushes R_q up and makes log Z
      wrong, ``random`` keeps R_q exactly uniform.  Our choice for tie-prone rewards, not the paper's.

    reward: shape (B,); ref_rewards: shape (B, n), n reference samples per prompt."""
    below = (ref_rewards < reward[:, None]).to(reward.dtype).mean(-1)
    equal = (ref_rewards == reward[:, None]).to(reward.dtype).mean(-1)
    if ties == "le":
        return below + equal
    if ties == "random":
        u = torch.rand(reward.shape, generator=generator, dtype=reward.dtype, device="cpu").to(reward.device)
        return below + u * equal
    raise ValueError(f"qrpo ties = {ties!r}; valid: {', '.join(TIES)}")


def transform_quantile(q: torch.Tensor, transform: str, n_ref: int) -> torch.Tensor:
    """f(R_q).  log and normal-icdf are infinite at 0 (and 1), so the empirical quantile is clipped
    first as the official code does (CLAIRE-Labo/quantile-reward-policy-optimization): log at 1/n from
    below only, normal-icdf into [1/n, (n - 1)/n].  identity, the paper's default, is not clipped."""
    if transform == "identity":
        return q
    eps = 1.0 / n_ref
    if transform == "log":
        return q.clamp_min(eps).log()
    if transform == "normal-icdf":
        return math.sqrt(2.0) * torch.erfinv(2.0 * q.clamp(eps, 1.0 - eps) - 1.0)
    raise ValueError(f"transform = {transform!r}; valid: {', '.join(TRANSFORMS)}")


def qrpo_loss(policy_logp: torch.Tensor, ref_logp: torch.Tensor, reward: torch.Tensor, ref_rewards: torch.Tensor,
              beta: float, transform: str = "identity", ties: str = "le",
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean QRPO loss over a batch of (prompt, completion) pairs.

    policy_logp, ref_logp: summed log-probabilities of each completion under pi_theta and pi_ref, (B,);
    reward: the completion's reward, (B,); ref_rewards: rewards of the prompt's reference samples, (B, n)."""
    q = quantile_reward(reward, ref_rewards, ties, generator)
    target = transform_quantile(q, transform, ref_rewards.shape[-1])
    residual = target - beta * log_partition(beta, transform) - beta * (policy_logp - ref_logp)
    return residual.pow(2).mean()


def qrpo(task, config: dict, seed: int) -> dict:
    """QRPO: regress beta log(pi/pi_ref) onto f(reward quantile) - beta log Z, LoRA, our loop."""
    from tiltbench.benchmarks.llm.loop import own_loop_solver

    beta, transform = config["beta"], config["transform"]
    log_partition(beta, transform)  # validates beta and transform before any work
    k = int(config.get("quantile_samples", 0))
    if not 0 <= k <= task.n_quantile:
        raise ValueError(f"qrpo quantile_samples = {k}: must be in [0, {task.n_quantile}] (the task's n_quantile; "
                         f"0 = all of them)")
    k = k or task.n_quantile
    ties = config.get("ties", "random")
    if ties not in TIES:
        raise ValueError(f"qrpo ties = {ties!r}; valid: {', '.join(TIES)}")
    generator = torch.Generator().manual_seed(seed)  # the tie-breaking draws, seeded per cell

    def loss(policy_logp, ref_logp, batch):
        reward = torch.tensor([b.r_chosen for b in batch] + [b.r_rejected for b in batch], device=policy_logp.device)
        ref_rewards = torch.tensor([b.ref_rewards[:k] for b in batch] * 2, device=policy_logp.device)
        return qrpo_loss(policy_logp, ref_logp, reward, ref_rewards, beta, transform, ties, generator)

    return own_loop_solver(task, seed, loss, config.get("device", "cpu"))
