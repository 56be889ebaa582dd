"""The command stays fast and quiet: registering the plugins imports no heavy library, and a cell's
third-party progress bars (transformers' "Loading weights", tqdm) never reach the CLI's output."""

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import profile_header

HEAVY = ("torch", "transformers", "diffusers", "dm_control", "ot", "scipy", "pandas", "sklearn", "sentence_transformers")


def _fresh(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TILTBENCH_PLUGINS"}  # the packaged plugins only
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=60)


def test_registering_the_plugins_imports_no_heavy_library():
    proc = _fresh(f"""
        import sys
        from tiltbench import claims, registry
        registry.load_plugins()
        assert {{"ot", "rl", "llm", "t2i"}} <= set(registry.tracks()), registry.tracks()
        assert len(registry.solvers()) >= 20 and claims.claims()
        [s.description for s in registry.solvers()]  # descriptions come from the source, not an import
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"load_plugins() imported {proc.stdout.strip()}"


def test_a_solver_module_is_imported_on_its_first_call_only():
    proc = _fresh("""
        import sys
        from tiltbench import registry
        from tiltbench.runner import module_source_hash
        scones = registry.get_solver("ot", "scones")
        module_source_hash(*scones.modules)  # the code version reads the file without importing it
        assert "tiltbench.methods.scones" not in sys.modules and "torch" not in sys.modules
        import numpy as np
        task = registry.get_track("ot").make_task("gaussian-d2-lam1", {"n": 64}, 0)
        assert scones.fn.resolve() is sys.modules["tiltbench.methods.scones"].scones
    """)
    assert proc.returncode == 0, proc.stderr


def test_a_misspelt_task_fails_before_its_track_is_imported():
    proc = _fresh(f"""
        import sys
        from tiltbench import registry
        from tiltbench.errors import TiltbenchError
        from tiltbench.profiles import DEFAULT_FILE, get_profile
        from tiltbench.runner import plan
        registry.load_plugins()
        for track, bad in (("ot", "gausian-d2-lam1"), ("rl", "cartpole-swing"), ("llm", "verifable"),
                           ("t2i", "correct-lam")):
            try:
                plan(get_profile("smoke", DEFAULT_FILE), tracks=[track], tasks=[bad])
            except TiltbenchError as exc:
                assert f"bad task {{bad!r}} for track {{track!r}}: task names look like" in str(exc), exc
            else:
                raise AssertionError(f"{{track}}/{{bad}} planned")
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"rejecting a bad task name imported {proc.stdout.strip()}"


def test_every_published_task_matches_its_tracks_task_regex():
    from tiltbench import registry
    from tiltbench.profiles import DEFAULT_FILE, load_profiles

    registry.load_plugins()
    for profile in load_profiles(DEFAULT_FILE).values():
        for track, cfg in profile.tracks.items():
            for task in cfg["tasks"]:
                registry.get_track(track).check_task_name(task)  # raises on a mismatch


def test_t2i_manifest_names_the_rewards_of_the_track():
    from tiltbench.benchmarks.t2i import manifest, rewards

    assert manifest.REWARDS == rewards.REWARDS


BAR_PROFILE = profile_header("bars", "one tiny t2i cell", "smoke", timeout_s=120) + """
[bars.tracks.t2i]
tasks = ["bright-lam1"]
reps = 1
methods = ["base-flow"]
widths = [16, 32]
base_steps = 5
sample_steps = 2
pool = 2
n_eval = 2
"""


def test_a_cell_prints_no_third_party_progress_bar(tmp_path):
    """The cheapest real cell that loads MiniLM (transformers draws a "Loading weights" tqdm bar)."""
    pytest.importorskip("diffusers")
    pytest.importorskip("sentence_transformers")
    (tmp_path / "profiles.toml").write_text(BAR_PROFILE)
    # the tiny base model and classifiers are trained once into the user's cache (~10 s), then reused
    env = {**{k: v for k, v in os.environ.items() if k not in ("TILTBENCH_PLUGINS", "TQDM_DISABLE",
                                                               "HF_HUB_DISABLE_PROGRESS_BARS")},
           "TILTBENCH_PROFILES": str(tmp_path / "profiles.toml")}
    proc = subprocess.run([sys.executable, "-m", "tiltbench.cli", "run", "--profile", "bars", "--no-progress",
                           "--strict", "--store", str(tmp_path / "s.duckdb")],
                          capture_output=True, text=True, env=env, timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "ok t2i/bright-lam1/base-flow#0" in out
    for bar in ("it/s]", "%|", "Loading weights"):
        assert bar not in out, f"a progress bar leaked into the CLI's output:\n{out}"


def test_claims_reads_the_store_without_pandas_or_the_report(tmp_path):
    """`tiltbench claims` judges from plain rows: pandas and the report module (and matplotlib) cost it
    a second of imports, so it must not pull them in.  A real store with rows the toy claim judges."""
    import uuid

    from tiltbench.store import Store

    store = Store(tmp_path / "s.duckdb")
    for method, values in (("good", (3.0, 3.2, 2.9)), ("slow", (1.0, 1.1, 0.9))):
        for rep, value in enumerate(values):
            run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"const-1/{method}/{rep}", "profile": "toy",
                   "track": "toy", "task": "const-1", "method": method, "role": "method", "rep": rep, "seed": rep,
                   "status": "ok", "finished_at": "2026-01-01 00:00:00"}
            store.write_run(run, {"value": value}, {}, {"env_id": "test-env"})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from tiltbench import cli
        assert cli.main(["claims", "--profile", "toy", "--track", "toy", "--store", {str(store.path)!r}]) == 0
        print(sorted(m for m in ("pandas", "matplotlib", "tiltbench.report", "torch") if m in sys.modules))
    """)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "toy-good-beats-slow" in proc.stdout and "not judged" in proc.stdout, proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
