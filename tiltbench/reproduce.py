"""Re-run one stored cell and compare its metrics with the stored ones."""

from __future__ import annotations

import json

from . import registry
from .errors import TiltbenchError
from .executors import LocalExecutor
from .runner import code_version
from .store import Store
from .worker import Cell


def load_cell(store: Store, run_id: str):
    rows = store.query("SELECT * FROM runs WHERE run_id LIKE ? || '%'", [run_id])
    if len(rows) != 1:
        raise TiltbenchError(f"run_id {run_id!r} matches {len(rows)} runs; give a unique prefix "
                             "(tiltbench query \"select run_id, track, task, method, rep from runs\")")
    run = rows.iloc[0]
    if run.status != "ok":
        raise TiltbenchError(f"run {run.run_id} failed ({run.reason}); only successful runs can be reproduced")
    cfg = json.loads(run.config)
    cell = Cell(profile=run.profile, track=run.track, task=run.task, method=run.method, role=run.role,
                rep=int(run.rep), seed=int(run.seed), task_seed=int(cfg["task_seed"]), config=cfg["solver"],
                track_config=cfg["track"], code_version=run.code_version, content_key=run.content_key,
                timeout_s=24 * 3600.0, split=cfg.get("split", "test"), grid=cfg.get("grid", {}),
                device=cfg.get("device", "cpu"))
    stored = store.query("SELECT name, value FROM metrics WHERE run_id = ? ORDER BY name", [run.run_id])
    return cell, dict(zip(stored.name, stored.value)), run


def reproduce(store: Store, run_id: str, echo=print) -> int:
    """Return 0 when every quality metric is bit-identical, 1 otherwise."""
    cell, stored, run = load_cell(store, run_id)
    track = registry.get_track(cell.track)
    solver = registry.get_solver(cell.track, cell.solver)
    now_code = code_version(solver, track)
    if now_code != cell.code_version:
        echo(f"note: code changed since this run (stored {cell.code_version}, now {now_code}); "
             "differences may come from that")
    echo(f"re-running {cell.label} (seed {cell.seed}) in a fresh worker process ...")
    (_, outcome), = list(LocalExecutor(1, gpus=int(cell.device != "cpu")).run([cell]))
    if outcome["status"] != "ok":
        raise TiltbenchError(f"the re-run failed: {outcome['reason']}")
    skip = {m.name for m in track.metrics if m.kind == "cost"}
    names = sorted((set(stored) | set(outcome["metrics"])) - skip)
    width = max(len(n) for n in names) if names else 10
    echo(f"{'metric':{width}s}  {'stored':>22s}  {'re-run':>22s}  difference")
    identical = True
    for name in names:
        a, b = stored.get(name), outcome["metrics"].get(name)
        diff = None if a is None or b is None else b - a
        identical &= diff == 0.0
        echo(f"{name:{width}s}  {a!r:>22}  {b!r:>22}  {diff!r}")
    echo(f"wall time: stored {run.wall_s:.2f} s, re-run {outcome['wall_s']:.2f} s (timings are not compared)")
    echo("result: bit-identical" if identical else "result: DIFFERENCES found (see above)")
    return 0 if identical else 1
