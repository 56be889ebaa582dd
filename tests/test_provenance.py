"""The published leaderboards are a pure function of the exported raw rows (results/runs/*.parquet):
re-rendering them reproduces every published markdown file byte for byte."""

from pathlib import Path

import pytest

from tiltbench.profiles import DEFAULT_FILE, published_profile
from tiltbench.report import render
from tiltbench.store import Store

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_published_markdown_rerenders_byte_for_byte(tmp_path):
    """It doubles as the determinism check: the published bytes came from another process on another day, so
    a render that varied from run to run would fail it (a separate test rendering twice took 133 s of CI)."""
    pytest.importorskip("rliable", reason="the rl report section needs the `rl` extra")
    assert (RESULTS / "runs" / "runs.parquet").exists(), "results/runs/ must hold the exported published runs"
    store = Store(tmp_path / "store.duckdb")
    store.import_(RESULTS / "runs")
    profile = published_profile(DEFAULT_FILE)
    written = render(store, profile, tmp_path / "out")
    assert written, "nothing rendered from the published runs"
    for path in written:
        published = RESULTS / path.name
        assert published.exists(), f"{path.name} is rendered but not published"
        assert path.read_bytes() == published.read_bytes(), (
            f"results/{path.name} differs from a re-render of results/runs/: re-run "
            f"`tiltbench import results/runs --store S && tiltbench report --profile {profile} --store S`")


@pytest.mark.parametrize("name", ["ot.md", "rl.md", "llm.md", "t2i.md"])
def test_every_published_track_report_shows_its_claims(name):
    text = (RESULTS / name).read_text()
    assert "## Claims" in text and "| claim | hypothesis | task | verdict |" in text


def test_a_report_marks_rows_made_by_other_code_as_stale(tmp_path):
    import duckdb

    from tiltbench.executors import LocalExecutor
    from tiltbench.profiles import get_profile
    from tiltbench.runner import plan, sweep

    path = tmp_path / "store.duckdb"
    cells = plan(get_profile("toy"), tracks=["toy"], methods=["good", "slow"], tasks=["const-1"], reps=1)
    sweep(Store(path), cells, LocalExecutor(1), show_progress=False)
    fresh = (render(Store(path), "toy", tmp_path / "a")[0]).read_text()
    assert "stale rows" not in fresh
    con = duckdb.connect(str(path))
    con.execute("UPDATE runs SET code_version = 'from-older-code' WHERE method = 'slow'")
    con.close()
    text = (render(Store(path), "toy", tmp_path / "b")[0]).read_text()
    assert "**stale rows**: `slow` were computed by other code than this checkout's" in text


# What Python 3.11's ast.dump(annotate_fields=False) writes for this source; 3.12 adds type_params to
# every function and class, 3.13 leaves out empty fields.  The code version must not change with them.
_SRC = 'class A:\n    def f(self, x: int = 1, *a, k=None, **kw) -> str:\n        return f"{x!r:>4}" + str(k)\n'
_DUMP_311 = ("Module([ClassDef('A', [], [], [FunctionDef('f', arguments([], [arg('self'), arg('x', Name('int', "
             "Load()))], arg('a'), [arg('k')], [Constant(None)], arg('kw'), [Constant(1)]), [Return(BinOp(JoinedStr("
             "[FormattedValue(Name('x', Load()), 114, JoinedStr([Constant('>4')]))]), Add(), Call(Name('str', "
             "Load()), [Name('k', Load())], [])))], [], Name('str', Load()))], [])], [])")


def test_the_code_version_does_not_depend_on_the_python_version():
    """A GPU machine with Python 3.12 must compute the same code version as this one (3.11)."""
    import ast
    import sys

    from tiltbench.runner import _dump

    assert _dump(ast.parse(_SRC)) == _DUMP_311
    if sys.version_info[:2] == (3, 11):
        assert ast.dump(ast.parse(_SRC), annotate_fields=False) == _DUMP_311
