"""Soft actor-critic: twin Q networks, tanh-Gaussian policy, automatic temperature.

Haarnoja et al., "Soft Actor-Critic Algorithms and Applications" (2018), Alg. 1: the critics
minimise (Q(s, a) - r - gamma (min_j Q'_j(s', a') - alpha log pi(a'|s')))^2 with a' ~ pi(.|s');
the actor minimises E[alpha log pi(a|s) - min_j Q_j(s, a)]; alpha minimises
-alpha (log pi(a|s) + target_entropy) with target_entropy = -dim(A).  Targets track the critics by
Polyak averaging.  Both sides of the `rl` track share this agent, so they differ only in where the
reward comes from.

Device: the agent's networks and temperature live on ``device`` (the cell's, e.g. "cuda"); the replay
buffer stays in host memory and ``sample`` copies each batch to the device.  ``act`` takes and returns
numpy arrays on the host, where dm_control runs.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def mlp(inp: int, out: int, width: int, depth: int = 2) -> nn.Sequential:
    layers, d = [], inp
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, out))


class Actor(nn.Module):
    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

    def __init__(self, obs_dim: int, act_dim: int, width: int):
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, width)

    def forward(self, obs: torch.Tensor, deterministic: bool = False):
        """Action in [-1, 1] and its log-probability (tanh change of variables)."""
        mu, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = self.LOG_STD_MIN + 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        pre = mu if deterministic else mu + log_std.exp() * torch.randn_like(mu)
        action = torch.tanh(pre)
        log_prob = (-0.5 * ((pre - mu) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2) - pre - F.softplus(-2 * pre))).sum(-1)
        return action, log_prob


class TwinQ(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, width: int):
        super().__init__()
        self.q1, self.q2 = mlp(obs_dim + act_dim, 1, width), mlp(obs_dim + act_dim, 1, width)

    def forward(self, obs, act):
        x = torch.cat([obs, act], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class ReplayBuffer:
    """Fixed-size numpy ring buffer; rewards can be overwritten (TdRL relabels them)."""

    def __init__(self, obs_dim: int, act_dim: int, size: int):
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.next_obs = np.zeros((size, obs_dim), np.float32)
        self.act = np.zeros((size, act_dim), np.float32)
        self.rew = np.zeros(size, np.float32)
        self.done = np.zeros(size, np.float32)
        self.size, self.n, self.i = size, 0, 0

    def add(self, obs, act, rew, next_obs, done) -> None:
        self.obs[self.i], self.act[self.i], self.rew[self.i] = obs, act, rew
        self.next_obs[self.i], self.done[self.i] = next_obs, done
        self.i = (self.i + 1) % self.size
        self.n = min(self.n + 1, self.size)

    def sample(self, batch: int, rng: np.random.Generator,
               device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.n, batch)
        return {k: torch.as_tensor(getattr(self, k)[idx], device=device)
                for k in ("obs", "act", "rew", "next_obs", "done")}


class SAC:
    def __init__(self, obs_dim: int, act_dim: int, width: int = 256, lr: float = 3e-4, gamma: float = 0.99,
                 tau: float = 0.005, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        # built on the CPU, then moved: the initial weights (torch's CPU generator) are the same on every device
        self.actor = Actor(obs_dim, act_dim, width).to(self.device)
        self.critic = TwinQ(obs_dim, act_dim, width).to(self.device)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.zeros((), requires_grad=True, device=self.device)
        self.target_entropy = -float(act_dim)
        self.gamma, self.tau = gamma, tau
        # fused Adam: one kernel per step instead of a dozen small ops per tensor (CPU too)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=lr, fused=True)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=lr, fused=True)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=lr, fused=True)
        self._critic_params, self._target_params = list(self.critic.parameters()), list(self.target.parameters())

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        action, _ = self.actor(torch.as_tensor(obs, dtype=torch.float32, device=self.device)[None], deterministic)
        return action[0].cpu().numpy()

    def critic_loss(self, b: dict[str, torch.Tensor], alpha: torch.Tensor) -> torch.Tensor:
        """Both critics' squared soft Bellman errors (Haarnoja et al. 2018, eq. 5, twin-Q target)."""
        with torch.no_grad():
            next_act, next_logp = self.actor(b["next_obs"])
            target_q = torch.min(*self.target(b["next_obs"], next_act)) - alpha * next_logp
            y = b["rew"] + self.gamma * (1 - b["done"]) * target_q
        q1, q2 = self.critic(b["obs"], b["act"])
        return F.mse_loss(q1, y) + F.mse_loss(q2, y)

    def actor_loss(self, b: dict[str, torch.Tensor], alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E[alpha log pi(a|s) - min_j Q_j(s, a)], log pi(a|s)) with a ~ pi(.|s) (eq. 7)."""
        act, logp = self.actor(b["obs"])
        return (alpha * logp - torch.min(*self.critic(b["obs"], act))).mean(), logp

    def update(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        alpha = self.log_alpha.exp().detach()
        critic_loss = self.critic_loss(b, alpha)
        self.opt_critic.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.opt_critic.step()

        self.critic.requires_grad_(False)  # the actor step needs no critic weight gradients
        actor_loss, logp = self.actor_loss(b, alpha)
        self.opt_actor.zero_grad()
        actor_loss.backward()
        self.opt_actor.step()
        self.critic.requires_grad_(True)

        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.opt_alpha.zero_grad()
        alpha_loss.backward()
        self.opt_alpha.step()

        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._critic_params, self.tau)
        losses = {"critic": critic_loss.item(), "actor": actor_loss.item(), "alpha": alpha.item()}
        if not all(math.isfinite(v) for v in losses.values()):
            raise FloatingPointError(f"SAC loss became non-finite: {losses}")
        return losses
