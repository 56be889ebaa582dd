"""Concurrency and faults on a real store: real `tiltbench run` processes, real kills, a real lock
holder and a real truncated file.  Nothing finished is lost and nothing is stored twice."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import duckdb
from conftest import tiltbench

from tiltbench.store import Store

RUN = [sys.executable, "-m", "tiltbench.cli", "run", "--profile", "toyslow", "--method", "slow", "--no-progress"]


def _start(store_path, log, env=None, tasks=("const-1", "const-2")):
    """A `tiltbench run` of toyslow's `slow` cells (1.5 s each, 2 reps per task) in the background."""
    fh = open(log, "w")
    proc = subprocess.Popen([*RUN, "--task", *tasks, "--store", str(store_path)], stdout=subprocess.DEVNULL,
                            stderr=fh, text=True,
                            env={**os.environ, **(env or {})})
    proc.log = log
    return proc


def _wait_for(pred, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ok_rows(store_path) -> int:
    try:  # a raw read-only look, so the test never takes part in the store's claims
        con = duckdb.connect(str(store_path), read_only=True)
    except duckdb.Error:
        return 0  # locked by a writer at this instant, or not created yet
    try:
        return con.execute("SELECT count(*) FROM runs WHERE status = 'ok'").fetchall()[0][0]
    except duckdb.Error:
        return 0
    finally:
        con.close()


def _one_row_per_key(store_path, n):
    runs = Store(store_path).query("SELECT content_key, count(*) AS n FROM runs GROUP BY 1")
    assert len(runs) == n and (runs.n == 1).all(), runs


def test_two_identical_runs_compute_each_cell_once(store_path, tmp_path):
    a = _start(store_path, tmp_path / "a.log")
    _wait_for(lambda: "cell(s) in profile" in open(a.log).read(), what="the first run to start")
    b = _start(store_path, tmp_path / "b.log")
    assert a.wait(180) == 0 and b.wait(180) == 0, open(a.log).read() + open(b.log).read()
    logs = open(a.log).read() + open(b.log).read()
    assert "being run by another tiltbench run (pid" in logs, logs
    assert "run by another tiltbench run 4" in logs, logs  # the waiting run says it did not redo them
    _one_row_per_key(store_path, 4)
    assert not Store(store_path).query("SELECT * FROM claims").shape[0]  # every claim released


def test_a_waiting_run_takes_over_the_cells_of_a_killed_run(store_path, tmp_path):
    every = ("const-1", "const-2", "const-3", "const-4")
    a = _start(store_path, tmp_path / "a.log", tasks=every)
    _wait_for(lambda: _ok_rows(store_path) >= 1, what="the first stored cell")
    b = _start(store_path, tmp_path / "b.log", tasks=every)
    _wait_for(lambda: "being run by another" in open(b.log).read(), what="the second run to wait")
    a.send_signal(signal.SIGKILL)  # its claims stay behind, held by a dead pid
    a.wait(30)
    assert b.wait(180) == 0, open(b.log).read()
    assert "taking over" in open(b.log).read()
    _one_row_per_key(store_path, 8)


def _hold(store_path, seconds, tmp_path):
    """Another process keeps the store open (read-only) for ``seconds``; returns once it holds it."""
    flag = tmp_path / "held"
    code = ("import duckdb, sys, time\n"
            "while True:\n"
            "    try:\n"
            "        con = duckdb.connect(sys.argv[1], read_only=True); break\n"
            "    except duckdb.Error:\n"
            "        time.sleep(0.05)\n"
            "open(sys.argv[2], 'w').close()\n"
            "time.sleep(float(sys.argv[3]))\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(store_path), str(flag), str(seconds)])
    _wait_for(flag.exists, what="the lock holder")
    return holder


def test_a_reader_holding_the_store_longer_than_the_lock_wait_loses_no_cell(store_path, tmp_path):
    a = _start(store_path, tmp_path / "a.log", env={"TILTBENCH_LOCK_WAIT_S": "1"})
    _wait_for(lambda: _ok_rows(store_path) >= 1, what="the first stored cell")
    holder = _hold(store_path, 6, tmp_path)  # > the 1 s lock wait, while cells keep finishing
    assert a.wait(180) == 0, open(a.log).read()
    holder.wait(30)
    log = open(a.log).read()
    assert f"locked by another process, pid {holder.pid}" in log, log
    assert "ok 4" in log
    _one_row_per_key(store_path, 4)
    assert not Store(store_path).spill_path.exists()


def test_a_driver_killed_while_the_store_is_locked_keeps_its_finished_cells(store_path, tmp_path):
    a = _start(store_path, tmp_path / "a.log", env={"TILTBENCH_LOCK_WAIT_S": "1"})
    _wait_for(lambda: _ok_rows(store_path) >= 1, what="the first stored cell")
    holder = _hold(store_path, 300, tmp_path)
    try:
        log = lambda: open(a.log).read()  # noqa: E731
        _wait_for(lambda: "is locked by" in log() and len(re.findall(r"^ok ", log().split("is locked by")[1], re.M)),
                  what="a cell finished while the store is locked")
        a.send_signal(signal.SIGKILL)
        a.wait(30)
    finally:
        holder.kill()
        holder.wait(30)
    finished = set(re.findall(r"^ok (\S+)", open(a.log).read(), re.M))  # every cell the driver reported done
    assert Store(store_path).spill_path.exists()
    rerun = tiltbench("run", "--profile", "toyslow", "--method", "slow", "--task", "const-1", "const-2",
                      "--no-progress", store=store_path, check=True)
    assert re.search(r"stored \d+ finished cell\(s\) that an earlier run left", rerun.stderr), rerun.stderr
    runs = Store(store_path).query("SELECT track || '/' || task || '/' || method || '#' || rep AS label FROM runs")
    assert finished <= set(runs.label), finished - set(runs.label)
    _one_row_per_key(store_path, 4)
    assert not Store(store_path).spill_path.exists()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_truncated_store_is_detected_and_never_written(store_path, tmp_path):
    tiltbench("run", "--profile", "toy", "--method", "good", "--no-progress", store=store_path, check=True)
    con = duckdb.connect(str(store_path))  # enough rows that the data spans several blocks
    con.execute("INSERT INTO curves SELECT 'x', 'big', range, random() FROM range(400000)")
    con.close()
    size = store_path.stat().st_size
    os.truncate(store_path, size // 2)
    before = _sha(store_path)
    for args in (["run", "--profile", "toy", "--method", "good", "--no-progress"],
                 ["query", "select count(*) from runs"], ["query", "select count(*), sum(value) from curves"],
                 ["report", "--profile", "toy", "--out", tmp_path / "out"]):
        out = tiltbench(*args, store=store_path)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
        assert str(store_path) in lines[0] and "damaged" in lines[0] and "tiltbench export" in lines[0], lines[0]
        assert "move the file aside" in lines[0]
        assert out.stdout == "" or "count" not in out.stdout
        assert _sha(store_path) == before, f"{args} changed the damaged file"
        assert not store_path.with_name(store_path.name + ".wal").exists()
