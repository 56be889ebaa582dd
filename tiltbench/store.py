"""The results store: one DuckDB file.

Tables: ``runs`` (one row per attempted cell), ``metrics`` (scalar metrics, long format),
``curves`` (step-wise values), ``environments`` (machine/code fingerprints), ``claims`` (cells a
running sweep has taken, so that a second sweep on the same store does not run them again),
``schema_version``.
Views: ``latest_runs`` (newest successful run of each profile/track/task/method/rep, made by the newest
code version of its profile/track/task/method), ``leaderboard`` (mean/std/n of
every metric over seeds, per profile/track/task/method) and ``failures``.

Every write opens the file, writes one cell in one transaction and closes it again.  So a killed
driver loses at most the cells in flight, and two sweeps can share one store: each waits for the
other's short write lock instead of failing.  A finished cell that cannot be written because
another process holds the file goes to a spill file beside the store (``<store>.pending.jsonl``)
and is written by the next sweep (or import) that can open the store.

``query`` is read-only in a strong sense: the connection is opened read-only, with DuckDB's external
access (files, network, extensions) disabled and its configuration locked, and only plain SELECT-like
statements, as classified by DuckDB's own parser, are executed.  Paths are never formatted into SQL.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from typing import TYPE_CHECKING

import duckdb

from .errors import TiltbenchError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 5
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

# v3: a sweep claims each cell (in a transaction) before it runs it; a second sweep on the same
# store leaves claimed cells to their owner.  A claim expires when its owner process is gone.
_V3 = """
CREATE TABLE claims (
    content_key VARCHAR PRIMARY KEY, owner VARCHAR NOT NULL, pid INTEGER NOT NULL, pid_start VARCHAR,
    host VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL);
"""

# v4: the fingerprint records how many GPUs the machine has and the NVIDIA driver's version.
_V4 = """
ALTER TABLE environments ADD COLUMN gpu_count INTEGER;
ALTER TABLE environments ADD COLUMN gpu_driver VARCHAR;
"""

# v5: the board never mixes code versions.  A cell's runs count only when made by the newest code
# version of that (profile, track, task, method): after a code change, a seed whose re-run failed or
# has not been made yet drops out (the report shows fewer seeds) instead of standing beside the new
# seeds with numbers from other code (e.g. a metric whose scale changed).
_V5 = """
CREATE OR REPLACE VIEW latest_runs AS
    WITH ok AS (SELECT * FROM runs WHERE status = 'ok'),
    newest AS (SELECT profile, track, task, method, arg_max(code_version, finished_at) AS newest_code
               FROM ok GROUP BY ALL)
    SELECT ok.* FROM ok JOIN newest USING (profile, track, task, method)
    WHERE ok.code_version IS NOT DISTINCT FROM newest.newest_code
    QUALIFY row_number() OVER (PARTITION BY profile, track, task, method, rep
                               ORDER BY finished_at DESC, run_id) = 1;
"""

# MIGRATIONS[v] takes a store at version v to v + 1.
MIGRATIONS = [_V1, _V2, _V3, _V4, _V5]

# Exports of these schema versions hold the same four tables (columns matched by name; an older
# export's environments lack the v4 columns, which import as NULL) and can be imported.
IMPORTABLE_VERSIONS = (1, 2, 3, 4, 5)

# The connection `query` uses: no files, no network, no extensions, and no way to turn them back on.
SANDBOX = {"enable_external_access": False, "autoload_known_extensions": False,
           "autoinstall_known_extensions": False,
           # no spilling of large sorts or joins into <store>.tmp/, and a memory cap for a runaway query
           "max_temp_directory_size": "0B", "memory_limit": "4GB",
           "lock_configuration": True}
ALLOWED_STATEMENTS = "SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, or EXPLAIN (without ANALYZE) of one"

_HEADER_BYTES = 3 * 4096  # DuckDB's file header + two database headers, before block 0
# A claim by a process on another host cannot be checked for liveness; it lapses after this long.
FOREIGN_CLAIM_TTL_S = 24 * 3600.0


def default_lock_wait_s() -> float:
    """How long one attempt to open the store waits for another process's lock ($TILTBENCH_LOCK_WAIT_S)."""
    raw = os.environ.get("TILTBENCH_LOCK_WAIT_S", "120")
    try:
        value = float(raw)
    except ValueError:
        raise TiltbenchError(f"bad value TILTBENCH_LOCK_WAIT_S={raw!r}: expected seconds, e.g. 120") from None
    if not value >= 0:
        raise TiltbenchError(f"bad value TILTBENCH_LOCK_WAIT_S={raw!r}: must be >= 0")
    return value


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def lock_holder(exc: Exception | str) -> str:
    """Who holds the lock, from DuckDB's message ('Conflicting lock is held in PROG (PID N)')."""
    m = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
    return f"pid {m.group(2)} ({m.group(1)})" if m else "pid unknown"


def _is_damage(exc: Exception) -> bool:
    text = re.sub(r'"[^"]*"', '""', str(exc)).lower()  # file names say nothing about the error
    return ("could not read enough bytes" in text or "corrupt" in text or "checksum" in text
            or "failed to read" in text or isinstance(exc, duckdb.InternalException))


class StoreLocked(TiltbenchError):
    """Another process holds the store's file lock for longer than we waited."""

    def __init__(self, message: str, holder: str):
        super().__init__(message)
        self.holder = holder


class StoreDamaged(TiltbenchError):
    """The file is a DuckDB database whose data cannot all be read (truncated, overwritten)."""


def proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), to tell a live owner from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is not None:
        now = proc_start(pid)
        if now is not None and now != start:
            return False  # the pid was reused by another process
    return True


class Store:
    """A DuckDB results file.  ``lock_wait_s``: how long opening the file waits for another process's
    lock (default: $TILTBENCH_LOCK_WAIT_S or 120 s)."""

    def __init__(self, path: str | Path, lock_wait_s: float | None = None):
        self.path = Path(path)
        self._reader = None  # the connection ``reading()`` holds open, if any
        self.lock_wait_s = default_lock_wait_s() if lock_wait_s is None else lock_wait_s

    @property
    def spill_path(self) -> Path:
        return self.path.with_name(self.path.name + ".pending.jsonl")

    # -- connections -------------------------------------------------------------------------
    def _recovery(self) -> str:
        return (f"nothing was written to it. To recover, copy out what can be read with "
                f"`tiltbench export DIR --store {self.path}` and `tiltbench import DIR --store NEW.duckdb`, "
                f"or move the file aside")

    def _prepare_folder(self) -> None:
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TiltbenchError(f"cannot create the store's folder {parent} for {self.path}: "
                                 f"{exc.strerror or exc}; pass --store PATH in a writable folder") from None
        if not parent.is_dir():
            raise TiltbenchError(f"the store's folder {parent} is not a folder; pass --store PATH")
        if self.path.is_dir():
            raise TiltbenchError(f"store {self.path} is a folder, not a DuckDB file; pass --store PATH")
        probe = self.path if self.path.exists() else parent
        if not os.access(probe, os.W_OK):
            why = "read-only file system" if _read_only_fs(probe) else "permission denied"
            what = "the store" if probe == self.path else "the store's folder"
            raise TiltbenchError(f"cannot write {what} {probe} ({why}); the DuckDB file itself was not "
                                 "changed: make it writable or pass --store PATH in a writable folder")

    def _open(self, read_only: bool, config: dict | None = None,
              lock_wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
        wait = self.lock_wait_s if lock_wait_s is None else lock_wait_s
        deadline = time.monotonic() + wait
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config=dict(config or {}))
            except duckdb.Error as exc:
                if _is_lock_error(exc):
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    holder = lock_holder(exc)
                    raise StoreLocked(f"store {self.path} is locked by another process, {holder} "
                                      f"(waited {wait:.0f} s); nothing was written", holder) from None
                text = str(exc)
                if "read-only file system" in text.lower() or "permission denied" in text.lower():
                    raise TiltbenchError(f"cannot write store {self.path}: {text.splitlines()[0]}; "
                                         "pass --store PATH in a writable folder") from None
                if _is_damage(exc):
                    raise StoreDamaged(f"store {self.path} is damaged ({text.splitlines()[0]}); "
                                       + self._recovery()) from None
                raise TiltbenchError(f"store {self.path} cannot be opened as a DuckDB file "
                                     f"({text.splitlines()[0]}); {self._recovery()}") from None

    def _check_intact(self, con) -> None:
        """Every data block the tables point at must lie inside the file (a truncated or partly copied
        store fails this before anything reads from it or writes to it)."""
        try:
            block = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()]
            last = -1
            for table in tables:
                quoted = '"' + table.replace('"', '""') + '"'
                row = con.execute("SELECT max(block_id) FROM pragma_storage_info(?) WHERE block_id >= 0",
                                  [quoted]).fetchall()[0]
                if row[0] is not None:
                    last = max(last, int(row[0]))
        except duckdb.Error as exc:
            raise StoreDamaged(f"store {self.path} is damaged ({str(exc).splitlines()[0]}); "
                               + self._recovery()) from None
        size = self.path.stat().st_size
        need = _HEADER_BYTES + (last + 1) * block
        if last >= 0 and size < need:
            raise StoreDamaged(f"store {self.path} is damaged: the file has {size} bytes but its tables "
                               f"need at least {need} (truncated?); " + self._recovery())

    def _connect(self, read_only: bool, sandbox: bool = False, check: bool = True,
                 lock_wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            if read_only:
                raise TiltbenchError(f"no store at {self.path}; run `tiltbench run` first or pass --store PATH")
            self._prepare_folder()
            return self._open(False, lock_wait_s=lock_wait_s)
        if self.path.is_dir():
            raise TiltbenchError(f"store {self.path} is a folder, not a DuckDB file; pass --store PATH")
        if not read_only:
            self._prepare_folder()
        if check:  # look at an existing file read-only before anything may write to it
            con = self._open(True, SANDBOX if (read_only and sandbox) else None, lock_wait_s)
            try:
                self._check_intact(con)
            except BaseException:
                con.close()
                raise
            if read_only:
                return con
            con.close()
        return self._open(read_only, SANDBOX if sandbox else None, lock_wait_s)

    def _writer(self, lock_wait_s: float | None = None) -> duckdb.DuckDBPyConnection:
        con = self._connect(read_only=False, lock_wait_s=lock_wait_s)
        try:
            self._migrate(con)
        except BaseException:
            con.close()
            raise
        return con

    def _migrate(self, con) -> None:
        have = con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_name = 'schema_version'").fetchall()[0][0]
        version = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] if have else 0
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

    @contextmanager
    def _errors(self, what: str):
        """Turn DuckDB errors met while reading or writing into one clear line."""
        try:
            yield
        except duckdb.Error as exc:
            if _is_damage(exc):
                raise StoreDamaged(f"store {self.path} is damaged ({str(exc).splitlines()[0]}); "
                                   + self._recovery()) from None
            raise TiltbenchError(f"{what} failed: {str(exc).splitlines()[0]}") from None

    def init(self) -> None:
        self._writer().close()

    def check(self, writable: bool = False) -> None:
        """Fail with one clear line if an existing store cannot be used (damaged, not DuckDB, a folder)
        or, with ``writable``, if its folder cannot be created or written."""
        if self.path.exists() and not self.path.is_dir():
            self._connect(read_only=True, sandbox=True).close()
        if writable:
            self._prepare_folder()

    # -- writes ------------------------------------------------------------------------------
    def write_run(self, run: dict, metrics: dict, curves: dict, env: dict, owner: str | None = None,
                  lock_wait_s: float | None = None) -> bool:
        """Store one finished (ok or failed) cell atomically, releasing ``owner``'s claim on it.
        A run_id already present is left alone (False), so replaying a spill file is harmless."""
        con = self._writer(lock_wait_s)
        try:
            with self._errors("writing a run"):
                con.execute("BEGIN TRANSACTION")
                if con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run["run_id"]]).fetchall()[0][0]:
                    con.execute("ROLLBACK")
                    return False
                env_row = {**env, "packages": json.dumps(env.get("packages", {}), sort_keys=True)}
                cols = ["env_id", "cpu_model", "cores", "ram_gb", "gpu_name", "gpu_mem_gb", "cuda", "python",
                        "platform", "packages", "git_commit", "git_dirty", "executor", "workers", "gpu_count",
                        "gpu_driver"]
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
                if owner:
                    con.execute("DELETE FROM claims WHERE content_key = ? AND owner = ?",
                                [run["content_key"], owner])
                con.execute("COMMIT")
                return True
        finally:
            con.close()

    # -- claims ------------------------------------------------------------------------------
    def claim(self, keys: list[str], owner: str, skip_ok: bool = True) -> dict:
        """In one transaction: drop expired claims on ``keys``, then claim every key that is neither
        stored ok (when ``skip_ok``) nor claimed by a live process.

        Returns {"ok": keys stored ok, "mine": keys now claimed by ``owner``, "others": {key: holder},
        "rows": {key: number of stored runs}}."""
        host, pid = socket.gethostname(), os.getpid()
        con = self._writer()
        try:
            with self._errors("claiming cells"):
                import pandas as pd  # only the writer needs it: readers (claims, query) start faster without

                con.execute("BEGIN TRANSACTION")
                con.register("want_keys", pd.DataFrame({"k": pd.Series(list(keys), dtype="object")}))
                rows = dict(con.execute("SELECT content_key, count(*) FROM runs WHERE content_key IN "
                                        "(SELECT k FROM want_keys) GROUP BY 1").fetchall())
                ok = {r[0] for r in con.execute("SELECT DISTINCT content_key FROM runs WHERE status = 'ok' AND "
                                                "content_key IN (SELECT k FROM want_keys)").fetchall()}
                others = {}
                for key, who, cpid, cstart, chost, started in con.execute(
                        "SELECT content_key, owner, pid, pid_start, host, started_at FROM claims "
                        "WHERE content_key IN (SELECT k FROM want_keys)").fetchall():
                    if who == owner:
                        continue
                    if chost == host:
                        live = pid_alive(cpid, cstart)
                    else:
                        live = (datetime.now() - started).total_seconds() < FOREIGN_CLAIM_TTL_S
                    if live:
                        others[key] = f"pid {cpid} on {chost}"
                    else:
                        con.execute("DELETE FROM claims WHERE content_key = ? AND owner = ?", [key, who])
                done = ok if skip_ok else set()
                mine = [k for k in dict.fromkeys(keys) if k not in done and k not in others]
                if mine:
                    con.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP)",
                                    [(k, owner, pid, proc_start(pid), host) for k in mine])
                con.execute("COMMIT")
                con.unregister("want_keys")
                return {"ok": ok, "mine": set(mine), "others": others, "rows": rows}
        finally:
            con.close()

    def release(self, owner: str, lock_wait_s: float | None = None) -> None:
        """Drop every claim ``owner`` still holds (cells it did not finish)."""
        if not self.path.exists():
            return
        con = self._writer(lock_wait_s)
        try:
            with self._errors("releasing claims"):
                con.execute("DELETE FROM claims WHERE owner = ?", [owner])
        finally:
            con.close()

    # -- the spill file: finished cells that could not be written yet -----------------------------
    def spill(self, records: list[dict]) -> None:
        """Append finished cells to the spill file (durably: flushed and fsynced before returning)."""
        if not records:
            return
        text = "".join(json.dumps(_jsonable(r), sort_keys=True) + "\n" for r in records)
        while True:
            fd = os.open(self.spill_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_nlink == 0:  # replayed and removed while we waited: use a new file
                    continue
                os.write(fd, text.encode())
                os.fsync(fd)
                return
            finally:
                os.close(fd)

    def replay_spill(self) -> int:
        """Write every cell in the spill file that the store lacks, then remove the file.  Returns how
        many were written.  Raises (leaving the file as it is) if the store cannot be written."""
        if not self.spill_path.exists():
            return 0
        fd = os.open(self.spill_path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:
                return 0
            with os.fdopen(os.dup(fd), "r", encoding="utf-8") as fh:
                lines = fh.read().splitlines()
            written = 0
            for line in lines:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill while it was being written
                run = dict(rec["run"])
                for key in ("started_at", "finished_at"):
                    if run.get(key):
                        run[key] = datetime.fromisoformat(run[key])
                written += self.write_run(run, rec.get("metrics", {}), rec.get("curves", {}), rec["env"],
                                          owner=rec.get("owner"))
            os.unlink(self.spill_path)
            return written
        finally:
            os.close(fd)

    # -- reads -------------------------------------------------------------------------------
    def ok_keys(self, finished: bool = False) -> set[str]:
        """Content keys stored with status ok (``finished``: ok or failed)."""
        if not self.path.exists():
            return set()
        con = self._writer()  # migrates an old store before reading it
        try:
            with self._errors("reading the store"):
                where = "" if finished else " WHERE status = 'ok'"
                return {r[0] for r in con.execute("SELECT DISTINCT content_key FROM runs" + where).fetchall()}
        finally:
            con.close()

    def query(self, sql: str, params=None) -> pd.DataFrame:
        """Run one read-only statement on a sandboxed read-only connection (no file, network or
        extension access); anything but a plain query is refused before it is executed.  Inside
        ``reading()`` the statements share that block's one connection."""
        return self._read(sql, params, lambda result: result.df())

    def rows(self, sql: str, params=None) -> list[tuple]:
        """``query``, as a list of tuples (no pandas: for readers that loop over rows anyway)."""
        return self._read(sql, params, lambda result: result.fetchall())

    def _read(self, sql: str, params, fetch):
        shared = self._reader
        con = shared or self._connect(read_only=True, sandbox=True)
        try:
            with self._errors("query"):
                check_read_only(con, sql)
                return fetch(con.execute(sql, params or []))
        finally:
            if shared is None:
                con.close()

    @contextmanager
    def reading(self):
        """One sandboxed read-only connection for every ``query`` in the block (a command that reads many
        times, like ``tiltbench claims``, pays the opening and integrity check once).  It holds the file's
        read lock for the block: keep the block short."""
        if self._reader is not None:
            yield self
            return
        self._reader = self._connect(read_only=True, sandbox=True)
        try:
            yield self
        finally:
            self._reader.close()
            self._reader = None

    # -- exchange ----------------------------------------------------------------------------
    def profiles(self) -> list[str]:
        return self.query("SELECT DISTINCT profile FROM runs ORDER BY 1").profile.tolist()

    def export(self, directory: str | Path, profiles: list[str] | None = None, replace: bool = False) -> dict[str, int]:
        """Write every table (runs of ``profiles`` only, if given) to ``directory``/*.parquet.

        An earlier export in ``directory`` is replaced; unless ``replace``, that is refused (before
        anything is written) when it holds runs this export would not write again.

        Works on a damaged store as far as it can be read: a table that cannot be read is exported
        empty and reported in the returned dict under "unreadable"."""
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TiltbenchError(f"cannot create export folder {directory}: {exc.strerror or exc}") from None
        if not os.access(directory, os.W_OK):
            raise TiltbenchError(f"cannot write to export folder {directory} "
                                 f"({'read-only file system' if _read_only_fs(directory) else 'permission denied'})")
        try:
            con = self._connect(read_only=True, check=False)
        except StoreDamaged as exc:
            raise StoreDamaged(f"{str(exc).split('; nothing was written')[0]}; export cannot read it at all: "
                               "move the file aside and run again") from None
        counts: dict = {}
        unreadable = []
        try:
            with self._errors("export"):
                if profiles:
                    con.execute("CREATE TEMP TABLE sel AS SELECT run_id FROM runs WHERE list_contains(?, profile)",
                                [list(profiles)])
                else:
                    con.execute("CREATE TEMP TABLE sel AS SELECT run_id FROM runs")
            if not replace:
                self._check_nothing_dropped(con, directory)
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
                target = str(directory / f"{table}.parquet")  # a path, handed to DuckDB as a value
                try:
                    con.sql(q).write_parquet(target)
                    counts[table] = con.execute(f"SELECT count(*) FROM ({q})").fetchall()[0][0]
                except duckdb.Error as exc:
                    if not _is_damage(exc):
                        raise TiltbenchError(f"export failed: {str(exc).splitlines()[0]}") from None
                    con.sql(f"SELECT * FROM ({q}) LIMIT 0").write_parquet(target)
                    counts[table] = 0
                    unreadable.append(table)
        finally:
            con.close()
        if unreadable:
            counts["unreadable"] = unreadable
        return counts

    @staticmethod
    def _check_nothing_dropped(con, directory: Path) -> None:
        """Refuse to overwrite an export in ``directory`` that holds runs missing from the selection ``sel``."""
        earlier = directory / "runs.parquet"
        if not earlier.exists():
            return
        how = (f"export those profiles too (--profile ...), merge the folder first (tiltbench import {directory}), "
               "or pass --replace to overwrite it")
        try:
            lost = con.execute("SELECT profile, count(*) FROM read_parquet(?) WHERE run_id NOT IN "
                               "(SELECT run_id FROM sel) GROUP BY profile ORDER BY profile", [str(earlier)]).fetchall()
        except duckdb.Error as exc:
            raise TiltbenchError(f"{earlier} exists but cannot be read ({str(exc).splitlines()[0]}); nothing was "
                                 "written: move it aside, or pass --replace to overwrite it") from None
        if lost:
            runs = ", ".join(f"{n} of profile {p!r}" for p, n in lost)
            raise TiltbenchError(f"{directory} holds runs this export would drop ({runs}); nothing was written: {how}")

    def import_(self, directory: str | Path) -> dict[str, int]:
        """Merge an export into this store; runs already present (same run_id) are skipped."""
        directory = Path(directory)
        if not directory.is_dir():
            raise TiltbenchError(f"{directory} is not a folder; expected a folder written by `tiltbench export`")
        missing = [t for t in (*TABLES, "schema_version") if not (directory / f"{t}.parquet").is_file()]
        if missing:
            raise TiltbenchError(f"{directory} is not a tiltbench export: missing "
                                 f"{', '.join(m + '.parquet' for m in missing)}")
        files = {t: str(directory / f"{t}.parquet") for t in (*TABLES, "schema_version")}
        con = self._writer()
        try:
            with self._errors(f"import from {directory} (nothing was imported)"):
                version = con.execute("SELECT max(version) FROM read_parquet(?)",
                                      [files["schema_version"]]).fetchall()[0][0]
                if version not in IMPORTABLE_VERSIONS:
                    raise TiltbenchError(f"export {directory} has schema version {version}; this tiltbench "
                                         f"imports versions {', '.join(map(str, IMPORTABLE_VERSIONS))}")
                con.execute("BEGIN TRANSACTION")
                con.execute("CREATE TEMP TABLE new_runs AS SELECT * FROM read_parquet(?) "
                            "WHERE run_id NOT IN (SELECT run_id FROM runs)", [files["runs"]])
                counts = {"runs": con.execute("SELECT count(*) FROM new_runs").fetchall()[0][0]}
                con.execute("INSERT OR IGNORE INTO environments BY NAME SELECT * FROM read_parquet(?)",
                            [files["environments"]])
                con.execute("INSERT INTO runs SELECT * FROM new_runs")
                for table in ("metrics", "curves"):
                    counts[table] = con.execute(
                        f"INSERT INTO {table} SELECT * FROM read_parquet(?) "
                        "WHERE run_id IN (SELECT run_id FROM new_runs)", [files[table]]).fetchall()[0][0]
                con.execute("COMMIT")
                return counts
        finally:
            con.close()


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()  # numpy scalars
    return value


# -- statement classification ---------------------------------------------------------------------
def _explained(text: str) -> str | None:
    """The statement an EXPLAIN wraps, or None when it would execute it (ANALYZE) or cannot be told."""
    tokens = [(off, kind) for off, kind in duckdb.tokenize(text) if kind.name != "comment"]
    words = []
    for i, (off, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(text)
        words.append((off, kind.name, text[off:end].strip().lower()))
    if not words or words[0][2] != "explain":
        return None
    i = 1
    if i < len(words) and words[i][2] == "(":  # EXPLAIN (option, ...)
        depth = 0
        while i < len(words):
            if words[i][2] in ("analyze", "analyse"):
                return None
            depth += words[i][2].count("(") - words[i][2].count(")")
            i += 1
            if depth <= 0:
                break
    while i < len(words) and words[i][2] in ("analyze", "analyse", "verbose"):
        if words[i][2] != "verbose":
            return None
        i += 1
    if i >= len(words):
        return None
    return text[words[i][0]:]


def check_read_only(con, sql: str) -> None:
    """Refuse, before execution, anything but one plain query (as DuckDB's parser classifies it)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise TiltbenchError(f"query failed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise TiltbenchError(f"expected exactly one SQL statement, got {len(statements)}")
    kind = statements[0].type.name
    refused = None
    if kind == "EXPLAIN":
        inner = _explained(statements[0].query)
        if inner is None:
            refused = "EXPLAIN ANALYZE, which executes its statement"
        else:
            try:
                inner_statements = con.extract_statements(inner)
            except duckdb.Error:
                inner_statements = []
            if len(inner_statements) != 1 or inner_statements[0].type.name != "SELECT":
                refused = "EXPLAIN of a " + (inner_statements[0].type.name if inner_statements else "non-query") \
                    + " statement"
    elif kind != "SELECT":
        refused = f"{kind} statement"
    if refused:
        raise TiltbenchError(f"refused: {refused}; `tiltbench query` is read-only and runs only "
                             f"{ALLOWED_STATEMENTS}")
