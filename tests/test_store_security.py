"""`tiltbench query`, `export` and `import` cannot read or write anything but the store, and cannot change it.

Each attack runs through the real CLI against a real DuckDB file; afterwards every file in the test
folder (the store included) has the same bytes and the store's tables hold the same rows.
"""

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import tiltbench

from tiltbench.errors import TiltbenchError
from tiltbench.store import Store

ENV = {"env_id": "e1", "cpu_model": "cpu", "cores": 2, "ram_gb": 1.0, "gpu_name": "", "gpu_mem_gb": 0.0,
       "cuda": "", "python": "3", "platform": "linux", "packages": {"x": "1"}, "git_commit": "abc",
       "git_dirty": False, "executor": "local", "workers": 1}
SECRET = "tiltbench-secret-7f3a"


def _run(run_id, key):
    t = datetime(2026, 1, 1)
    return {"run_id": run_id, "content_key": key, "profile": "p", "track": "t", "task": "x", "method": "m",
            "role": "method", "rep": 0, "seed": 1, "config": json.dumps({}), "code_version": "c", "status": "ok",
            "reason": None, "started_at": t, "finished_at": t, "wall_s": 1.0, "cpu_s": 1.0, "peak_mem_mb": 1.0,
            "gpu_s": 0.0, "env_id": "e1"}


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _tables(store) -> dict[str, int]:
    s = Store(store)
    return {t: int(s.query(f"SELECT count(*) AS n FROM {t}").n[0]) for t in ("runs", "metrics", "curves",
                                                                              "environments", "schema_version")}


@pytest.fixture
def arena(tmp_path):
    """A store with two runs, a victim file, a secret file, and a folder that IMPORT DATABASE would run."""
    store = tmp_path / "store.duckdb"
    s = Store(store)
    s.write_run(_run("r1", "k1"), {"acc": 0.5}, {"loss": [(0, 1.0), (1, 0.5)]}, ENV)
    s.write_run(_run("r2", "k2"), {"acc": 0.7}, {"loss": [(0, 2.0)]}, ENV)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    evil = tmp_path / "evil_db"
    evil.mkdir()
    (evil / "schema.sql").write_text(f"COPY (SELECT 'pwned') TO '{victim}' (FORMAT csv);\n"
                                     "DROP TABLE curves;\n")
    (evil / "load.sql").write_text("")
    return tmp_path, store, victim


ATTACKS = [
    # item 1: EXPLAIN ANALYZE executes its statement; INSTALL/LOAD reach for extensions
    "EXPLAIN ANALYZE COPY (SELECT 'x') TO '{victim}' (FORMAT csv)",
    "explain   analyse copy (select 'x') to '{victim}' (format csv)",
    "/* hi */ EXPLAIN ANALYZE SET threads = 1",
    "EXPLAIN ANALYZE SELECT 1",
    "EXPLAIN COPY (SELECT 'x') TO '{victim}' (FORMAT csv)",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    # item 2: IMPORT DATABASE is classed as a PRAGMA by DuckDB
    "IMPORT DATABASE '{root}/evil_db'",
    "PRAGMA import_database('{root}/evil_db')",
    # item 3: a results query has no reason to touch the file system
    "SELECT * FROM read_csv('{root}/secret.txt')",
    "SELECT * FROM read_text('{root}/secret.txt')",
    "SELECT * FROM read_blob('{root}/secret.txt')",
    "SELECT * FROM glob('{root}/*')",
    "SELECT * FROM '{root}/secret.txt'",
    # the earlier issue's writes, and other ways out
    "DROP TABLE runs",
    "DELETE FROM runs",
    "UPDATE runs SET status = 'x'",
    "INSERT INTO metrics VALUES ('a', 'b', 1)",
    "SELECT 1; DROP TABLE curves",
    "COPY runs TO '{victim}' (FORMAT csv)",
    "COPY (SELECT 'x') TO '{victim}'",
    "EXPORT DATABASE '{root}/exported'",
    "ATTACH '{root}/other.duckdb' AS o",
    "CREATE TABLE x AS SELECT 1",
    "CHECKPOINT",
    "CALL pragma_version()",
    "PRAGMA version",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_query_attack_is_refused_and_changes_nothing(arena, attack):
    root, store, victim = arena
    sql = attack.format(victim=victim, root=root)
    before, tables = _snapshot(root), _tables(store)
    out = tiltbench("query", sql, "--format", "csv", store=store)
    assert out.returncode == 2, (sql, out.stdout, out.stderr)
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert _snapshot(root) == before, f"{sql!r} changed a file"
    assert victim.read_text() == "precious\n"
    assert _tables(store) == tables


@pytest.mark.parametrize("sql", ["SELECT count(*) AS n FROM runs", "WITH x AS (SELECT * FROM runs) SELECT count(*) FROM x",
                                 "FROM runs SELECT run_id", "DESCRIBE runs", "SHOW TABLES", "SUMMARIZE metrics",
                                 "EXPLAIN SELECT * FROM leaderboard", "explain (format json) select 1",
                                 "SELECT * FROM leaderboard"])
def test_plain_queries_still_work(arena, sql):
    root, store, _ = arena
    before = _snapshot(root)
    out = tiltbench("query", sql, "--format", "csv", store=store)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    assert _snapshot(root) == before


def test_import_folder_named_like_sql_injection_imports_and_drops_nothing(arena):
    root, store, _ = arena
    # item 4: this folder name, formatted into SQL, dropped the curves table
    evil = root / "x" / f"a.parquet' ; DROP TABLE curves; SELECT 2 FROM '{root}/b"
    src = root / "src.duckdb"
    s = Store(src)
    s.write_run(_run("r9", "k9"), {"acc": 0.1}, {"loss": [(0, 3.0), (1, 2.0)]}, ENV)
    tiltbench("export", evil, store=src, check=True)
    tables = _tables(store)
    out = tiltbench("import", evil, store=store)
    assert out.returncode == 0, out.stderr
    assert "runs 1" in out.stdout and "curves 2" in out.stdout
    after = _tables(store)
    assert after["curves"] == tables["curves"] + 2 and after["runs"] == tables["runs"] + 1


def test_export_to_a_path_with_quotes_works_and_round_trips(arena):
    root, store, _ = arena
    target = root / "it's \"here\"; DROP TABLE runs; --"
    out = tiltbench("export", target, store=store)
    assert out.returncode == 0, out.stderr
    assert "runs 2" in out.stdout and (target / "runs.parquet").is_file()
    merged = root / "merged.duckdb"
    assert "runs 2" in tiltbench("import", target, store=merged, check=True).stdout
    assert _tables(store)["runs"] == 2 and _tables(merged)["curves"] == 3


def test_query_cannot_spill_to_disk_or_raise_its_limits(arena):
    """Large sorts and joins would spill into <store>.tmp/: the sandbox allows no temp files and caps
    memory, and those settings are locked."""
    _, store, _ = arena
    s = Store(store)
    settings = s.query("SELECT current_setting('max_temp_directory_size') AS tmp, "
                       "current_setting('memory_limit') AS mem")
    assert settings.tmp[0].startswith("0") and settings.mem[0].startswith("3.7")  # 4 GB in GiB
    with pytest.raises(TiltbenchError):
        s.query("SET max_temp_directory_size = '10GB'")
