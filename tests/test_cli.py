"""The `tiltbench` command end to end on the OT track (small smoke profile from tests/profiles.toml)."""

import pytest
from conftest import tiltbench

from tiltbench.store import Store


@pytest.fixture(scope="module")
def ot_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("ot") / "store.duckdb"
    tiltbench("run", "--profile", "smoke", "--track", "ot", "--no-progress", "--strict", store=store, check=True)
    return store


def test_run_stores_every_ot_solver(ot_store):
    runs = Store(ot_store).query("SELECT method, status FROM runs ORDER BY method")
    assert sorted(runs.method) == ["barycentric", "floor", "independent", "lp", "scones", "sinkhorn", "sinkhorn-online"]
    assert set(runs.status) == {"ok"}


def test_query_formats_and_refusal(ot_store):
    out = tiltbench("query", "select method, mean from leaderboard where metric = 'bw_uvp'", "--format", "csv",
                    store=ot_store, check=True)
    assert out.stdout.splitlines()[0] == "method,mean" and len(out.stdout.splitlines()) == 8
    refused = tiltbench("query", "drop table runs", store=ot_store)
    assert refused.returncode == 2 and "refused: DROP statement" in refused.stderr
    assert len(Store(ot_store).query("SELECT * FROM runs")) == 7


@pytest.mark.parametrize("method", ["scones", "sinkhorn"])
def test_reproduce_is_bit_identical(ot_store, method):
    run_id = Store(ot_store).query("SELECT run_id FROM runs WHERE method = ?", [method]).run_id[0]
    out = tiltbench("reproduce", run_id[:8], store=ot_store)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "result: bit-identical" in out.stdout


def test_report_renders_tables_and_plots(ot_store, tmp_path):
    tiltbench("report", "--profile", "smoke", "--out", tmp_path, store=ot_store, check=True)
    md = (tmp_path / "ot.md").read_text()
    assert "| rank | solver | role |" in md and "scones vs sinkhorn" in md and "`smoke`" in md
    assert (tmp_path / "ot" / "cost_quality.png").stat().st_size > 1000
    assert (tmp_path / "index.md").exists()


def test_user_errors_are_one_clear_line(tmp_path):
    cases = [(["run", "--profile", "huge"], "unknown profile 'huge'; valid: ot-board, ot-scaling, otgrid, smoke, toy, toygrid, toyhang, toyslow"),
             (["run", "--profile", "smoke", "--track", "nope"], "unknown track 'nope'; valid:"),
             (["run", "--profile", "smoke", "--method", "dpo"], "unknown method/baseline 'dpo' of track 'ot'"),
             (["query", "select 1"], "no store at"),
             (["reproduce", "zzz"], "no store at")]
    for args, message in cases:
        out = tiltbench(*args, store=tmp_path / "none.duckdb")
        assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_list_and_help_teach():
    out = tiltbench("list", check=True).stdout
    assert "track ot" in out and "method    scones" in out and "profiles:" in out
    assert "examples:" in tiltbench("run", "--help", check=True).stdout


def test_export_filters_profiles_and_import_merges(ot_store, tmp_path):
    out = tiltbench("export", tmp_path / "exp", "--profile", "smoke", store=ot_store, check=True)
    assert "runs 7" in out.stdout
    for names in (["nope"], ["smoke", "nope"]):  # an unknown profile is an error, not an empty export
        bad = tiltbench("export", tmp_path / "none", "--profile", *names, store=ot_store)
        assert bad.returncode == 2 and "no runs of profile 'nope'" in bad.stderr and "smoke" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    merged = tmp_path / "merged.duckdb"
    assert "runs 7" in tiltbench("import", tmp_path / "exp", store=merged, check=True).stdout
    assert "runs 0" in tiltbench("import", tmp_path / "exp", store=merged, check=True).stdout


def test_a_reader_that_leaves_early_gets_no_error():
    """`tiltbench list | head -1`: a closed pipe ends the command quietly."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "tiltbench.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=0)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "error" not in err, err
