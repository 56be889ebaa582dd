"""The runner and executor with real worker processes and a real DuckDB file."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import profile_header, tiltbench

from tiltbench.executors import LocalExecutor
from tiltbench.profiles import get_profile
from tiltbench.runner import plan, sweep
from tiltbench.store import Store


def _sweep(store_path, cells, **kw):
    return sweep(Store(store_path), cells, LocalExecutor(2), show_progress=False, **kw)


def test_failures_are_stored_with_reasons_and_the_sweep_goes_on(store_path):
    cells = plan(get_profile("toy"), tracks=["toy"], methods=["good", "boom", "nan", "die"], reps=1)
    summary = _sweep(store_path, cells)
    assert (summary.ok, summary.failed) == (2, 6)
    reasons = Store(store_path).query("SELECT method, reason FROM failures ORDER BY method")
    by_method = dict(zip(reasons.method, reasons.reason))
    assert "ValueError: boom: deliberate failure" in by_method["boom"]
    assert "non-finite metric(s): value" in by_method["nan"]
    assert "killed by SIGKILL" in by_method["die"]
    ok = Store(store_path).query("SELECT * FROM latest_runs")
    assert set(ok.method) == {"good"} and (ok.peak_mem_mb > 0).all()


def test_timeout_and_memory_cap_fail_cleanly(store_path):
    base = {c.method: c for c in plan(get_profile("toy"), tracks=["toy"], methods=["slow", "hog"],
                                      tasks=["const-1"], reps=1)}
    slow = dataclasses.replace(base["slow"], config={"sleep_s": 30.0, "alloc_gb": 0.0}, timeout_s=1.0)
    hog = dataclasses.replace(base["hog"], config={"sleep_s": 0.0, "alloc_gb": 6.0}, memory_limit_gb=4.0)
    t0 = time.monotonic()
    summary = _sweep(store_path, [slow, hog])
    assert summary.failed == 2 and time.monotonic() - t0 < 20
    reasons = sorted(Store(store_path).query("SELECT reason FROM failures").reason)
    assert reasons[0].startswith("out of memory") and reasons[1] == "timeout: exceeded 1 s"


def test_stored_cells_are_skipped_unless_forced(store_path):
    cells = plan(get_profile("toy"), tracks=["toy"], methods=["good"])
    assert _sweep(store_path, cells).ok == 4
    again = _sweep(store_path, cells)
    assert (again.skipped, again.ok) == (4, 0)
    assert _sweep(store_path, cells, force=True).ok == 4
    assert len(Store(store_path).query("SELECT * FROM runs")) == 8
    assert len(Store(store_path).query("SELECT * FROM latest_runs")) == 4


def test_sigkill_of_the_driver_loses_only_cells_in_flight(store_path):
    cmd = [sys.executable, "-m", "tiltbench.cli", "run", "--profile", "toyslow", "--method", "slow",
           "--no-progress", "--store", str(store_path)]
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = Store(store_path)
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and stored < 2:
        assert driver.poll() is None, "the driver exited before it was killed"
        time.sleep(0.3)
        if store_path.exists():
            stored = len(store.ok_keys())
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    before = store.ok_keys()
    assert 2 <= len(before) < 8, "the kill should land mid-sweep"
    rerun = tiltbench("run", "--profile", "toyslow", "--method", "slow", "--no-progress", store=store_path,
                      check=True)
    assert f"skipping {len(before)} cell(s) already stored" in rerun.stderr
    runs = store.query("SELECT content_key, count(*) AS n FROM runs WHERE status = 'ok' GROUP BY 1")
    assert len(runs) == 8 and (runs.n == 1).all()  # every cell exactly once


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                kids = [int(k) for k in fh.read().split()]
        except OSError:
            kids = []
        out.update(kids)
        todo += kids
    return out


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_worker_processes_do_not_outlive_a_killed_driver(store_path, sig):
    """Cells that would run for minutes must die within seconds of their driver."""
    cmd = [sys.executable, "-m", "tiltbench.cli", "run", "--profile", "toyhang", "--method", "slow",
           "--no-progress", "--store", str(store_path)]
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    kids: set[int] = set()
    while time.monotonic() < deadline and len(kids) < 3:  # forkserver + two cells
        assert driver.poll() is None
        time.sleep(0.2)
        kids = _descendants(driver.pid)
    assert len(kids) >= 3
    time.sleep(1.0)  # let the cells get into their 300 s sleep
    driver.send_signal(sig)
    driver.wait(30)
    deadline = time.monotonic() + 10
    alive = kids
    while time.monotonic() < deadline and alive:
        time.sleep(0.2)
        alive = [k for k in kids if os.path.exists(f"/proc/{k}") and open(f"/proc/{k}/stat").read().split()[2] != "Z"]
    assert not alive, f"orphaned workers still running 10 s after {sig.name}: {alive}"
    if sig == signal.SIGTERM:
        assert driver.returncode == 130 and "interrupted" in driver.stderr.read()


def test_two_sweeps_on_one_store_at_once_both_finish_and_lose_nothing(store_path):
    cmd = [sys.executable, "-m", "tiltbench.cli", "run", "--profile", "toyslow", "--method", "slow", "good",
           "--workers", "1", "--no-progress", "--store", str(store_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    store = Store(store_path)
    assert len(store.ok_keys()) == 16  # every cell stored ...
    assert len(store.query("SELECT * FROM runs")) == 16  # ... exactly once: claimed cells are not run twice
    assert len(store.query("SELECT * FROM latest_runs")) == 16
    assert store.query("SELECT count(*) AS n FROM runs WHERE status = 'failed'").n[0] == 0


def test_cells_import_the_drivers_tiltbench_not_the_working_directorys(tmp_path, store_path):
    """Run from a folder holding another `tiltbench` package (a source checkout next to an installed
    copy): the cells must run the same tiltbench the driver uses and stamps the code version of."""
    shadow = tmp_path / "tiltbench"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the working directory's tiltbench was imported')\n")
    script = Path(sys.executable).with_name("tiltbench")  # the console script: no working directory on sys.path
    if not script.exists():
        pytest.skip("no tiltbench console script beside this Python")
    proc = subprocess.run([str(script), "run", "--profile", "toy", "--track", "toy",
                           "--method", "good", "--reps", "1", "--no-progress", "--strict", "--store", str(store_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok 2, failed 0" in proc.stderr


PRELOAD_PROFILE = profile_header("probe", "preload probe", "toy") + """
[probe.tracks.toyp]
tasks = ["c"]
reps = 1

[probe.tracks.toyq]
tasks = ["c"]
reps = 1
"""


@pytest.mark.parametrize("track, preloaded", [("toyp", 1.0), ("toyq", 0.0)])
def test_the_forkserver_imports_a_tracks_preload_once_for_its_cells(tmp_path, track, preloaded):
    """Track.preload reaches the forkserver (a module that is missing, or whose import raises, is skipped),
    so a cell starts with the module imported; a track without it does not get it."""
    (tmp_path / "profiles.toml").write_text(PRELOAD_PROFILE)
    env = {**os.environ, "TILTBENCH_PLUGINS": "toy_track,toy_preload_track",
           "TILTBENCH_PROFILES": str(tmp_path / "profiles.toml")}
    store = tmp_path / "s.duckdb"
    proc = subprocess.run([sys.executable, "-m", "tiltbench.cli", "run", "--profile", "probe", "--track", track,
                           "--no-progress", "--strict", "--store", str(store)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    value = Store(store).query("SELECT m.value FROM runs JOIN metrics m USING (run_id) WHERE m.name = 'value'")
    assert value.value.tolist() == [preloaded]


@pytest.mark.parametrize("setting", [None, "0"])
def test_cells_run_torch_eagerly_whatever_the_environment_says(tmp_path, setting):
    """torch.compile hands a cell its function back (worker.EAGER_ENV), through the forkserver, whose preloads
    load torch's compiler config, and also where the driver's environment asks for compilation."""
    (tmp_path / "profiles.toml").write_text(profile_header("probe", "compile probe", "toy")
                                            + '[probe.tracks.toye]\ntasks = ["c"]\nreps = 1\n')
    env = {k: v for k, v in os.environ.items() if k != "TORCH_COMPILE_DISABLE"}
    env.update({"TILTBENCH_PLUGINS": "toy_track,toy_eager_track", "TILTBENCH_PROFILES": str(tmp_path / "profiles.toml")})
    if setting is not None:
        env["TORCH_COMPILE_DISABLE"] = setting
    store = tmp_path / "s.duckdb"
    proc = subprocess.run([sys.executable, "-m", "tiltbench.cli", "run", "--profile", "probe", "--no-progress",
                           "--strict", "--store", str(store)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    value = Store(store).query("SELECT m.value FROM runs JOIN metrics m USING (run_id) WHERE m.name = 'compiled'")
    assert value.value.tolist() == [0.0]


def _processes_with(mark: str) -> list[int]:
    """Pids of the live processes whose environment holds ``mark`` (what they were started with)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mark.encode() in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours
            pass
    return pids


@pytest.mark.parametrize("case", ["nothing left to run", "bad task"])
def test_a_run_that_runs_no_cell_leaves_no_forkserver_behind(tmp_path, case):
    """`run` starts the forkserver before it builds the tasks; a run that then stops (a bad task value) or has
    nothing to do must not leave it importing (here an 8-second preload) after the command returned."""
    mark = f"run-{os.getpid()}-{case.replace(' ', '-')}"
    (tmp_path / "profiles.toml").write_text(profile_header("probe", "slow preload", "toy")
                                            + '[probe.tracks.toys]\ntasks = ["c"]\nreps = 1\n')
    env = {**os.environ, "TILTBENCH_TEST_MARK": mark, "TILTBENCH_PLUGINS": "toy_track,toy_slow_preload_track",
           "TILTBENCH_PROFILES": str(tmp_path / "profiles.toml")}
    store, log = tmp_path / "s.duckdb", tmp_path / "log"
    cmd = [sys.executable, "-m", "tiltbench.cli", "run", "--profile", "probe", "--no-progress", "--store", str(store)]

    def run(*extra):  # output to a file, not a pipe: a pipe would make this wait for whoever inherited it
        with open(log, "w") as out:
            code = subprocess.run([*cmd, *extra], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=120).returncode
        return code, log.read_text()

    if case == "bad task":
        code, text = run("--task", "d")
        assert code == 2 and "bad task 'd'" in text, text
        assert not store.exists()
    else:
        assert run()[0] == 0
        code, text = run()
        assert code == 0 and "already stored 1, ok 0, failed 0" in text, text
    assert _processes_with(f"TILTBENCH_TEST_MARK={mark}") == []


def test_a_sweep_starts_one_cell_of_each_track_in_turn():
    from tiltbench.runner import interleave_tracks

    one = plan(get_profile("toy"), tracks=["toy"], methods=["good"], reps=1)[0]
    cells = [dataclasses.replace(one, track=t, rep=i) for i, t in enumerate("aaabbc")]
    assert [(c.track, c.rep) for c in interleave_tracks(cells)] == [
        ("a", 0), ("b", 3), ("c", 5), ("a", 1), ("b", 4), ("a", 2)]
    assert interleave_tracks([]) == []
