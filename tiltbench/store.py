"""The results store: one DuckDB file.

Tables: ``runs`` (one row per attempted cell), ``metrics`` (scalar metrics, long format),
``curves`` (step-wise values), ``environments`` (machine/code fingerprints), ``schema_version``.
Views: ``latest_runs`` (newest successful run of each profile/track/task/method/rep), ``leaderboard`` (mean/std/n of
every metric over seeds, per profile/track/task/method) and ``failures``.

Every write opens the file, writes one cell in one transaction and closes it again.  So a killed
driver loses at most the cells in flight, and two sweeps can share one store: each waits for the
other's short write lock instead of failing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pandas as pd

from .errors import TiltbenchError

SCHEMA_VERSION = 2
TABLES = ("environments", "runs", "metrics", "curves")

_V1 = """
CREATE TABLE environments (
    env_id VARCHAR PRIMARY KEY, cpu_model VARCHAR, cores INTEGER, ram_gb DOUBLE, gpu_name VARCHAR,
    gpu_mem_gb DOUBLE, cuda VARCHAR, python VARCHAR, platform VARCHAR, packages VARCHAR,
    git_commit VARCHAR, git_dirty BOOLEAN, executor VARCHAR, workers INTEGER);
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY, content_key VARCHAR NOT NULL, profile VARCHAR NOT NULL,
    track VARCHAR NOT NULL, task VARCHAR NOT NULL, method VARCHAR NOT NULL, role VARCHAR NOT NULL,
    rep INTEGER NOT NULL, seed BIGINT NOT NULL, config VARCHAR, code_version VARCHAR,
    status VARCHAR NOT NULL, reason VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    wall_s DOUBLE, cpu_s DOUBLE, peak_mem_mb DOUBLE, gpu_s DOUBLE, env_id VARCHAR);
CREATE TABLE metrics (run_id VARCHAR NOT NULL, name VARCHAR NOT NULL, value DOUBLE);
CREATE TABLE curves (run_id VARCHAR NOT NULL, name VARCHAR NOT NULL, step BIGINT NOT NULL, value DOUBLE);
CREATE VIEW latest_runs AS
    SELECT * FROM runs WHERE status = 'ok'
    QUALIFY row_number() OVER (PARTITION BY content_key ORDER BY finished_at DESC, run_id) = 1;
CREATE VIEW leaderboard AS
    SELECT r.profile, r.track, r.task, r.method, r.role, m.name AS metric,
           count(*) AS n_seeds, avg(m.value) AS mean, stddev_samp(m.value) AS std,
           min(m.value) AS min, max(m.value) AS max
    FROM latest_runs r JOIN metrics m USING (run_id)
    GROUP BY ALL ORDER BY r.profile, r.track, r.task, m.name, r.role, r.method;
CREATE VIEW failures AS
    SELECT run_id, profile, track, task, method, rep, reason, finished_at FROM runs f
    WHERE status = 'failed'
      AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.content_key = f.content_key AND o.status = 'ok');
"""

# v2: the board shows the newest successful run of each (profile, track, task, method, rep), so a
# cell re-run after a code or config change replaces the old one instead of counting as a new seed.
_V2 = """
CREATE OR REPLACE VIEW latest_runs AS
    SELECT * FROM runs WHERE status = 'ok'
    QUALIFY row_number() OVER (PARTITION BY profile, track, task, method, rep
                               ORDER BY finished_at DESC, run_id) = 1;
"""

# MIGRATIONS[v] takes a store at version v to v + 1.
MIGRATIONS = [_V1, _V2]


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class Store:
    """A DuckDB results file.  ``lock_wait_s``: how long a write waits for another writer."""

    def __init__(self, path: str | Path, lock_wait_s: float = 120.0):
        self.path = Path(path)
        self.lock_wait_s = lock_wait_s

    # -- connections -------------------------------------------------------------------------
    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise TiltbenchError(f"no store at {self.path}; run `tiltbench run` first or pass --store PATH")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_s
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                if _is_lock_error(exc):
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    raise TiltbenchError(f"store {self.path} is locked by another process "
                                         f"(waited {self.lock_wait_s:.0f} s): {exc}") from None
                raise TiltbenchError(f"store {self.path} cannot be opened as a DuckDB file ({exc}); "
                                     "nothing was changed: move it aside or pass --store PATH") from None

    def _writer(self) -> duckdb.DuckDBPyConnection:
        con = self._connect(read_only=False)
        try:
            self._migrate(con)
        except BaseException:
            con.close()
            raise
        return con

    def _migrate(self, con) -> None:
        have = con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'schema_version'").fetchone()[0]
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0] if have else 0
        version = version or 0
        if version > SCHEMA_VERSION:
            raise TiltbenchError(f"store {self.path} has schema version {version}, newer than this "
                                 f"tiltbench understands ({SCHEMA_VERSION}); upgrade tiltbench")
        for v in range(version, SCHEMA_VERSION):
            con.execute("BEGIN TRANSACTION")
            if v == 0:
                con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
            con.execute(MIGRATIONS[v])
            con.execute("INSERT INTO schema_version VALUES (?, now())", [v + 1])
            con.execute("COMMIT")

    def init(self) -> None:
        self._writer().close()

    # -- writes ------------------------------------------------------------------------------
    def write_run(self, run: dict, metrics: dict, curves: dict, env: dict) -> None:
        """Store one finished (ok or failed) cell atomically."""
        con = self._writer()
        try:
            con.execute("BEGIN TRANSACTION")
            env_row = {**env, "packages": json.dumps(env.get("packages", {}), sort_keys=True)}
            cols = ["env_id", "cpu_model", "cores", "ram_gb", "gpu_name", "gpu_mem_gb", "cuda", "python",
                    "platform", "packages", "git_commit", "git_dirty", "executor", "workers"]
            con.execute(f"INSERT OR IGNORE INTO environments ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", [env_row.get(c) for c in cols])
            rcols = list(run)
            con.execute(f"INSERT INTO runs ({', '.join(rcols)}) VALUES ({', '.join('?' * len(rcols))})",
                        [run[c] for c in rcols])
            if metrics:
                con.executemany("INSERT INTO metrics VALUES (?, ?, ?)",
                                [(run["run_id"], k, float(v)) for k, v in sorted(metrics.items())])
            rows = [(run["run_id"], name, int(step), float(value))
                    for name, points in sorted(curves.items()) for step, value in points]
            if rows:
                con.executemany("INSERT INTO curves VALUES (?, ?, ?, ?)", rows)
            con.execute("COMMIT")
        finally:
            con.close()

    # -- reads -------------------------------------------------------------------------------
    def ok_keys(self) -> set[str]:
        if not self.path.exists():
            return set()
        con = self._writer()  # migrates an old store before reading it
        try:
            return {r[0] for r in con.execute("SELECT DISTINCT content_key FROM runs WHERE status = 'ok'").fetchall()}
        finally:
            con.close()

    def query(self, sql: str, params=None) -> pd.DataFrame:
        """Run one read-only statement; write statements are refused before they reach the file."""
        con = self._connect(read_only=True)
        try:
            statements = con.extract_statements(sql)
            if len(statements) != 1:
                raise TiltbenchError(f"expected exactly one SQL statement, got {len(statements)}")
            kind = statements[0].type.name
            if kind not in ("SELECT", "EXPLAIN", "PRAGMA"):
                raise TiltbenchError(f"refused: {kind} statement; `tiltbench query` is read-only "
                                     "(SELECT, EXPLAIN and PRAGMA only) so that no stored run can be lost")
            return con.execute(sql, params or []).df()
        except duckdb.Error as exc:
            raise TiltbenchError(f"query failed: {exc}") from None
        finally:
            con.close()

    # -- exchange ----------------------------------------------------------------------------
    def export(self, directory: str | Path, where: str = "TRUE") -> dict[str, int]:
        """Write every table (runs filtered by the SQL condition ``where``) to ``directory``/*.parquet."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=True)
        counts = {}
        try:
            con.execute(f"CREATE TEMP TABLE sel AS SELECT run_id FROM runs WHERE {where}")
            queries = {
                "runs": "SELECT * FROM runs WHERE run_id IN (SELECT run_id FROM sel) ORDER BY run_id",
                "metrics": "SELECT * FROM metrics WHERE run_id IN (SELECT run_id FROM sel) ORDER BY run_id, name",
                "curves": "SELECT * FROM curves WHERE run_id IN (SELECT run_id FROM sel) "
                          "ORDER BY run_id, name, step",
                "environments": "SELECT * FROM environments WHERE env_id IN "
                                "(SELECT env_id FROM runs WHERE run_id IN (SELECT run_id FROM sel)) ORDER BY env_id",
                "schema_version": "SELECT max(version) AS version FROM schema_version",
            }
            for table, q in queries.items():
                target = directory / f"{table}.parquet"
                con.execute(f"COPY ({q}) TO '{target}' (FORMAT parquet)")
                counts[table] = con.execute(f"SELECT count(*) FROM ({q})").fetchone()[0]
        except duckdb.Error as exc:
            raise TiltbenchError(f"export failed: {exc}") from None
        finally:
            con.close()
        return counts

    def import_(self, directory: str | Path) -> dict[str, int]:
        """Merge an export into this store; runs already present (same run_id) are skipped."""
        directory = Path(directory)
        missing = [t for t in (*TABLES, "schema_version") if not (directory / f"{t}.parquet").exists()]
        if missing:
            raise TiltbenchError(f"{directory} is not a tiltbench export: missing "
                                 f"{', '.join(m + '.parquet' for m in missing)}")
        con = self._writer()
        try:
            version = con.execute(f"SELECT max(version) FROM '{directory / 'schema_version.parquet'}'").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise TiltbenchError(f"export {directory} has schema version {version}; this store uses "
                                     f"{SCHEMA_VERSION}")
            con.execute("BEGIN TRANSACTION")
            con.execute(f"CREATE TEMP TABLE new_runs AS SELECT * FROM '{directory / 'runs.parquet'}' "
                        "WHERE run_id NOT IN (SELECT run_id FROM runs)")
            counts = {"runs": con.execute("SELECT count(*) FROM new_runs").fetchone()[0]}
            con.execute(f"INSERT OR IGNORE INTO environments SELECT * FROM '{directory / 'environments.parquet'}'")
            con.execute("INSERT INTO runs SELECT * FROM new_runs")
            for table in ("metrics", "curves"):
                counts[table] = con.execute(
                    f"INSERT INTO {table} SELECT * FROM '{directory / (table + '.parquet')}' "
                    "WHERE run_id IN (SELECT run_id FROM new_runs)").fetchone()[0]
            con.execute("COMMIT")
            return counts
        except duckdb.Error as exc:
            raise TiltbenchError(f"import from {directory} failed, nothing was imported: {exc}") from None
        finally:
            con.close()
