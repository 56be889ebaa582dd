"""SAC gradient updates per second: tiltbench's SAC (benchmarks/rl/sac.py) beside stable-baselines3's.

Both run the same work per update (twin Q 256x256 critics, actor, temperature, Polyak targets,
a batch of 256 drawn from a filled replay buffer) in one process with one torch thread, the way
the `rl` track's cells run.  Writes a markdown table to results/rl_sac_speed.md.

    python scripts/bench_sac.py [--updates 2000] [--obs 24 --act 6]   # walker dimensions by default

stable-baselines3 is not a dependency of tiltbench; install it to compare (pip install stable-baselines3).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch


def ours(obs_dim: int, act_dim: int, width: int, batch: int, updates: int) -> float:
    from tiltbench.benchmarks.rl.sac import SAC, ReplayBuffer

    rng = np.random.default_rng(0)
    buf = ReplayBuffer(obs_dim, act_dim, 100_000)
    for _ in range(20_000):
        buf.add(rng.standard_normal(obs_dim), rng.uniform(-1, 1, act_dim), rng.uniform(), rng.standard_normal(obs_dim), 0.0)
    agent = SAC(obs_dim, act_dim, width)
    for _ in range(50):  # warm-up
        agent.update(buf.sample(batch, rng))
    t0 = time.perf_counter()
    for _ in range(updates):
        agent.update(buf.sample(batch, rng))
    return updates / (time.perf_counter() - t0)


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
    ap.add_argument("--updates", type=int, default=2000, help="timed gradient updates per implementation")
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
    rows = []
    for batch in args.batch:
        shape = (args.obs, args.act, args.width, batch, args.updates)
        rows.append(("tiltbench (benchmarks/rl/sac.py)", batch, ours(*shape)))
        rows.append((sb3_name or "stable-baselines3 (not installed)", batch,
                     sb3(*shape) if sb3_name else float("nan")))
    lines = ["# SAC updates per second", "",
             f"`python scripts/bench_sac.py --updates {args.updates} --obs {args.obs} --act {args.act}` on "
             f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread; networks "
             f"{args.width}x{args.width}; each update = critic, actor and temperature steps plus Polyak targets.", "",
             "| implementation | batch | updates/s |", "|---|---|---|"]
    lines += [f"| {name} | {batch} | {ups:.1f} |" for name, batch, ups in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
