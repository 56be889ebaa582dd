"""SAC gradient updates per second: tiltbench's SAC (benchmarks/rl/sac.py) beside stable-baselines3's.

Both run the same work per update (twin Q 256x256 critics, actor, temperature, Polyak targets,
a batch of 256 drawn from a filled replay buffer) in one process with one torch thread, the way
the `rl` track's cells run.  Writes a markdown table to results/rl_sac_speed.md.

    python scripts/bench_sac.py [--updates 2000] [--obs 24 --act 6]   # walker dimensions by default

stable-baselines3 is not a dependency of tiltbench; install it to compare (pip install stable-baselines3).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch


def _filled_buffer(obs_dim: int, act_dim: int, seed: int = 0):
    from tiltbench.benchmarks.rl.sac import ReplayBuffer

    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(obs_dim, act_dim, 100_000)
    for _ in range(20_000):
        buf.add(rng.standard_normal(obs_dim), rng.uniform(-1, 1, act_dim), rng.uniform(), rng.standard_normal(obs_dim), 0.0)
    return buf, rng


# ------------------------------------------------------------------ variants tried for speed (not used by the track)
def stacked_critic(agent):
    """The agent's twin critics as one module: their weights stacked on a leading axis
    (``torch.func.stack_module_state``) and evaluated with ``vmap`` over ``functional_call``, so each layer is
    one batched product for both critics.  Same initial weights as ``agent.critic``; returns (q1, q2) as it does."""
    from torch import nn
    from torch.func import functional_call, stack_module_state, vmap

    class StackedQ(nn.Module):
        def __init__(self, nets):
            super().__init__()
            params, _ = stack_module_state(nets)
            self.names = list(params)
            self.params = nn.ParameterList([nn.Parameter(params[n].detach().clone()) for n in self.names])
            self.base = copy.deepcopy(nets[0]).to("meta")

        def forward(self, obs, act):
            x = torch.cat([obs, act], -1)
            call = lambda p, x: functional_call(self.base, dict(zip(self.names, p)), (x,)).squeeze(-1)  # noqa: E731
            return vmap(call, in_dims=(0, None))(list(self.params), x).unbind(0)

    return StackedQ([agent.critic.q1, agent.critic.q2])


def variant(obs_dim: int, act_dim: int, width: int, kind: str):
    """Our SAC with one change: "stacked" (the critics as one vmapped ensemble) or "compiled" (its two
    losses through ``torch.compile``, with eager's random generator so a seed draws the same noise)."""
    from tiltbench.benchmarks.rl.sac import SAC

    agent = SAC(obs_dim, act_dim, width)
    if kind == "stacked":
        agent.critic = stacked_critic(agent)
        agent.target = copy.deepcopy(agent.critic).requires_grad_(False)
        agent.opt_critic = torch.optim.Adam(agent.critic.parameters(), lr=3e-4, fused=True)
        agent._critic_params, agent._target_params = list(agent.critic.parameters()), list(agent.target.parameters())
    elif kind == "compiled":
        from torch._inductor import config as inductor

        inductor.fallback_random = True
        agent.critic_loss, agent.actor_loss = torch.compile(agent.critic_loss), torch.compile(agent.actor_loss)
    else:
        raise ValueError(f"unknown variant {kind!r}; valid: stacked, compiled")
    return agent


def same_learning(obs_dim: int, act_dim: int, width: int, kind: str, updates: int = 20) -> float:
    """Largest |difference| of the losses over ``updates`` updates between our SAC and a variant started
    from the same weights on the same batches: the rewrite must change the speed, not the learning."""
    from tiltbench.benchmarks.rl.sac import SAC

    buf, _ = _filled_buffer(obs_dim, act_dim)
    torch.manual_seed(0)
    plain = SAC(obs_dim, act_dim, width)
    torch.manual_seed(0)
    other = variant(obs_dim, act_dim, width, kind)
    gap = 0.0
    for i in range(updates):
        batch = buf.sample(128, np.random.default_rng(i))
        torch.manual_seed(i)
        a = plain.update(batch)
        torch.manual_seed(i)
        b = other.update(batch)
        gap = max(gap, *(abs(a[k] - b[k]) for k in a))
    return gap


def timed(agent, obs_dim: int, act_dim: int, batch: int, updates: int) -> float:
    buf, rng = _filled_buffer(obs_dim, act_dim)
    for _ in range(50):  # warm-up (and compilation)
        agent.update(buf.sample(batch, rng))
    t0 = time.perf_counter()
    for _ in range(updates):
        agent.update(buf.sample(batch, rng))
    return updates / (time.perf_counter() - t0)


def ours(obs_dim: int, act_dim: int, width: int, batch: int, updates: int) -> float:
    from tiltbench.benchmarks.rl.sac import SAC

    return timed(SAC(obs_dim, act_dim, width), obs_dim, act_dim, batch, updates)


def gemm_floor(obs_dim: int, act_dim: int, width: int, batch: int) -> float:
    """Updates/s if an update cost nothing but its matrix products, at this machine's measured rate for the
    largest of them: the ceiling any rewrite of the same (fp32) arithmetic can reach here.  Per update, in
    forward-pass equivalents of one network (x 2 B d_in d_out flops per layer): target actor + 2 target
    critics (3); 2 critics forward and backward with weight gradients (2 x 3); actor forward, 2 critics
    forward and backward to the action only (1 + 2 x 2), actor backward with weight gradients (2): 16."""
    a, b = torch.randn(batch, width), torch.randn(width, width)
    for _ in range(20):
        a @ b
    t0 = time.perf_counter()
    for _ in range(200):
        a @ b
    rate = 2 * batch * width * width / ((time.perf_counter() - t0) / 200)
    q = 2 * batch * ((obs_dim + act_dim) * width + width * width + width)
    actor = 2 * batch * (obs_dim * width + width * width + width * 2 * act_dim)
    flops = (actor + 2 * q) + 2 * 3 * q + (actor + 2 * 2 * q) + 2 * actor
    return rate / flops


def sb3(obs_dim: int, act_dim: int, width: int, batch: int, updates: int) -> float:
    import gymnasium as gym
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.logger import configure

    class Dummy(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)

    model = SB3SAC("MlpPolicy", Dummy(), batch_size=batch, buffer_size=100_000, device="cpu",
                   policy_kwargs={"net_arch": [width, width]}, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20_000):
        model.replay_buffer.add(rng.standard_normal((1, obs_dim)), rng.standard_normal((1, obs_dim)),
                                rng.uniform(-1, 1, (1, act_dim)), rng.uniform(size=1), np.zeros(1), [{}])
    model.set_logger(configure(None, ["csv"]))
    model.train(gradient_steps=50, batch_size=batch)  # warm-up
    t0 = time.perf_counter()
    model.train(gradient_steps=updates, batch_size=batch)
    return updates / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=1000, help="timed gradient updates per implementation and round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table gives each one's median")
    ap.add_argument("--obs", type=int, default=24, help="observation size (walker: 24, cartpole: 5)")
    ap.add_argument("--act", type=int, default=6, help="action size (walker: 6, cartpole: 1)")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--batch", type=int, nargs="+", default=[256, 128],
                    help="batch sizes to time (256: the usual SAC setting; 128: the rl cpu profile)")
    ap.add_argument("--out", default="results/rl_sac_speed.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        import stable_baselines3
        sb3_name = f"stable-baselines3 {stable_baselines3.__version__}"
    except ImportError:
        sb3_name = None
    dims = (args.obs, args.act, args.width)
    gaps = {kind: same_learning(*dims, kind) for kind in ("stacked", "compiled")}
    names = {"ours": "tiltbench (benchmarks/rl/sac.py, what the track runs)",
             "stacked": "twin critics as one vmapped ensemble (torch.func stack_module_state + vmap)",
             "compiled": "the two losses through torch.compile (inductor, C++ kernels)",
             "sb3": sb3_name or "stable-baselines3 (not installed)"}
    rows = []
    for batch in args.batch:
        agents = {k: variant(*dims, k) for k in ("stacked", "compiled")}
        times: dict[str, list[float]] = {k: [] for k in names}
        for _ in range(args.rounds):  # interleaved, so a busy spell slows every implementation alike
            for key in names:
                if key == "ours":
                    times[key].append(ours(*dims, batch, args.updates))
                elif key == "sb3":
                    times[key].append(sb3(*dims, batch, args.updates) if sb3_name else float("nan"))
                else:
                    times[key].append(timed(agents[key], args.obs, args.act, batch, args.updates))
        sb3_ups = float(np.median(times["sb3"]))
        for key, values in times.items():
            ups = float(np.median(values))
            rows.append((names[key], batch, ups, ups / sb3_ups, gaps.get(key)))
        floor = gemm_floor(*dims, batch)
        rows.append(("matrix products alone at this machine's GEMM rate (a ceiling, not an implementation)", batch,
                     floor, floor / sb3_ups, None))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["# SAC updates per second", "",
             f"`python scripts/bench_sac.py --updates {args.updates} --rounds {args.rounds} --obs {args.obs} --act "
             f"{args.act}` on {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
             f"load average {load:.1f} when it finished; networks {args.width}x{args.width}; each update = critic, "
             f"actor and temperature steps plus Polyak targets.  Median of {args.rounds} interleaved rounds.  "
             "The last column is the largest loss difference from our SAC over 20 updates from the same weights "
             "and batches (the rewrites change speed, not learning).", "",
             "| implementation | batch | updates/s | vs SB3 | same learning (max loss gap) |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {batch} | {ups:.1f} | {ratio:.2f}x | {'—' if gap is None else f'{gap:.1e}'} |"
              for name, batch, ups, ratio, gap in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
