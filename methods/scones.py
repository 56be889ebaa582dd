"""SCONES: score-based generative neural networks for large-scale optimal transport.

Daniels, Maunu & Hand (NeurIPS 2021), arXiv:2110.03237.  Three steps:

1. Dual potentials.  For cost c(x, y) = ||x - y||^2 and regulariser lam * KL(pi || mu (x) nu), train
   phi, psi on the regularised dual (Genevay et al. 2016; Seguy et al. 2018)

       max_{phi, psi}  E_mu phi(x) + E_nu psi(y) - lam * E_{mu (x) nu} exp((phi(x) + psi(y) - c(x, y)) / lam).

2. Compatibility.  The optimal plan is pi(x, y) = H(x, y) mu(x) nu(y) with
   H = exp((phi + psi - c) / lam); E_{mu (x) nu} H = 1 at the optimum.  ``mean_h`` is its Monte Carlo estimate over
   1000 x 1000 pairs; at small lam it is dominated by a few extreme pairs and it moves with phi and
   with the potentials' additive constant, which the sampler does not use, so it is a diagnostic, not
   a test of the dual (see benchmarks/ot/claims.py).

3. Conditional sampling.  grad_y log pi(y | x) = s_nu(y) + (grad psi(y) - grad_y c(x, y)) / lam
   = s_nu(y) + (grad psi(y) - 2 (y - x)) / lam, sampled with unadjusted Langevin dynamics
   y <- y + (eps / 2) * score + sqrt(eps) * z, each chain started by sampling-importance-resampling
   a pool of ``start_pool`` samples of nu with SCONES' own weights exp((psi(y) - c(x, y)) / lam)
   (``resample_start``; our addition, so that chains on a multimodal nu start in the modes the plan
   weights).  The pool has a fixed size, so starting n chains costs O(n * start_pool), linear in n.

The target score s_nu is the exact score of nu = N(m_y, B) (``target_score = "analytic"``, Gaussian
tasks only), or a network trained by denoising score matching on samples of nu (``"learned"``);
``"auto"`` takes the analytic score where the task has one, else learns it, and the metric
``score_learned`` records which was used.  The released synthetic code used N(0, B + I) as the
Gaussian prior; here the prior is nu itself.

Conditionals.  Besides n pairs for the joint moments, SCONES samples ``cond_samples`` Langevin chains
with x fixed at each of the task's conditioning points x_test[i] (same sampler and start); their
sample moments are its conditional pi(. | x_test[i]).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn

from tiltbench.benchmarks.ot.track import GaussianOTTask, conditional_sample_moments, sample_moments

TARGET_SCORES = ("auto", "analytic", "learned")


class Potential(nn.Module):
    """MLP potential R^d -> R with standardised inputs and smooth (SiLU) activations."""

    def __init__(self, data: np.ndarray, width: int, depth: int, out: int = 1):
        super().__init__()
        d = data.shape[1]
        self.register_buffer("shift", torch.as_tensor(data.mean(0), dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(data.std(0) + 1e-6, dtype=torch.float32))
        layers, width_in = [], d
        for _ in range(depth):
            layers += [nn.Linear(width_in, width), nn.SiLU()]
            width_in = width
        layers.append(nn.Linear(width_in, out))
        self.net = nn.Sequential(*layers)
        self.scalar = out == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net((x - self.shift) / self.scale)
        return out.squeeze(-1) if self.scalar else out


def sq_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise c(x_i, y_j) = ||x_i - y_j||^2, shape (len(x), len(y))."""
    return torch.cdist(x, y).pow(2)


def dual_objective(phi_x, psi_y, cost, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Regularised dual on all pairs of a batch, and log E[H] (computed stably with logsumexp).

    Returns (objective, log_mean_h); the penalty lam * E[H] is evaluated as lam * exp(log_mean_h).
    """
    z = (phi_x[:, None] + psi_y[None, :] - cost) / lam
    log_mean_h = torch.logsumexp(z.reshape(-1), 0) - math.log(z.numel())
    return phi_x.mean() + psi_y.mean() - lam * torch.exp(log_mean_h), log_mean_h


def init_offset(phi, psi, x, y, lam) -> None:
    """Shift the potentials' output biases so that E[H] = 1 at step 0 (otherwise exp(-c/lam)
    underflows in high dimension and training starts with no signal)."""
    with torch.no_grad():
        _, log_mean_h = dual_objective(phi(x), psi(y), sq_cost(x, y), lam)
        for net in (phi, psi):
            net.net[-1].bias -= lam * log_mean_h / 2


def annealed_lam(lam: float, factor: float, step: int, steps: int) -> float:
    """Regulariser at ``step``: geometric from lam * factor down to lam over the first half of
    training, then lam (factor 1: no annealing).  A remedy for the dual's collapse at small lam,
    where exp((phi + psi - c) / lam) is sharp from the first step; not part of the SCONES paper."""
    half = max(1, steps // 2)
    return lam * factor ** max(0.0, 1.0 - step / half)


def train_potentials(task, cfg: dict, rng: np.random.Generator, curves: dict, device: str = "cpu"):
    x_pool, y_pool = task.sample_x(task.n, rng), task.sample_y(task.n, rng)
    phi = Potential(x_pool, cfg["width"], cfg["depth"]).to(device)
    psi = Potential(y_pool, cfg["width"], cfg["depth"]).to(device)
    xt = torch.as_tensor(x_pool, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_pool, dtype=torch.float32, device=device)
    gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**31)))
    bs = min(cfg["batch"], task.n)
    init_offset(phi, psi, xt[:bs], yt[:bs], annealed_lam(task.lam, cfg["lam_anneal"], 0, cfg["steps"]))
    opt = torch.optim.Adam([*phi.parameters(), *psi.parameters()], lr=cfg["lr"])
    every = max(1, cfg["steps"] // 50)
    for step in range(cfg["steps"]):
        xb = xt[torch.randint(len(xt), (bs,), generator=gen, device=device)]
        yb = yt[torch.randint(len(yt), (bs,), generator=gen, device=device)]
        lam = annealed_lam(task.lam, cfg["lam_anneal"], step, cfg["steps"])
        obj, log_mean_h = dual_objective(phi(xb), psi(yb), sq_cost(xb, yb), lam)
        if not torch.isfinite(obj):
            raise FloatingPointError(f"SCONES dual objective diverged at step {step} "
                                     f"(log mean H = {log_mean_h.item():.3g}, lam = {task.lam:g})")
        opt.zero_grad()
        (-obj).backward()
        opt.step()
        if step % every == 0 or step == cfg["steps"] - 1:
            curves["dual_objective"].append((step, obj.item()))
            curves["log_mean_h"].append((step, log_mean_h.item()))
    return phi, psi


def mean_compatibility(phi, psi, task, rng, m: int = 1000, device: str = "cpu") -> float:
    """E_{mu (x) nu} H on m fresh samples of each (all m^2 pairs)."""
    x = torch.as_tensor(task.sample_x(m, rng), dtype=torch.float32, device=device)
    y = torch.as_tensor(task.sample_y(m, rng), dtype=torch.float32, device=device)
    with torch.no_grad():
        _, log_mean_h = dual_objective(phi(x), psi(y), sq_cost(x, y), task.lam)
    return float(torch.exp(log_mean_h.double()))


def score_choice(task, choice: str) -> str:
    """Resolve ``target_score`` for this task to "analytic" or "learned" (one-line errors otherwise)."""
    if choice not in TARGET_SCORES:
        raise ValueError(f"target_score = {choice!r}; valid: {', '.join(TARGET_SCORES)}")
    if choice == "auto":
        return "analytic" if task.analytic_score else "learned"
    if choice == "analytic" and not task.analytic_score:
        raise ValueError(f"target_score = 'analytic': task {task.name} has no analytic score of nu; "
                         "valid here: auto, learned")
    return choice


def analytic_score(task: GaussianOTTask, device: str = "cpu"):
    prec = torch.as_tensor(np.linalg.inv(task.cov_y), dtype=torch.float32, device=device)
    mean = torch.as_tensor(task.mean_y, dtype=torch.float32, device=device)
    return lambda y: -(y - mean) @ prec


def learned_score(task, cfg: dict, rng: np.random.Generator, device: str = "cpu"):
    """Denoising score matching (Vincent 2011) at one small noise level sigma:
    minimise E || s(y + sigma z) + z / sigma ||^2; s approximates the score of nu * N(0, sigma^2)."""
    y_pool = task.sample_y(task.n, rng)
    sigma = cfg["score_noise"] * float(np.sqrt(np.mean(np.var(y_pool, axis=0))))
    net = Potential(y_pool, cfg["width"], cfg["depth"], out=task.d).to(device)
    yt = torch.as_tensor(y_pool, dtype=torch.float32, device=device)
    gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**31)))
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    bs = min(cfg["batch"], task.n)
    for _ in range(cfg["score_steps"]):
        yb = yt[torch.randint(len(yt), (bs,), generator=gen, device=device)]
        z = torch.randn(yb.shape, generator=gen, device=device)
        loss = (net(yb + sigma * z) + z / sigma).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lambda y: net(y)


def langevin(x: np.ndarray, y0: np.ndarray, psi, score_nu, lam: float, eps: float, steps: int,
             seed: int, device: str = "cpu") -> np.ndarray:
    """Unadjusted Langevin on y | x with score s_nu(y) + (grad psi(y) - 2 (y - x)) / lam."""
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)
    y = torch.as_tensor(y0, dtype=torch.float32, device=device).clone()
    gen = torch.Generator(device=device).manual_seed(seed)
    for _ in range(steps):
        y.requires_grad_(True)
        grad_psi, = torch.autograd.grad(psi(y).sum(), y)
        with torch.no_grad():
            score = score_nu(y) + (grad_psi - 2 * (y - xt)) / lam
            y = y + (eps / 2) * score + math.sqrt(eps) * torch.randn(y.shape, generator=gen, device=device)
    return y.detach().cpu().numpy()


def resample_start(x: np.ndarray, pool: np.ndarray, psi, lam: float, seed: int, device: str = "cpu",
                   chunk: int = 1024) -> np.ndarray:
    """One starting point per x, drawn from ``pool`` (a sample of nu) with weights
    exp((psi(y) - ||x - y||^2) / lam): sampling-importance-resampling from SCONES' own conditional
    pi(y | x) ∝ nu(y) H(x, y) = nu(y) exp((phi(x) + psi(y) - c(x, y)) / lam), using only the learned
    potential.  Langevin chains started from nu alone keep nu's mode weights on multimodal targets
    (unadjusted Langevin rarely crosses between well-separated modes); started here they begin near
    the modes the plan weights, and Langevin refines them.  Our addition: the paper starts from its
    sampler's prior."""
    pool_t = torch.as_tensor(pool, dtype=torch.float32, device=device)
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        psi_pool = psi(pool_t)
        picks = []
        for i in range(0, len(x), chunk):
            xb = torch.as_tensor(x[i:i + chunk], dtype=torch.float32, device=device)
            logits = (psi_pool[None, :] - sq_cost(xb, pool_t)) / lam
            u = torch.rand(logits.shape, generator=gen, device=device).clamp_min(1e-12)
            picks.append(torch.argmax(logits - torch.log(-torch.log(u)), dim=1))  # Gumbel-max: one draw per row
    return pool[torch.cat(picks).cpu().numpy()]


def conditional_samples(task, psi, score_nu, eps: float, steps: int, k: int, pool: int, rng,
                        device: str = "cpu") -> np.ndarray:
    """k Langevin chains of y | x at each conditioning point x_test[i], started by ``resample_start``
    from ``pool`` samples of nu; returns shape (m, k, d)."""
    m = len(task.x_test)
    x = np.repeat(task.x_test, k, axis=0)
    y0 = resample_start(x, task.sample_y(pool, rng), psi, task.lam, int(rng.integers(2**31)), device)
    y = langevin(x, y0, psi, score_nu, task.lam, eps, steps, seed=int(rng.integers(2**31)), device=device)
    return y.reshape(m, k, task.d)


def scones(task, config: dict, seed: int) -> dict:
    """SCONES: neural dual potentials + Langevin sampling of y | x with the compatibility score."""
    score = score_choice(task, config["target_score"])
    if config["lam_anneal"] < 1:
        raise ValueError(f"lam_anneal = {config['lam_anneal']!r}: must be >= 1 (1 = no annealing)")
    if int(config["start_pool"]) < 1:
        raise ValueError(f"start_pool = {config['start_pool']!r}: must be a positive number of samples of nu")
    device = config.get("device", "cpu")
    rng = np.random.default_rng(seed)
    curves = {"dual_objective": [], "log_mean_h": []}
    t0 = time.perf_counter()
    phi, psi = train_potentials(task, config, rng, curves, device)
    score_nu = (analytic_score(task, device) if score == "analytic"
                else learned_score(task, config, rng, device))
    train_s = time.perf_counter() - t0
    for p in [*phi.parameters(), *psi.parameters()]:
        p.requires_grad_(False)
    mean_h = mean_compatibility(phi, psi, task, rng, device=device)

    # Step size from a curvature bound of -log pi(y|x): 1/lambda_min(B) + 2/lam (B estimated from the
    # resampling pool).  A fixed pool size keeps the start O(n) (a pool of n made it O(n^2): 557 s at n = 1e5).
    x, pool = task.sample_x(task.n, rng), task.sample_y(int(config["start_pool"]), rng)
    curvature = 1.0 / np.linalg.eigvalsh(np.cov(pool, rowvar=False).reshape(task.d, task.d))[0] + 2.0 / task.lam
    t1 = time.perf_counter()
    y0 = resample_start(x, pool, psi, task.lam, int(rng.integers(2**31)), device)
    eps = config["step_scale"] / curvature
    y = langevin(x, y0, psi, score_nu, task.lam, eps, config["langevin_steps"], seed=int(rng.integers(2**31)),
                 device=device)
    cond_mean, cond_cov = conditional_sample_moments(
        conditional_samples(task, psi, score_nu, eps, config["langevin_steps"], config["cond_samples"],
                            int(config["start_pool"]), rng, device))
    sample_s = time.perf_counter() - t1
    mean, cov = sample_moments(x, y)
    return {"mean": mean, "cov": cov, "cond_mean": cond_mean, "cond_cov": cond_cov, "curves": curves,
            "metrics": {"mean_h": mean_h, "dual_collapsed": float(not 0.5 <= mean_h <= 2.0),
                        "train_s": train_s, "sample_s": sample_s, "score_learned": float(score == "learned")}}
