"""The DuckDB store on real files: writes, views, refusals, locks, corruption, export/import."""

import json
import multiprocessing as mp
from datetime import datetime

import duckdb
import pytest

from tiltbench.errors import TiltbenchError
from tiltbench.store import SCHEMA_VERSION, Store

ENV = {"env_id": "e1", "cpu_model": "cpu", "cores": 2, "ram_gb": 1.0, "gpu_name": "", "gpu_mem_gb": 0.0,
       "cuda": "", "python": "3", "platform": "linux", "packages": {"x": "1"}, "git_commit": "abc",
       "git_dirty": False, "executor": "local", "workers": 1}


def run(run_id, key="k1", status="ok", method="m", rep=0, **kw):
    t = datetime(2026, 1, 1)
    return {"run_id": run_id, "content_key": key, "profile": "p", "track": "t", "task": "x", "method": method,
            "role": "method", "rep": rep, "seed": 1, "config": json.dumps({}), "code_version": "c",
            "status": status, "reason": None if status == "ok" else "boom", "started_at": t, "finished_at": t,
            "wall_s": 1.0, "cpu_s": 1.0, "peak_mem_mb": 1.0, "gpu_s": 0.0, "env_id": "e1", **kw}


def test_write_and_read_back(store_path):
    s = Store(store_path)
    s.write_run(run("r1"), {"acc": 0.5}, {"loss": [(0, 1.0), (1, 0.5)]}, ENV)
    s.write_run(run("r2", key="k2", rep=1), {"acc": 0.7}, {}, ENV)
    s.write_run(run("r3", key="k3", status="failed"), {}, {}, ENV)
    assert s.ok_keys() == {"k1", "k2"}
    lb = s.query("SELECT * FROM leaderboard")
    assert lb.n_seeds.tolist() == [2] and lb["mean"].iloc[0] == pytest.approx(0.6)
    assert s.query("SELECT count(*) AS n FROM curves").n[0] == 2
    assert s.query("SELECT run_id FROM failures").run_id.tolist() == ["r3"]
    assert s.query("SELECT max(version) AS v FROM schema_version").v[0] == SCHEMA_VERSION


def test_queries_inside_reading_share_one_sandboxed_connection_and_release_it(store_path):
    s = Store(store_path)
    s.write_run(run("r1"), {"acc": 0.5}, {}, ENV)
    with s.reading():
        first = s._reader
        assert s.query("SELECT count(*) AS n FROM runs").n[0] == 1 and s._reader is first
        with pytest.raises(TiltbenchError, match="read-only|exactly one"):
            s.query("DELETE FROM runs")  # still refused on the shared connection
        with pytest.raises(TiltbenchError):
            s.query("SELECT * FROM read_csv('/etc/passwd')")  # and still sandboxed
    assert s._reader is None
    s.write_run(run("r2", key="k2", rep=1), {"acc": 0.7}, {}, ENV)  # the read lock is gone: a writer gets in
    assert len(s.query("SELECT * FROM runs")) == 2


@pytest.mark.parametrize("sql", ["DROP TABLE runs", "DELETE FROM runs", "INSERT INTO metrics VALUES ('a','b',1)",
                                 "UPDATE runs SET status = 'x'", "SELECT 1; DROP TABLE runs"])
def test_query_refuses_writes_and_loses_nothing(store_path, sql):
    s = Store(store_path)
    s.write_run(run("r1"), {"acc": 0.5}, {}, ENV)
    with pytest.raises(TiltbenchError, match="read-only|exactly one"):
        s.query(sql)
    assert len(s.query("SELECT * FROM runs")) == 1


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(TiltbenchError, match="no store at"):
        Store(tmp_path / "nope.duckdb").query("SELECT 1")


def test_corrupt_store_is_reported_and_left_untouched(tmp_path):
    path = tmp_path / "bad.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(TiltbenchError, match="cannot be opened as a DuckDB file"):
        Store(path).write_run(run("r1"), {}, {}, ENV)
    with pytest.raises(TiltbenchError, match="cannot be opened"):
        Store(path).query("SELECT 1")
    assert path.read_bytes() == before


def _hold_lock(path, ready, release):
    con = duckdb.connect(str(path))
    ready.set()
    release.wait(30)
    con.close()


def test_locked_store_waits_then_fails_clearly(store_path):
    Store(store_path).write_run(run("r1"), {}, {}, ENV)
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(store_path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(TiltbenchError, match="locked by another process"):
            Store(store_path, lock_wait_s=1).write_run(run("r2", key="k2"), {}, {}, ENV)
    finally:
        release.set()
        holder.join(30)
    # once released, the write goes through and nothing was lost
    Store(store_path).write_run(run("r2", key="k2"), {}, {}, ENV)
    assert Store(store_path).ok_keys() == {"k1", "k2"}


def test_export_import_merges_without_duplicates(tmp_path):
    a, b = Store(tmp_path / "a.duckdb"), Store(tmp_path / "b.duckdb")
    a.write_run(run("r1"), {"acc": 0.5}, {"loss": [(0, 1.0)]}, ENV)
    a.write_run(run("r2", key="k2"), {"acc": 0.6}, {}, ENV)
    b.write_run(run("r9", key="k9"), {"acc": 0.1}, {}, ENV)
    counts = a.export(tmp_path / "exp")
    assert counts["runs"] == 2 and counts["curves"] == 1
    assert b.import_(tmp_path / "exp")["runs"] == 2
    assert b.import_(tmp_path / "exp")["runs"] == 0  # second import adds nothing
    assert sorted(b.query("SELECT run_id FROM runs").run_id) == ["r1", "r2", "r9"]
    assert len(b.query("SELECT * FROM metrics")) == 3


def test_import_of_a_non_export_is_refused(tmp_path, store_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TiltbenchError, match="not a tiltbench export"):
        Store(store_path).import_(tmp_path / "empty")


def test_a_version_1_store_is_migrated_and_keeps_its_rows(store_path):
    from tiltbench.store import MIGRATIONS

    con = duckdb.connect(str(store_path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    con.execute(MIGRATIONS[0])
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.close()
    s = Store(store_path)
    s.write_run(run("old", key="k-old"), {"acc": 0.1}, {}, ENV)  # migrates on open
    later = run("new", key="k-new")
    later["finished_at"] = datetime(2026, 1, 2)
    s.write_run(later, {"acc": 0.9}, {}, ENV)  # same task/method/rep, new code: replaces on the board
    assert s.query("SELECT max(version) AS v FROM schema_version").v[0] == SCHEMA_VERSION == 5
    assert s.query("SELECT run_id FROM latest_runs").run_id.tolist() == ["new"]
    assert len(s.query("SELECT * FROM runs")) == 2  # history kept


def test_the_board_never_mixes_code_versions(store_path):
    """After a code change, a seed re-run with the new code replaces its old run, and a seed not (yet)
    re-run drops out instead of standing beside the new ones."""
    s = Store(store_path)
    s.write_run(run("old0", key="o0", rep=0, code_version="v1"), {"acc": 0.1}, {}, ENV)
    s.write_run(run("old1", key="o1", rep=1, code_version="v1"), {"acc": 0.2}, {}, ENV)
    s.write_run(run("new0", key="n0", rep=0, code_version="v2", finished_at=datetime(2026, 1, 2)), {"acc": 0.9},
                {}, ENV)
    assert s.query("SELECT run_id FROM latest_runs").run_id.tolist() == ["new0"]
    assert s.query("SELECT n_seeds FROM leaderboard").n_seeds.tolist() == [1]
    s.write_run(run("other", key="x1", method="b", rep=1, code_version="v1"), {"acc": 0.5}, {}, ENV)
    assert sorted(s.query("SELECT run_id FROM latest_runs").run_id) == ["new0", "other"]  # per method


def test_export_never_silently_drops_rows_of_an_earlier_export(tmp_path):
    a = Store(tmp_path / "a.duckdb")
    a.write_run(run("r1"), {"acc": 0.5}, {}, ENV)
    a.write_run(run("r2", key="k2", profile="other"), {"acc": 0.6}, {}, ENV)
    a.export(tmp_path / "exp")
    before = (tmp_path / "exp" / "runs.parquet").read_bytes()
    with pytest.raises(TiltbenchError, match=r"holds runs this export would drop \(1 of profile 'other'\); nothing "
                                             r"was written: .*--profile.*tiltbench import .*--replace"):
        a.export(tmp_path / "exp", ["p"])
    assert (tmp_path / "exp" / "runs.parquet").read_bytes() == before
    a.export(tmp_path / "exp", ["p", "other"])  # the same rows again: fine
    assert a.export(tmp_path / "exp", ["p"], replace=True)["runs"] == 1
    (tmp_path / "exp" / "runs.parquet").write_bytes(b"not parquet")
    with pytest.raises(TiltbenchError, match="exists but cannot be read .*--replace"):
        a.export(tmp_path / "exp")


def test_a_report_drops_a_failure_that_a_later_ok_run_of_the_cell_superseded(store_path):
    """A cell that timed out, then ran ok after a code change (another content key), is not "failed" on
    the board; a failure after the ok run still shows."""
    from tiltbench.report import load

    s = Store(store_path)
    s.write_run(run("old-fail", key="k-old", status="failed", finished_at=datetime(2026, 1, 1)), {}, {}, ENV)
    s.write_run(run("new-ok", key="k-new", finished_at=datetime(2026, 1, 2)), {"acc": 0.5}, {}, ENV)
    s.write_run(run("other-fail", key="k-other", status="failed", rep=1, finished_at=datetime(2026, 1, 3)), {}, {},
                ENV)
    data = load(s, "p", "t")
    assert data["runs"].run_id.tolist() == ["new-ok"] and data["failed"].run_id.tolist() == ["other-fail"]
