"""Run cells on a Ray cluster (or a local Ray instance); the driver still writes the store.

Each cell is one Ray task with the profile's resources (CPUs = threads_per_worker, GPUs =
1 / cells_per_gpu when the profile has GPUs, so Ray sets the task's CUDA_VISIBLE_DEVICES; memory =
memory_limit_gb) and ``max_calls=1``, so every cell gets a fresh worker
process, as with the local executor.  At most ``workers`` cells are in flight at once.  A cell's
timeout counts from its submission, so it includes the Ray worker's start-up (seconds).
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator

from .errors import TiltbenchError
from .worker import Cell, now, run_cell


def _remote_cell(cell: Cell):
    return run_cell(cell)


class RayExecutor:
    name = "ray"

    def __init__(self, workers: int = 1, threads: int = 1, address: str | None = None, gpus: float = 0.0,  # per cell
                 memory_gb: float = 0.0):
        try:
            import ray
        except ImportError:
            raise TiltbenchError("the ray executor needs Ray: pip install 'tiltbench[ray]'") from None
        self.ray = ray
        self.workers = max(1, int(workers))
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": self.workers * threads}
            try:
                ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise TiltbenchError(f"cannot start or reach Ray (address {address or 'local'}): {exc}") from None
        options = {"num_cpus": threads, "max_calls": 1, "max_retries": 0}
        if gpus:
            options["num_gpus"] = gpus
        if memory_gb:
            options["memory"] = int(memory_gb * 2**30)
        self._task = ray.remote(**options)(_remote_cell)

    def _outcome(self, ref) -> dict:
        ray = self.ray
        try:
            status, payload = ray.get(ref)
        except ray.exceptions.OutOfMemoryError as exc:
            return {"status": "failed", "reason": f"out of memory (Ray): {str(exc).splitlines()[0]}"}
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return {"status": "failed", "reason": f"Ray worker failed: {type(exc).__name__}: {first}"}
        return {"status": "ok", "reason": None, **payload} if status == "ok" else {"status": "failed", "reason": payload}

    def run(self, cells: Iterable[Cell]) -> Iterator[tuple[Cell, dict]]:
        ray = self.ray
        pending = list(cells)[::-1]
        running: dict = {}  # ref -> (cell, started_at, t0)
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    cell = pending.pop()
                    running[self._task.remote(cell)] = (cell, now(), time.monotonic())
                done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                for ref in list(running):
                    cell, started, t0 = running[ref]
                    if ref in done:
                        outcome = self._outcome(ref)
                    elif time.monotonic() - t0 > cell.timeout_s:
                        ray.cancel(ref, force=True)
                        outcome = {"status": "failed", "reason": f"timeout: exceeded {cell.timeout_s:g} s"}
                    else:
                        continue
                    del running[ref]
                    outcome.setdefault("wall_s", time.monotonic() - t0)
                    yield cell, {**outcome, "started_at": started, "finished_at": now()}
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
