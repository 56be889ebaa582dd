"""Bad input ends in one line naming the bad value and the valid ones, and a non-zero exit; never a
traceback (unless --debug) and never a hang.  Everything runs through the real `tiltbench` command."""

import json
import os
import subprocess
import sys
from datetime import datetime
from importlib import metadata

import pytest

from tiltbench.store import Store

BUDGET = 'base_seed = 1\nworkers = 1\nthreads_per_worker = 1\ntimeout_s = 10\nmemory_limit_gb = 0\ngpus = 0\n'


def cli(*args, env=None, store=None, timeout=120):
    cmd = [sys.executable, "-m", "tiltbench.cli", *map(str, args)]
    if store is not None:
        cmd += ["--store", str(store)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def one_line_error(out, *needles):
    assert out.returncode != 0, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]


PROFILE_CASES = {
    "tracks = 5": ("[p]\n" + BUDGET + "tracks = 5\n", ["p.tracks", "table"]),
    "track is a string": ("[p]\n" + BUDGET + "[p.tracks]\ntoy = \"x\"\n", ["p.tracks.toy", "'x'", "table"]),
    "solvers = 3": ("[p]\n" + BUDGET + "[p.tracks.toy]\ntasks = [\"const-1\"]\nreps = 1\nsolvers = 3\n",
                    ["p.tracks.toy.solvers", "3", "table"]),
    "solver override not a table": ("[p]\n" + BUDGET + "[p.tracks.toy]\ntasks = [\"const-1\"]\nreps = 1\n"
                                    "[p.tracks.toy.solvers]\nslow = 2\n", ["p.tracks.toy.solvers.slow", "table"]),
    "workers is a string": ("[p]\n" + BUDGET.replace("workers = 1", "workers = \"two\"") + "",
                            ["p.workers", "'two'", "int"]),
    "reps is a float": ("[p]\n" + BUDGET + "[p.tracks.toy]\ntasks = [\"const-1\"]\nreps = 2.5\n",
                        ["p.tracks.toy.reps", "2.5", "integer"]),
    "n = 100.5 where an integer is meant": (
        "[a]\n" + BUDGET + "[a.tracks.toy]\ntasks = [\"const-1\"]\nreps = 1\nn = 300\n"
        "[p]\n" + BUDGET + "[p.tracks.toy]\ntasks = [\"const-1\"]\nreps = 1\nn = 100.5\n",
        ["p.tracks.toy.n", "100.5", "integer", "profile a"]),
    "unknown profile key": ("[p]\n" + BUDGET + "wrokers = 2\n", ["'wrokers'", "valid:", "workers"]),
    "top-level scalar": ("published = \"p\"\nstray = 3\n[p]\n" + BUDGET, ["'stray'", "published"]),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_bad_profile_values_name_the_key_the_file_and_the_type(tmp_path, case):
    text, needles = PROFILE_CASES[case]
    path = tmp_path / "profiles.toml"
    path.write_text(text)
    out = cli("run", "--profile", "p", "--no-progress", env={"TILTBENCH_PROFILES": str(path)},
              store=tmp_path / "s.duckdb")
    one_line_error(out, path, *needles)
    assert not (tmp_path / "s.duckdb").exists()


def test_profiles_path_that_is_a_folder(tmp_path):
    out = cli("list", env={"TILTBENCH_PROFILES": str(tmp_path)})
    one_line_error(out, tmp_path, "is a folder", "TOML file")


def test_store_in_a_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    one_line_error(cli("run", "--profile", "toy", "--method", "good", "--no-progress",
                       store=blocker / "sub" / "s.duckdb"), blocker, "pass --store")
    one_line_error(cli("export", blocker / "x", store=_small_store(tmp_path)), blocker / "x", "cannot create")
    one_line_error(cli("run", "--profile", "toy", "--method", "good", "--no-progress", store=tmp_path),
                   tmp_path, "is a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_store_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    store = _small_store(tmp_path)
    (ro / "s.duckdb").write_bytes(store.read_bytes())
    ro.chmod(0o555)
    try:
        one_line_error(cli("run", "--profile", "toy", "--method", "good", "--no-progress", store=ro / "sub" / "s.duckdb"),
                       ro / "sub", "pass --store")
        line = one_line_error(cli("run", "--profile", "toy", "--method", "good", "--no-progress",
                                  store=ro / "s.duckdb"), ro)
        assert "cannot write" in line and "cannot be opened as a DuckDB file" not in line
        one_line_error(cli("export", ro / "x", store=store), ro / "x", "cannot create")
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("args,needles", [
    (["run", "--profile", "toy", "--reps", "1000000000"], ["--reps 1000000000", "between 1 and 1000"]),
    (["run", "--profile", "toy", "--reps", "0"], ["--reps 0", "between 1 and 1000"]),
    (["run", "--profile", "toy", "--workers", "-3"], ["--workers -3", "between 1 and 1024"]),
    (["run", "--profile", "toy", "--workers", "0"], ["--workers 0", "between 1 and 1024"]),
    (["run", "--profile", "toy", "--workers", "100000"], ["--workers 100000", "between 1 and 1024"]),
    (["query", "select 1", "--max-rows", "-1"], ["--max-rows -1", ">= 1"]),
])
def test_bad_numbers_are_refused_at_once(tmp_path, args, needles):
    out = cli(*args, store=_small_store(tmp_path), timeout=60)  # the old --reps 10^9 never returned
    one_line_error(out, *needles)


def test_a_profile_that_plans_too_many_cells_is_refused(tmp_path):
    path = tmp_path / "profiles.toml"
    tasks = ", ".join(f'"const-{i}"' for i in range(1, 201))
    path.write_text("[p]\n" + BUDGET + f"solver_defaults = \"toy\"\n[p.tracks.toy]\ntasks = [{tasks}]\nreps = 1000\n")
    out = cli("run", "--profile", "p", env={"TILTBENCH_PROFILES": str(path)}, store=tmp_path / "s.duckdb", timeout=60)
    one_line_error(out, "more than 100000 cells", "--reps")


def test_export_of_an_unknown_profile_is_an_error(tmp_path):
    out = cli("export", tmp_path / "exp", "--profile", "nope", store=_small_store(tmp_path))
    one_line_error(out, "'nope'", "profiles with runs: p")


def test_debug_adds_the_traceback(tmp_path):
    for args in (["--debug", "run", "--profile", "nope"], ["run", "--profile", "nope", "--debug"]):
        out = cli(*args)
        assert out.returncode == 2 and "Traceback" in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("tiltbench: error: unknown profile 'nope'")
    plain = cli("run", "--profile", "nope")
    one_line_error(plain, "unknown profile 'nope'", "valid: ot-board, ot-scaling, otgrid, smoke, toy")


def _write(path, track="toy", method="good", profile="p"):
    """One stored ok cell, written through the real store."""
    t = datetime(2026, 1, 1)
    Store(path).write_run(
        {"run_id": f"r-{track}-{method}", "content_key": f"k-{track}-{method}", "profile": profile, "track": track,
         "task": "const-1", "method": method, "role": "method", "rep": 0, "seed": 1, "config": json.dumps({}),
         "code_version": "c", "status": "ok", "reason": None, "started_at": t, "finished_at": t, "wall_s": 1.0,
         "cpu_s": 1.0, "peak_mem_mb": 1.0, "gpu_s": 0.0, "env_id": "e1"}, {"value": 1.0}, {},
        {"env_id": "e1", "cpu_model": "cpu", "cores": 1, "ram_gb": 1.0, "git_commit": "abc", "git_dirty": False,
         "executor": "local", "workers": 1})


def _small_store(tmp_path):
    path = tmp_path / "small.duckdb"
    if not path.exists():
        _write(path)
    return path


# -- item 12: a report whose track needs an extra that is not installed --------------------------------
def test_report_renders_the_other_tracks_and_names_the_missing_extra(tmp_path):
    env = {"TILTBENCH_PLUGINS": "toy_track,toy_extra_track"}
    store = tmp_path / "s.duckdb"
    for track, method in (("toy", "good"), ("toyx", "one")):
        _write(store, track, method, "toy")
    out = cli("report", "--profile", "toy", "--out", tmp_path / "out", env=env, store=store)
    line = one_line_error(out, "track toyx not rendered", "tiltbench_absent_optional_package")
    assert out.returncode == 1, line
    assert (tmp_path / "out" / "toy.md").exists() and not (tmp_path / "out" / "toyx.md").exists()
    index = (tmp_path / "out" / "index.md").read_text()
    assert "[toy.md](toy.md)" in index
    assert "- `toyx` was not rendered: needs the module `tiltbench_absent_optional_package`" in index


def test_a_missing_module_is_traced_to_the_extra_that_installs_it():
    from tiltbench.report import extra_for_module

    with_extra = [r for r in (metadata.requires("tiltbench") or []) if "extra ==" in r and "test" not in r]
    if not with_extra:
        pytest.skip("tiltbench's metadata lists no extras")
    name, extra = with_extra[0].split(";")[0].strip(), with_extra[0].split("extra ==")[1].strip().strip("'\"")
    module = name.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().replace("-", "_")
    assert extra_for_module(module) == extra
    assert extra_for_module("tiltbench_absent_optional_package") is None

