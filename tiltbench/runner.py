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
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape

from . import registry, tuning
from .errors import TiltbenchError, unknown
from .fingerprint import fingerprint
from .profiles import MAX_REPS, Profile
from .seeds import cell_seed, task_seed
from .worker import Cell

if TYPE_CHECKING:  # duckdb and pandas load with the store, when a sweep opens it
    from .store import Store

# Keys of a track's profile section that choose which cells exist rather than what a cell computes
# (and what the report shows beside them); not part of a cell's config.  ``task_overrides`` is merged
# into the config of its task's cells instead.
_SELECTION_KEYS = ("tasks", "reps", "methods", "tune_reps", "report_with", "task_overrides")
MAX_CELLS = 100_000  # one sweep; more is almost surely a typo (and would take minutes just to plan)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


# Fields that Python versions after 3.11 added to nodes this code uses; left out of the dump while
# empty, so a cell's code version is the same under 3.11, 3.12 and 3.13 (the GPU machine runs 3.12).
_NEWER_FIELDS = frozenset({"type_params"})


def _dump(node) -> str:
    """``ast.dump(node, annotate_fields=False)`` as Python 3.11 writes it, under any Python 3.11+.

    ``ast.dump``'s text changes between versions (3.12 adds ``type_params`` to every function and
    class, 3.13 leaves out empty fields), which made the code version of the same source differ on a
    machine with another Python: every GPU cell looked stale here.  This writes the 3.11 form (its
    rule: a field that is None where the class's default is None is left out, and the fields after
    it are written as name=value) and leaves out the newer fields while they are empty, so stored
    code versions computed under 3.11 stay valid."""
    if isinstance(node, ast.AST):
        args, keywords = [], False
        for name in node._fields:
            try:
                value = getattr(node, name)
            except AttributeError:
                keywords = True
                continue
            if name in _NEWER_FIELDS and not value:
                continue
            if value is None and getattr(type(node), name, ...) is None:
                keywords = True
                continue
            args.append(f"{name}={_dump(value)}" if keywords else _dump(value))
        return f"{type(node).__name__}({', '.join(args)})"
    if isinstance(node, list):
        return f"[{', '.join(_dump(x) for x in node)}]"
    return repr(node)


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
        h.update(name.encode() + b"\0" + _dump(tree).encode())
    return h.hexdigest()[:16]


def content_key(cell_fields: dict) -> str:
    return hashlib.sha256(json.dumps(cell_fields, sort_keys=True, default=str).encode()).hexdigest()[:24]


def code_version(solver: registry.Solver, track: registry.Track) -> str:
    """The code version of a cell of ``solver`` on ``track``: the hash of every module it runs."""
    return module_source_hash(*solver.code_modules(track))


def plan(profile: Profile, tracks: list[str] | None = None, methods: list[str] | None = None,
         tasks: list[str] | None = None, reps: int | None = None, store: Store | None = None,
         build_tasks: bool = True) -> list[Cell]:
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
    if reps is not None and not 1 <= reps <= MAX_REPS:
        raise TiltbenchError(f"bad value --reps {reps}: must be between 1 and {MAX_REPS}")
    finished = store.ok_keys(finished=True) if store is not None else set()
    cells = []
    total = 0
    for track_name in chosen:
        track = registry.get_track(track_name)
        track_cfg = profile.track_config(track_name)
        solver_list = registry.solvers(track_name)
        names = {s.name for s in solver_list}
        if not methods and "methods" in track_cfg:  # the profile's own selection (e.g. no vLLM cell in smoke)
            for m in track_cfg["methods"]:
                if m not in names:
                    raise unknown("method/baseline", m, names, f"of track {track_name!r} in profile {profile.name!r}")
            solver_list = [s for s in solver_list if s.name in track_cfg["methods"]]
        if methods:
            for m in methods:
                if m not in names:
                    raise unknown("method/baseline", m, names, f"of track {track_name!r}")
            solver_list = [s for s in solver_list if s.name in methods]
        task_list = tasks or track_cfg["tasks"]
        total += len(solver_list) * len(task_list) * (reps or track_cfg["reps"])
        if total > MAX_CELLS:
            raise TiltbenchError(f"profile {profile.name!r} with these filters plans more than {MAX_CELLS} cells "
                                 f"({len(task_list)} task(s) x {len(solver_list)} solver(s) x "
                                 f"{reps or track_cfg['reps']} rep(s) in track {track_name!r} alone); "
                                 "narrow it with --track/--task/--method or lower --reps")
        shared = {k: v for k, v in track_cfg.items() if k not in _SELECTION_KEYS}
        body = {task: {**shared, **profile.task_overrides(track_name, task)} for task in task_list}
        for task in task_list:
            try:  # validate the task name before anything runs; metadata only: a typo fails before the track is imported
                track.check_task_name(task)
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
            configs = {}
            for point in points:  # every grid key and value is checked before anything runs
                label = tuning.label(solver.name, point)
                cfg = registry.solver_config(solver, profile.defaults_name, {**overrides, **point})
                if label in configs or cfg in configs.values():
                    raise TiltbenchError(f"profile {profile.name!r}: the grid of {track_name}/{solver.name} has two "
                                         f"points that are the same after type conversion or labelling ({label}); "
                                         "make its values distinct")
                configs[label] = cfg
            code = code_version(solver, track)

            def cell(task, rep, cfg, method=solver.name, split=tuning.TEST, point=None):
                fields = dict(profile=profile.name, track=track_name, task=task, method=method,
                              role=solver.role, rep=rep, config=cfg, track_config=body[task], code_version=code)
                if split == tuning.TEST:
                    fields.update(seed=cell_seed(profile.base_seed, track_name, task, rep),
                                  task_seed=task_seed(profile.base_seed, track_name, track.instance_name(task)))
                    if point:  # a tuned row records the grid point it was selected from
                        fields.update(grid=point)
                else:  # tuning: seeds and task instance from streams of their own
                    fields.update(seed=cell_seed(profile.base_seed, track_name, f"{task}/{split}", rep),
                                  task_seed=task_seed(profile.base_seed, track_name, f"{track.instance_name(task)}/{split}"),
                                  split=split, grid=point)
                return Cell(**fields, content_key=content_key(fields), threads=profile.threads_per_worker,
                            timeout_s=profile.timeout_s, memory_limit_gb=profile.memory_limit_gb,
                            device=profile.device)

            for task in task_list:
                if not points:
                    cells += [cell(task, rep, config) for rep in range(n_reps)]
                    continue
                tuning_cells = [cell(task, rep, configs[tuning.label(solver.name, point)],
                                     tuning.label(solver.name, point), tuning.VALIDATION, point)
                                for point in points for rep in range(tune_reps)]
                cells += tuning_cells
                # once every tuning cell has finished (a failed point is left out of the selection)
                if store is not None and all(c.content_key in finished for c in tuning_cells):
                    chosen = select_point(store, solver.selection_metric(track), tuning_cells)
                    if chosen is not None:
                        tuned = configs[tuning.label(solver.name, chosen)]
                        cells += [cell(task, rep, tuned, point=chosen) for rep in range(n_reps)]
    if build_tasks:
        check_tasks(cells)
    return cells


def check_tasks(cells: list[Cell]) -> None:
    """Build each task of ``cells`` once, with the config its cells get, so that a bad value (d, lam, n, a file
    that is not there) fails before anything runs.  It imports the tracks' code: seconds, which `tiltbench run`
    spends while the executor's forkserver imports the same modules."""
    seen = set()
    for c in cells:
        key = (c.track, c.task, json.dumps(c.track_config, sort_keys=True, default=str))
        if key in seen:
            continue
        seen.add(key)
        try:
            registry.get_track(c.track).make_task(c.task, c.track_config, 0)
        except ValueError as exc:
            raise TiltbenchError(f"bad task {c.task!r} for track {c.track!r}: {exc}") from None


def select_point(store: Store, metric: registry.Metric, tuning_cells: list[Cell]) -> dict | None:
    """The grid point whose tuning cells have the best mean of ``metric`` (the solver's selection metric)."""
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


def interleave_tracks(cells: list[Cell]) -> list[Cell]:
    """The cells in the order they start: one of each track in turn, each track's in plan order.

    A track's first cell builds what its other cells share (the llm model conversion and reference set,
    the t2i base models), and they wait on its lock meanwhile; run track after track, those builds
    happen one after another while a worker waits.  Interleaved, they start at once, beside the other
    tracks' small cells (the smoke sweep from an empty cache: 5.6 min in track order)."""
    queues: dict[str, list[Cell]] = {}
    for cell in cells:
        queues.setdefault(cell.track, []).append(cell)
    out: list[Cell] = []
    while queues:
        for track in list(queues):
            out.append(queues[track].pop(0))
            if not queues[track]:
                del queues[track]
    return out


def run_row(cell: Cell, outcome: dict, env_id: str) -> dict:
    return {
        "run_id": uuid.uuid4().hex[:16], "content_key": cell.content_key, "profile": cell.profile,
        "track": cell.track, "task": cell.task, "method": cell.method, "role": cell.role, "rep": cell.rep,
        "seed": cell.seed, "config": json.dumps({"solver": cell.config, "track": cell.track_config,
                                                 "task_seed": cell.task_seed,
                                                 **({"split": cell.split, "grid": cell.grid} if cell.grid else {}),
                                                 **({"device": cell.device} if cell.device != "cpu" else {})},
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
    by_others: int = 0  # cells another sweep on the same store ran while this one waited
    unsaved: int = 0  # finished cells left in the spill file (interrupted while the store was locked)


class _Writer:
    """Writes finished cells to the store; never drops one.

    A cell that cannot be written (another process holds the store) stays in memory and is appended
    to the store's spill file at once, so it survives even a SIGKILL of the driver; writing is retried
    until it succeeds, and the next sweep or import replays the spill file."""

    def __init__(self, store: Store, owner: str, console):
        self.store, self.owner, self.console = store, owner, console
        self.pending: list[dict] = []
        self.spilled = False
        self.last_note = 0.0

    def add(self, record: dict) -> None:
        self.pending.append(record)
        self.flush(wait_s=min(1.0, self.store.lock_wait_s))

    def flush(self, wait_s: float | None = None) -> bool:
        from .store import StoreLocked

        while self.pending:
            rec = self.pending[0]
            try:
                self.store.write_run(rec["run"], rec["metrics"], rec["curves"], rec["env"], owner=self.owner,
                                     lock_wait_s=wait_s)
            except StoreLocked as exc:
                self._keep(exc.holder)
                return False
            self.pending.pop(0)
        if self.spilled:  # everything is in the store now: empty the spill file (replay is idempotent)
            try:
                self.store.replay_spill()
                self.spilled = False
            except StoreLocked:
                pass
        return True

    def _keep(self, holder: str) -> None:
        unspilled = [r for r in self.pending if not r.get("_spilled")]
        self.store.spill(unspilled)
        for r in unspilled:
            r["_spilled"] = True
        self.spilled = True
        if time.monotonic() - self.last_note > max(self.store.lock_wait_s, 1.0) or unspilled:
            self.last_note = time.monotonic()
            self.console.print(f"[yellow]store {escape(str(self.store.path))} is locked by another process, {escape(holder)}[/]: "
                               f"keeping {len(self.pending)} finished cell(s) in memory and in "
                               f"{escape(str(self.store.spill_path))}; retrying")

    def drain(self) -> None:
        """Retry until every finished cell is stored (Ctrl-C leaves them in the spill file)."""
        while not self.flush(wait_s=self.store.lock_wait_s):
            pass


def sweep(store: Store, cells: list[Cell], executor, force: bool = False, show_progress: bool = True,
          console=None, poll_s: float = 2.0) -> SweepSummary:
    """Run ``cells`` not yet stored (all of them with ``force``) and store each outcome.

    Cells are claimed in the store before they run; cells another live sweep has claimed are left to
    it, and this sweep waits for them (taking over any whose owner dies)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    console = console or Console(stderr=True, soft_wrap=True, highlight=False)  # one line per message
    replayed = store.replay_spill()
    if replayed:
        console.print(f"stored {replayed} finished cell(s) that an earlier run left in {escape(str(store.spill_path))}")
    owner = uuid.uuid4().hex
    by_key = {c.content_key: c for c in cells}
    got = store.claim(list(by_key), owner, skip_ok=not force)
    done = got["ok"] if not force else set()
    summary = SweepSummary(planned=len(cells), skipped=sum(c.content_key in done for c in cells))
    if summary.skipped:
        console.print(f"skipping {summary.skipped} cell(s) already stored (use --force to redo them)")
    waiting = {k: got["rows"].get(k, 0) for k in got["others"]}
    if waiting:
        holders = ", ".join(sorted(set(got["others"].values())))
        console.print(f"{len(waiting)} cell(s) are being run by another tiltbench run ({holders}); this run "
                      "waits for them and takes over any whose run stops")
    todo = interleave_tracks([c for c in cells if c.content_key in got["mine"]])
    if not todo and not waiting:
        return summary
    env = fingerprint(executor.name, executor.workers)
    writer = _Writer(store, owner, console)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not show_progress) as progress:
        bar = progress.add_task("running", total=len(todo) + len(waiting))
        try:
            while todo or waiting:
                for cell, outcome in (executor.run(todo) if todo else ()):
                    writer.add({"run": run_row(cell, outcome, env["env_id"]), "metrics": outcome.get("metrics", {}),
                                "curves": outcome.get("curves", {}), "env": env, "owner": owner})
                    if outcome["status"] == "ok":
                        summary.ok += 1
                        console.print(f"[green]ok[/] {escape(cell.label)}  {outcome['wall_s']:.1f} s")
                    else:
                        summary.failed += 1
                        console.print(f"[red]failed[/] {escape(cell.label)}: {escape(str(outcome['reason']))}")
                    progress.update(bar, advance=1, description=f"ok {summary.ok} failed {summary.failed}")
                writer.drain()
                todo = []
                if waiting:  # cells of another sweep: stored by it, or taken over when it stops
                    time.sleep(poll_s)
                    got = store.claim(list(waiting), owner, skip_ok=not force)
                    finished = [k for k in waiting if got["rows"].get(k, 0) > waiting[k]]
                    for k in finished:
                        del waiting[k]
                    summary.by_others += len(finished)
                    todo = [by_key[k] for k in waiting if k in got["mine"] and k not in finished]
                    for c in todo:
                        del waiting[c.content_key]
                    if todo:
                        console.print(f"taking over {len(todo)} cell(s) whose run stopped before finishing them")
                    progress.update(bar, advance=len(finished))
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.unsaved = len(writer.pending)
            if writer.pending:
                writer.store.spill([r for r in writer.pending if not r.get("_spilled")])
            try:
                store.release(owner, lock_wait_s=min(2.0, store.lock_wait_s))
            except TiltbenchError:
                pass  # claims of a process that has exited lapse by themselves
    return summary
