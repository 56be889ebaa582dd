"""Executors run cells and hand outcomes back to the driver; they never write the store.

An executor is any object with ``name``, ``workers`` and ``run(cells)`` yielding
``(cell, outcome)`` as cells finish, where an outcome is a dict with ``status`` ('ok' | 'failed'),
``reason``, ``started_at``, ``finished_at`` and, when ok, the worker's result.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import multiprocessing.connection
import signal
import time
from collections import deque
from typing import Iterable, Iterator

from .errors import TiltbenchError, unknown
from .worker import PRELOAD_ENV, Cell, child_main, now


# Imported once by the forkserver (tiltbench.preload imports torch); the modules of the solvers and
# tracks a sweep runs are added by LocalExecutor.run (see preload_modules).
PRELOAD = ["tiltbench.worker", "tiltbench.preload"]


def preload_modules(cells: Iterable[Cell]) -> tuple[list[str], list[str]]:
    """(the modules the cells' solvers and tracks live in, with the modules they depend on; the
    third-party modules their tracks name in ``Track.preload``).

    Registration only names them (registry.LazyFunction); the forkserver imports them once, so no
    cell pays for importing torch, POT, transformers or diffusers again.  The first go to the
    forkserver's preload list; the second through PRELOAD_ENV to tiltbench.preload, which imports each
    one it can: a package that fails to import (a broken install) must fail only its own track's cells,
    with their reason, not the forkserver."""
    from . import registry

    names: dict[str, None] = {}
    extra: dict[str, None] = {}
    for cell in cells:
        try:
            track, solver = registry.get_track(cell.track), registry.get_solver(cell.track, cell.solver)
        except TiltbenchError:
            continue  # the cell itself reports it
        names.update(dict.fromkeys(solver.code_modules(track)))
        extra.update(dict.fromkeys(track.preload))
    return list(names), [m for m in extra if m not in names]


def gpu_slots(gpus: int, cells_per_gpu: int = 1, visible: str | None = None) -> list[str]:
    """The GPU each concurrent cell may take: every GPU ``cells_per_gpu`` times, named as the
    CUDA_VISIBLE_DEVICES entries of this process (``visible``; all of 0..gpus-1 when unset).

    >>> gpu_slots(2, 2)
    ['0', '1', '0', '1']
    >>> gpu_slots(1, 1, visible="3,5")
    ['3']
    """
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else [str(i) for i in range(gpus)]
    if gpus > len(ids):
        raise TiltbenchError(f"the profile asks for {gpus} GPU(s) but CUDA_VISIBLE_DEVICES={visible!r} "
                             f"names {len(ids)}")
    return [ids[g] for _ in range(cells_per_gpu) for g in range(gpus)]


def exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (often the kernel's out-of-memory killer)" if name == "SIGKILL" else ""
        return f"worker killed by {name}{hint} before reporting a result"
    return f"worker exited with code {exitcode} before reporting a result"


class LocalExecutor:
    """A pool of fresh processes on this machine: one process per cell, ``workers`` at a time.

    A process per cell isolates crashes, leaks and thread state, and makes a timeout enforceable
    with SIGKILL.  Cells are forked from a forkserver that has already imported torch and the modules
    of the sweep's solvers and tracks, so a cell does not pay the seconds of imports (the server
    runs no computation itself, so no thread pool is forked).

    With ``gpus`` > 0 each cell is handed one GPU through CUDA_VISIBLE_DEVICES, at most
    ``cells_per_gpu`` cells per GPU at a time, so at most gpus x cells_per_gpu cells run at once.
    """

    name = "local"

    def __init__(self, workers: int = 1, threads: int = 1, gpus: int = 0, cells_per_gpu: int = 1):
        self.workers = max(1, int(workers))
        self._free_gpus = gpu_slots(gpus, cells_per_gpu, os.environ.get("CUDA_VISIBLE_DEVICES")) if gpus else []
        if gpus:
            self.workers = min(self.workers, len(self._free_gpus))
        # The forkserver inherits this environment when it starts: BLAS/OpenMP pools are sized
        # at import there, so size them for one cell now.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        # The forkserver starts as `python -c ...`, which puts its working directory first on sys.path:
        # run from a source checkout, its cells would import the checkout's tiltbench while this
        # driver (and the code version it stamps) uses the installed one.  Give it this process's
        # tiltbench instead, and no working directory.
        import tiltbench

        root = os.path.dirname(os.path.dirname(os.path.abspath(tiltbench.__file__)))
        os.environ["PYTHONSAFEPATH"] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(
            [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]))
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._started = False

    def start(self, cells: Iterable[Cell]) -> None:
        """Start the forkserver with the preloads of ``cells``, so that it imports them while the driver goes on
        (`tiltbench run` checks the tasks meanwhile); ``run`` starts it otherwise.  Its preloads are fixed from
        then on: a later call, or a later sweep's cells, add none."""
        from multiprocessing import forkserver

        if self._started:
            return
        modules, third_party = preload_modules(cells)
        self._ctx.set_forkserver_preload(PRELOAD + modules)
        os.environ[PRELOAD_ENV] = ",".join(third_party)  # the forkserver inherits this environment
        forkserver.ensure_running()
        self._started = True

    def stop(self) -> None:
        """Kill the forkserver this executor started, mid-import if need be: the run ends before its cells (a bad
        task), and the server would otherwise finish its imports after the command has returned."""
        from multiprocessing import forkserver

        pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
        if self._started and pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def run(self, cells: Iterable[Cell]) -> Iterator[tuple[Cell, dict]]:
        pending = deque(cells)
        self.start(pending)
        running: dict = {}  # conn -> (process, cell, started_at, start_monotonic, gpu)
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    cell = pending.popleft()
                    gpu = self._free_gpus.pop(0) if self._free_gpus else None
                    parent, child = self._ctx.Pipe(duplex=False)
                    proc = self._ctx.Process(target=child_main, args=(cell, child, gpu), daemon=True,
                                             name=f"tiltbench:{cell.label}")
                    proc.start()
                    child.close()
                    running[parent] = (proc, cell, now(), time.monotonic(), gpu)
                mp.connection.wait([*running, *(p.sentinel for p, *_ in running.values())], timeout=0.5)
                for conn in list(running):
                    proc, cell, started, t0, gpu = running[conn]
                    outcome = None
                    if conn.poll():
                        try:
                            status, payload = conn.recv()
                        except (EOFError, OSError):
                            proc.join(5)
                            status, payload = "failed", exit_reason(proc.exitcode)
                        outcome = ({"status": "ok", "reason": None, **payload} if status == "ok"
                                   else {"status": "failed", "reason": payload})
                    elif not proc.is_alive():
                        outcome = {"status": "failed", "reason": exit_reason(proc.exitcode)}
                    elif time.monotonic() - t0 > cell.timeout_s:
                        proc.kill()
                        outcome = {"status": "failed", "reason": f"timeout: exceeded {cell.timeout_s:g} s"}
                    if outcome is None:
                        continue
                    proc.join(5)
                    conn.close()
                    del running[conn]
                    if gpu is not None:
                        self._free_gpus.append(gpu)
                    outcome.setdefault("wall_s", time.monotonic() - t0)
                    yield cell, {**outcome, "started_at": started, "finished_at": now()}
        finally:
            for conn, (proc, *_rest) in running.items():
                proc.kill()
                proc.join(5)
                conn.close()


def _ray(**kwargs):
    from .ray_executor import RayExecutor  # imports ray only when asked for

    return RayExecutor(**kwargs)


EXECUTORS = {"local": LocalExecutor, "ray": _ray}


def make_executor(name: str, workers: int, threads: int = 1, address: str | None = None, gpus: int = 0,
                  cells_per_gpu: int = 1, memory_gb: float = 0.0):
    """An executor by name.  ``gpus`` (the profile's) and ``cells_per_gpu`` apply to both; ``address``
    and ``memory_gb`` (per cell) to Ray only."""
    if name not in EXECUTORS:
        raise unknown("executor", name, EXECUTORS)
    if name == "local":
        if address:
            raise TiltbenchError(f"--address {address!r} only applies to --executor ray")
        return LocalExecutor(workers=workers, threads=threads, gpus=gpus, cells_per_gpu=cells_per_gpu)
    return EXECUTORS[name](workers=workers, threads=threads, address=address,
                           gpus=1.0 / cells_per_gpu if gpus else 0.0, memory_gb=memory_gb)
