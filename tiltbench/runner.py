"""The runner: expand a profile into cells, skip what is stored, run the rest, store each outcome.

Data flows one way: profile -> cells -> executor (worker runs solver, track scores it) -> driver
writes the store.  Each outcome is written as soon as it arrives, so an interrupted sweep loses
only the cells in flight, and re-running the same command finishes only the missing cells.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import registry, tuning
from .errors import TiltbenchError, unknown
from .fingerprint import fingerprint
from .profiles import Profile
from .seeds import cell_seed, task_seed
from .worker import Cell

if TYPE_CHECKING:  # duckdb and pandas load with the store, when a sweep opens it
    from .store import Store

# Keys of a track's profile section that choose which cells exist rather than what a cell computes.
_SELECTION_KEYS = ("tasks", "reps", "methods", "tune_reps")  # which cells run; not part of a cell's config


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def module_source_hash(*modules: str) -> str:
    """The code version of a cell: a short hash of the syntax trees of ``modules`` with comments
    and docstrings left out, so editing prose does not invalidate stored results.  The modules'
    files are found without importing them (a solver's module imports torch and friends)."""
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        module = sys.modules.get(name)
        path = module.__file__ if module else getattr(importlib.util.find_spec(name), "origin", None)
        if not path:
            raise ModuleNotFoundError(f"no module named {name!r}", name=name)
        with open(path, encoding="utf-8") as fh:
            tree = _strip_docstrings(ast.parse(fh.read()))
        h.update(name.encode() + b"\0" + ast.dump(tree, annotate_fields=False).encode())
    return h.hexdigest()[:16]


def content_key(cell_fields: dict) -> str:
    return hashlib.sha256(json.dumps(cell_fields, sort_keys=True, default=str).encode()).hexdigest()[:24]


def plan(profile: Profile, tracks: list[str] | None = None, methods: list[str] | None = None,
         tasks: list[str] | None = None, reps: int | None = None, store: Store | None = None) -> list[Cell]:
    """Every cell of ``profile`` (optionally narrowed to some tracks, methods or tasks).

    A solver with a grid in the profile contributes its tuning cells (every grid point x task x
    ``tune_reps`` tuning seeds, validation split) and, once ``store`` holds all of a task's tuning
    cells, the evaluation cells of the point they select (see tiltbench/tuning.py).  So a sweep
    runs in two rounds: ``plan`` again after the tuning cells are stored gives the rest.
    """
    all_tracks = registry.tracks()
    chosen = tracks or [t for t in profile.tracks if t in all_tracks]
    for name in chosen:
        registry.get_track(name)  # unknown track -> clear error
    ok = store.ok_keys() if store is not None else set()
    cells = []
    for track_name in chosen:
        track = registry.get_track(track_name)
        track_cfg = profile.track_config(track_name)
        solver_list = registry.solvers(track_name)
        names = {s.name for s in solver_list}
        if not methods and "methods" in track_cfg:  # the profile's own selection (e.g. no vLLM cell in smoke)
            for m in track_cfg["methods"]:
                if m not in names:
                    raise unknown(f"method/baseline of track {track_name!r} in profile {profile.name!r}", m, names)
            solver_list = [s for s in solver_list if s.name in track_cfg["methods"]]
        if methods:
            for m in methods:
                if m not in names:
                    raise unknown(f"method/baseline of track {track_name!r}", m, names)
            solver_list = [s for s in solver_list if s.name in methods]
        task_list = tasks or track_cfg["tasks"]
        body = {k: v for k, v in track_cfg.items() if k not in _SELECTION_KEYS}
        for task in task_list:
            try:  # validate the task name before anything runs, with the config its cells will get
                track.make_task(task, body, 0)
            except ValueError as exc:
                raise TiltbenchError(f"bad task {task!r} for track {track_name!r}: {exc}") from None
        n_reps = reps or track_cfg["reps"]
        tune_reps = track_cfg.get("tune_reps", 2)
        if not (isinstance(tune_reps, int) and not isinstance(tune_reps, bool) and tune_reps >= 1):
            raise TiltbenchError(f"bad config value profile {profile.name}.tracks.{track_name}.tune_reps = "
                                 f"{tune_reps!r}: expected an integer >= 1")
        for solver in solver_list:
            overrides = profile.solver_overrides(track_name, solver.name)
            config = registry.solver_config(solver, profile.defaults_name, overrides)
            grid = profile.solver_grid(track_name, solver.name)
            points = tuning.grid_points(grid)
            if points and not track.validation:
                raise TiltbenchError(f"profile {profile.name!r} gives {track_name}/{solver.name} a grid, but track "
                                     f"{track_name!r} has no validation split to tune on (Track.validation); "
                                     "remove the grid or give the track one")
            for point in points:  # every grid key and value is checked before anything runs
                registry.solver_config(solver, profile.defaults_name, {**overrides, **point})
            code = module_source_hash(*solver.modules, track.make_task.__module__, track.evaluate.__module__)

            def cell(task, rep, cfg, method=solver.name, split=tuning.TEST, point=None):
                fields = dict(profile=profile.name, track=track_name, task=task, method=method,
                              role=solver.role, rep=rep, config=cfg, track_config=body, code_version=code)
                if split == tuning.TEST:
                    fields.update(seed=cell_seed(profile.base_seed, track_name, task, rep),
                                  task_seed=task_seed(profile.base_seed, track_name, task))
                else:  # tuning: seeds and task instance from streams of their own
                    fields.update(seed=cell_seed(profile.base_seed, track_name, f"{task}/{split}", rep),
                                  task_seed=task_seed(profile.base_seed, track_name, f"{task}/{split}"),
                                  split=split, grid=point)
                return Cell(**fields, content_key=content_key(fields), threads=profile.threads_per_worker,
                            timeout_s=profile.timeout_s, memory_limit_gb=profile.memory_limit_gb)

            for task in task_list:
                if not points:
                    cells += [cell(task, rep, config) for rep in range(n_reps)]
                    continue
                tuning_cells = [cell(task, rep, registry.solver_config(solver, profile.defaults_name,
                                                                       {**overrides, **point}),
                                     tuning.label(solver.name, point), tuning.VALIDATION, point)
                                for point in points for rep in range(tune_reps)]
                cells += tuning_cells
                if store is not None and all(c.content_key in ok for c in tuning_cells):
                    chosen_point = select_point(store, track, tuning_cells)
                    if chosen_point is not None:
                        tuned = registry.solver_config(solver, profile.defaults_name, {**overrides, **chosen_point})
                        cells += [cell(task, rep, tuned) for rep in range(n_reps)]
    return cells


def select_point(store: Store, track: registry.Track, tuning_cells: list[Cell]) -> dict | None:
    """The grid point whose tuning cells have the best mean of the track's selection metric."""
    metric = track.metric(track.selection or track.primary)
    keys = [c.content_key for c in tuning_cells]
    marks = ", ".join("?" * len(keys))
    df = store.query("SELECT r.content_key, m.value FROM latest_runs r JOIN metrics m USING (run_id) "
                     f"WHERE m.name = ? AND r.content_key IN ({marks})", [metric.name, *keys])
    value = dict(zip(df.content_key, df.value))
    scores: dict[str, list[float]] = {}
    points = {}
    for c in tuning_cells:
        scores.setdefault(c.method, []).append(value.get(c.content_key, float("nan")))
        points[c.method] = c.grid
    best = tuning.select(scores, metric.higher_is_better is not False)
    return points.get(best) if best else None


def run_row(cell: Cell, outcome: dict, env_id: str) -> dict:
    return {
        "run_id": uuid.uuid4().hex[:16], "content_key": cell.content_key, "profile": cell.profile,
        "track": cell.track, "task": cell.task, "method": cell.method, "role": cell.role, "rep": cell.rep,
        "seed": cell.seed, "config": json.dumps({"solver": cell.config, "track": cell.track_config,
                                                 "task_seed": cell.task_seed,
                                                 **({"split": cell.split, "grid": cell.grid} if cell.grid else {})},
                                                sort_keys=True),
        "code_version": cell.code_version, "status": outcome["status"], "reason": outcome.get("reason"),
        "started_at": outcome["started_at"], "finished_at": outcome["finished_at"],
        "wall_s": outcome.get("wall_s"), "cpu_s": outcome.get("cpu_s"),
        "peak_mem_mb": outcome.get("peak_mem_mb"), "gpu_s": outcome.get("gpu_s"), "env_id": env_id,
    }


@dataclass
class SweepSummary:
    planned: int
    skipped: int
    ok: int = 0
    failed: int = 0
    interrupted: bool = False


def sweep(store: Store, cells: list[Cell], executor, force: bool = False, show_progress: bool = True,
          console=None) -> SweepSummary:
    """Run ``cells`` not yet stored (all of them with ``force``) and store each outcome."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    console = console or Console(stderr=True)
    done = set() if force else store.ok_keys()
    todo = [c for c in cells if c.content_key not in done]
    summary = SweepSummary(planned=len(cells), skipped=len(cells) - len(todo))
    if summary.skipped:
        console.print(f"skipping {summary.skipped} cell(s) already stored (use --force to redo them)")
    if not todo:
        return summary
    store.init()
    env = fingerprint(executor.name, executor.workers)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not show_progress) as progress:
        bar = progress.add_task("running", total=len(todo))
        try:
            for cell, outcome in executor.run(todo):
                store.write_run(run_row(cell, outcome, env["env_id"]), outcome.get("metrics", {}),
                                outcome.get("curves", {}), env)
                if outcome["status"] == "ok":
                    summary.ok += 1
                    console.print(f"[green]ok[/] {cell.label}  {outcome['wall_s']:.1f} s")
                else:
                    summary.failed += 1
                    console.print(f"[red]failed[/] {cell.label}: {outcome['reason']}")
                progress.update(bar, advance=1, description=f"ok {summary.ok} failed {summary.failed}")
        except KeyboardInterrupt:
            summary.interrupted = True
    return summary
