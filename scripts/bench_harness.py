"""Measure the harness itself and write the figures to results/harness.md.

    python scripts/bench_harness.py [--cells 20] [--runs 10000] [--out results/harness.md]

1. per-cell overhead of the local executor: a sweep of no-op cells (the `toy` test track), wall time
   per cell minus the time the solver itself ran;
2. one stored cell: the driver's open-write-close of the DuckDB file;
3. a store with 10,000 runs: `query` of the leaderboard view and `report` of one track.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TILTBENCH_PLUGINS", "toy_track")
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests" / "plugins"), os.environ.get("PYTHONPATH")]))
os.environ["TILTBENCH_PROFILES"] = str(ROOT / "tests" / "profiles.toml")
sys.path.insert(0, str(ROOT / "tests" / "plugins"))

import pandas as pd  # noqa: E402

from tiltbench.executors import LocalExecutor  # noqa: E402
from tiltbench.fingerprint import fingerprint  # noqa: E402
from tiltbench.profiles import get_profile  # noqa: E402
from tiltbench.report import render  # noqa: E402
from tiltbench.runner import plan, sweep  # noqa: E402
from tiltbench.store import Store  # noqa: E402


def cell_overhead(tmp: Path, n_cells: int) -> dict:
    cells = plan(get_profile("toy"), tracks=["toy"], methods=["good"], reps=max(1, n_cells // 2))[:n_cells]
    store = Store(tmp / "overhead.duckdb")
    executor = LocalExecutor(workers=1)
    list(executor.run(cells[:1]))  # start the forkserver once, as any sweep does
    t0 = time.perf_counter()
    sweep(store, cells, executor, force=True, show_progress=False)
    wall = time.perf_counter() - t0
    solver = store.query("SELECT sum(wall_s) AS s FROM runs").s[0]
    return {"cells": len(cells), "sweep_s": wall, "per_cell_s": wall / len(cells),
            "overhead_per_cell_s": (wall - solver) / len(cells)}


def write_cost(tmp: Path, n: int = 200) -> float:
    store = Store(tmp / "writes.duckdb")
    env = fingerprint("local", 1)
    t = datetime(2026, 1, 1)
    t0 = time.perf_counter()
    for i in range(n):
        run = {"run_id": f"w{i}", "content_key": f"k{i}", "profile": "p", "track": "toy", "task": "const-1",
               "method": "good", "role": "method", "rep": i, "seed": i, "config": "{}", "code_version": "c",
               "status": "ok", "reason": None, "started_at": t, "finished_at": t, "wall_s": 0.1, "cpu_s": 0.1,
               "peak_mem_mb": 1.0, "gpu_s": 0.0, "env_id": env["env_id"]}
        store.write_run(run, {"value": float(i), "noise": 0.0}, {"loss": [(0, 1.0), (1, 0.5)]}, env)
    return (time.perf_counter() - t0) / n


def big_store(tmp: Path, n_runs: int) -> dict:
    """Bulk-load n_runs toy runs (4 tasks x 2 methods x reps) with 2 metrics and 20 curve points each."""
    path = tmp / "big.duckdb"
    store = Store(path)
    env = fingerprint("local", 1)
    rows = []
    for i in range(n_runs):
        task, method = f"const-{i % 4}", ("good", "slow")[(i // 4) % 2]
        rows.append({"run_id": f"r{i:06d}", "content_key": f"k{i:06d}", "profile": "big", "track": "toy",
                     "task": task, "method": method, "role": "method" if method == "good" else "baseline",
                     "rep": i // 8, "seed": i, "config": json.dumps({}), "code_version": "c", "status": "ok",
                     "reason": None, "started_at": datetime(2026, 1, 1), "finished_at": datetime(2026, 1, 1),
                     "wall_s": 0.5, "cpu_s": 0.5, "peak_mem_mb": 100.0, "gpu_s": 0.0, "env_id": env["env_id"]})
    def metrics_of(j):
        return {"value": float(j), "noise": 0.0}

    curve = {"loss": [(s, 1.0 / (s + 1)) for s in range(20)]}
    store.write_run(rows[0], metrics_of(0), curve, env)  # the first through the driver's path
    runs = pd.DataFrame(rows[1:])
    metrics = pd.DataFrame([(r, k, v) for j, r in enumerate(runs.run_id, 1) for k, v in metrics_of(j).items()],
                           columns=["run_id", "name", "value"])
    curves = pd.DataFrame([(r, "loss", s, v) for r in runs.run_id for s, v in curve["loss"]],
                          columns=["run_id", "name", "step", "value"])
    import duckdb

    con = duckdb.connect(str(path))
    for table, df in (("runs", runs), ("metrics", metrics), ("curves", curves)):
        con.register("df", df)
        con.execute(f"INSERT INTO {table} SELECT * FROM df")
        con.unregister("df")
    con.close()
    t0 = time.perf_counter()
    lb = store.query("SELECT * FROM leaderboard WHERE profile = 'big'")
    query_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    render(store, "big", tmp / "report", ["toy"])
    report_s = time.perf_counter() - t0
    return {"runs": n_runs, "leaderboard_rows": len(lb), "query_s": query_s, "report_s": report_s,
            "file_mb": path.stat().st_size / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--out", default=str(ROOT / "results" / "harness.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        over = cell_overhead(tmp, args.cells)
        write_s = write_cost(tmp)
        big = big_store(tmp, args.runs)
    fp = fingerprint("local", 1)
    lines = [
        "# Harness figures", "",
        f"Measured by `python scripts/bench_harness.py` on {fp['cpu_model']} ({fp['cores']} cores, "
        f"{fp['ram_gb']:g} GiB), Python {platform.python_version()}, commit {fp['git_commit'][:10]}"
        f"{'+dirty' if fp['git_dirty'] else ''}.", "",
        "| what | figure |", "|---|---|",
        f"| local executor, no-op cell, wall per cell ({over['cells']} cells, 1 worker) | {over['per_cell_s']:.3f} s |",
        f"| of which harness overhead (fork from the preloaded forkserver, pipe, store write) | "
        f"{over['overhead_per_cell_s']:.3f} s |",
        f"| one stored cell (open DuckDB file, one transaction, close) | {write_s * 1000:.1f} ms |",
        f"| store with {big['runs']:,} runs: file size | {big['file_mb']:.1f} MiB |",
        f"| `query` of the `leaderboard` view over {big['runs']:,} runs ({big['leaderboard_rows']} rows) | "
        f"{big['query_s']:.3f} s |",
        f"| `report` of one track over {big['runs']:,} runs (tables, bootstrap CIs, plots) | {big['report_s']:.2f} s |",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
