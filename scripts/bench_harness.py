"""Measure the harness itself and write the figures to results/harness.md.

    python scripts/bench_harness.py [--cells 20] [--runs 10000] [--out results/harness.md]

1. per-cell overhead of the local executor: a sweep of no-op cells (the `toy` test track), wall time
   per cell minus the time the solver itself ran;
2. one stored cell: the driver's open-write-close of the DuckDB file;
3. a store with 10,000 runs: `query` of the leaderboard view and `report` of one track;
4. latency of the `tiltbench` command itself (real subprocesses of the installed command with the
   packaged plugins and profiles): wall time (median of --cli-repeats) and peak memory of list, help,
   errors on bad names, `query` and `claims` against a small store.

    python scripts/bench_harness.py --only cli     # just 4., writes results/harness-cli.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
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



def _load() -> None:
    """Import pandas and tiltbench here, not at module level: every cell process re-imports the
    driver's __main__ module (multiprocessing does so to unpickle), so heavy top-level imports in
    this script would be charged to every cell, which the `tiltbench` command does not pay."""
    global pd, LocalExecutor, fingerprint, get_profile, render, plan, sweep, Store
    import pandas as pd
    from tiltbench.executors import LocalExecutor
    from tiltbench.fingerprint import fingerprint
    from tiltbench.profiles import get_profile
    from tiltbench.report import render
    from tiltbench.runner import plan, sweep
    from tiltbench.store import Store


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


def _cli_store(path: Path) -> None:
    """A small real store: the ot track's cpu-profile cells, 5 seeds each, with made-up metric values,
    so that `claims --profile cpu` judges (and tests) real rows."""
    import numpy as np

    store = Store(path)
    env = fingerprint("local", 1)
    rng = np.random.default_rng(0)
    solvers = {"scones": "method", "sinkhorn": "baseline", "barycentric": "baseline", "lp": "baseline",
               "floor": "reference", "independent": "reference"}
    i = 0
    for task in ("gaussian-d16-lam1", "gaussian-d16-lam4"):
        for method, role in solvers.items():
            for rep in range(5):
                i += 1
                run = {"run_id": f"c{i:04d}", "content_key": f"k{i:04d}", "profile": "cpu", "track": "ot",
                       "task": task, "method": method, "role": role, "rep": rep, "seed": rep, "config": "{}",
                       "code_version": "c", "status": "ok", "reason": None, "started_at": datetime(2026, 1, 1),
                       "finished_at": datetime(2026, 1, 1), "wall_s": 1.0, "cpu_s": 1.0, "peak_mem_mb": 100.0,
                       "gpu_s": 0.0, "env_id": env["env_id"]}
                metrics = {"bw_uvp": float(rng.uniform(0.1, 5)), "cost_rel_err": float(rng.uniform(0, 0.1)),
                           "mean_h": 1.0, "dual_collapsed": 0.0, "converged": 1.0, "marginal_err": 1e-4}
                store.write_run(run, metrics, {}, env)


# name -> (arguments, expected exit code); the store is passed to query and claims only
CLI_COMMANDS = {
    "tiltbench --help": (["--help"], 0),
    "tiltbench run --help": (["run", "--help"], 0),
    "tiltbench list": (["list"], 0),
    "tiltbench list --track ot": (["list", "--track", "ot"], 0),
    "tiltbench run --track nope": (["run", "--track", "nope"], 2),
    "tiltbench run --track ot --method nope": (["run", "--track", "ot", "--method", "nope"], 2),
    "tiltbench run --profile nope": (["run", "--profile", "nope"], 2),
    'tiltbench query "select 1"': (["query", "select 1", "--store", "{store}"], 0),
    "tiltbench claims --profile cpu": (["claims", "--profile", "cpu", "--store", "{store}"], 0),
    "tiltbench claims --profile cpu, published runs": (["claims", "--profile", "cpu", "--store", "{published}"], 0),
}


_MEASURE = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
wall = time.perf_counter() - t0
print(json.dumps([code, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))
"""


def cli_latency(tmp: Path, repeats: int) -> list[dict]:
    """Each command of CLI_COMMANDS run ``repeats`` times after one warm-up run (page cache, .pyc):
    median and min wall seconds, and the peak RSS of the process."""
    store, published = tmp / "cli.duckdb", tmp / "published.duckdb"
    _cli_store(store)
    Store(published).import_(ROOT / "results" / "runs")  # every published board's rows (results/runs/)
    n_published = int(Store(published).query("SELECT count(*) AS n FROM runs").n[0])
    exe = shutil.which("tiltbench", path=str(Path(sys.executable).parent))
    base = [exe] if exe else [sys.executable, "-m", "tiltbench.cli"]
    env = {k: v for k, v in os.environ.items() if k not in ("TILTBENCH_PLUGINS", "TILTBENCH_PROFILES")}
    env["PYTHONPATH"] = ""  # the packaged plugins and profiles only, as a user's shell has them
    out = []
    for name, (args, expected) in CLI_COMMANDS.items():
        cmd = base + [a.replace("{store}", str(store)).replace("{published}", str(published)) for a in args]
        walls, rss = [], 0
        for i in range(repeats + 1):
            # a small Python parent spawns the command, so that its peak RSS is its own, not this
            # (large) process's at fork time, which Linux would carry over into the child's maxrss
            proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True,
                                  env=env, cwd=tmp)
            code, wall, peak_kb = json.loads(proc.stdout.strip().splitlines()[-1])
            if code != expected:
                raise SystemExit(f"{name}: exit {code}, expected {expected}\n{proc.stderr}")
            if i:  # the first run warms the caches
                walls.append(wall)
                rss = max(rss, peak_kb / 1024)
        out.append({"command": name, "median_s": statistics.median(walls), "min_s": min(walls), "rss_mb": rss,
                    "published_runs": n_published})
    return out


def cli_lines(rows: list[dict], repeats: int) -> list[str]:
    lines = [f"### Latency of the `tiltbench` command ({repeats} runs each after one warm-up; "
             "`query` and `claims` against a 60-run store, and `claims` against the published runs "
             f"({rows[-1]['published_runs']:,} runs of results/runs/))", "",
             "| command | median wall | min wall | peak memory |", "|---|---|---|---|"]
    lines += [f"| `{r['command']}` | {r['median_s']:.2f} s | {r['min_s']:.2f} s | {r['rss_mb']:.0f} MB |" for r in rows]
    return lines + [""]


def header(fp: dict) -> str:
    return (f"Measured by `python scripts/bench_harness.py` on {fp['cpu_model']} ({fp['cores']} cores, "
            f"{fp['ram_gb']:g} GiB), Python {platform.python_version()}, commit {fp['git_commit'][:10]}"
            f"{'+dirty' if fp['git_dirty'] else ''}; load average {os.getloadavg()[0]:.1f} when it finished.")


def main() -> None:
    _load()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--cli-repeats", type=int, default=5)
    ap.add_argument("--only", choices=("cli",), help="only the CLI latency table (written to --out)")
    ap.add_argument("--out", default=None,
                    help="default: results/harness.md, with --only cli results/harness-cli.md")
    args = ap.parse_args()
    out = args.out or str(ROOT / "results" / ("harness-cli.md" if args.only else "harness.md"))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only == "cli":
            cli = cli_latency(tmp, args.cli_repeats)
            lines = ["# CLI latency", "", header(fingerprint("local", 1)), "", *cli_lines(cli, args.cli_repeats)]
            Path(out).write_text("\n".join(lines))
            print("\n".join(lines))
            return
        over = cell_overhead(tmp, args.cells)
        write_s = write_cost(tmp)
        big = big_store(tmp, args.runs)
        cli = cli_latency(tmp, args.cli_repeats)
    fp = fingerprint("local", 1)
    lines = [
        "# Harness figures", "", header(fp), "",
        "| what | figure |", "|---|---|",
        f"| local executor, no-op cell, wall per cell ({over['cells']} cells, 1 worker) | {over['per_cell_s']:.3f} s |",
        f"| of which harness overhead (fork from the preloaded forkserver, pipe, store write) | "
        f"{over['overhead_per_cell_s']:.3f} s |",
        f"| one stored cell (open DuckDB file, one transaction, close) | {write_s * 1000:.1f} ms |",
        f"| store with {big['runs']:,} runs: file size | {big['file_mb']:.1f} MiB |",
        f"| `query` of the `leaderboard` view over {big['runs']:,} runs ({big['leaderboard_rows']} rows) | "
        f"{big['query_s']:.3f} s |",
        f"| `report` of one track over {big['runs']:,} runs (tables, t-intervals, claims, plots) | {big['report_s']:.2f} s |",
        "", *cli_lines(cli, args.cli_repeats),
    ]
    Path(out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
