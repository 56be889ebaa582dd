from pathlib import Path

import pytest

from tiltbench import registry
from tiltbench.errors import TiltbenchError
from tiltbench.profiles import get_profile, load_profiles
from tiltbench.runner import plan


def test_tracks_and_solvers_come_from_plugins():
    assert {"ot", "toy"} <= set(registry.tracks())
    roles = {s.name: s.role for s in registry.solvers("ot")}
    assert roles == {"scones": "method", "lp": "baseline", "sinkhorn": "baseline", "sinkhorn-online": "baseline",
                     "barycentric": "baseline",
                     "floor": "reference", "independent": "reference"}


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(TiltbenchError, match=r"unknown track 'nope'; valid: .*ot"):
        registry.get_track("nope")
    with pytest.raises(TiltbenchError, match=r"unknown method/baseline 'dpo' of track 'ot'; valid: .*scones"):
        registry.get_solver("ot", "dpo")
    with pytest.raises(TiltbenchError, match=r"unknown profile 'huge'; valid: ot-board, ot-scaling, otgrid, smoke, toy"):
        get_profile("huge")


def test_solver_config_checks_keys_and_types():
    scones = registry.get_solver("ot", "scones")
    assert registry.solver_config(scones, "smoke", {"lr": 1})["lr"] == 1.0  # int -> float is fine
    with pytest.raises(TiltbenchError, match="unknown config key .* 'widht'; valid: .*width"):
        registry.solver_config(scones, "smoke", {"widht": 3})
    with pytest.raises(TiltbenchError, match="bad config value ot/scones.steps = 'many': expected int"):
        registry.solver_config(scones, "smoke", {"steps": "many"})


def test_profile_file_validation(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[x]\nbase_seed = 1\nworkers = 0\nthreads_per_worker = 1\ntimeout_s = 1\n'
                   'memory_limit_gb = 0\ngpus = 0\n')
    with pytest.raises(TiltbenchError, match="profile x.workers = 0: must be >= 1"):
        load_profiles(bad)
    bad.write_text("[x\n")
    with pytest.raises(TiltbenchError, match="not valid TOML"):
        load_profiles(bad)
    head = 'base_seed = 1\nworkers = 1\nthreads_per_worker = 1\ntimeout_s = 1\nmemory_limit_gb = 0\ngpus = 0\n'
    bad.write_text(f'[x]\n{head}[x.tracks.ot]\ntasks = ["a"]\nreps = 1\nreport_with = ["nope"]\n')
    with pytest.raises(TiltbenchError, match="x.tracks.ot.report_with: unknown profile 'nope' .*valid: x"):
        load_profiles(bad)
    bad.write_text(f'[x]\n{head}[x.tracks.ot]\ntasks = ["a"]\nreps = 1\nreport_with = ["x"]\n')
    with pytest.raises(TiltbenchError, match="x.tracks.ot.report_with = \\['x'\\].*not itself"):
        load_profiles(bad)


def test_the_whole_suite_profiles_cover_the_ot_track():
    from tiltbench.profiles import DEFAULT_FILE

    profiles = load_profiles(DEFAULT_FILE)
    assert {"smoke", "cpu", "gpu"} <= set(profiles)
    for name in ("smoke", "cpu", "gpu", "gpu-smoke"):  # the whole-suite profiles (studies may cover one track)
        assert "ot" in profiles[name].tracks
    for p in profiles.values():
        if "ot" in p.tracks:
            assert registry.solver_config(registry.get_solver("ot", "scones"), p.defaults_name)


def test_plan_pairs_seeds_across_solvers_and_keys_are_stable():
    cells = plan(get_profile("toy"), tracks=["toy"], methods=["good", "slow"])
    assert len(cells) == 2 * 2 * 2
    seeds = {(c.task, c.rep): set() for c in cells}
    for c in cells:
        seeds[(c.task, c.rep)].add(c.seed)
    assert all(len(s) == 1 for s in seeds.values())  # same seed for every solver of a (task, rep)
    assert len({c.content_key for c in cells}) == len(cells)
    again = plan(get_profile("toy"), tracks=["toy"], methods=["good", "slow"])
    assert [c.content_key for c in cells] == [c.content_key for c in again]


def test_plan_rejects_bad_task_names():
    with pytest.raises(TiltbenchError, match="bad task 'gaussian-dx' for track 'ot'"):
        plan(get_profile("smoke"), tracks=["ot"], tasks=["gaussian-dx"])


def test_code_version_ignores_docstrings_and_comments(tmp_path, monkeypatch):
    import importlib
    import sys

    from tiltbench.runner import module_source_hash

    monkeypatch.syspath_prepend(str(tmp_path))
    versions = []
    for i, body in enumerate(['"""doc"""\ndef f(x):\n    """a"""\n    return x + 1\n',
                              '"""other doc"""\n# a comment\ndef f(x):\n    """b"""\n    return x + 1\n',
                              '"""doc"""\ndef f(x):\n    return x + 2\n']):
        (tmp_path / f"mod_v{i}.py").write_text(body)
        importlib.import_module(f"mod_v{i}")
        sys.modules["mod_same"] = sys.modules[f"mod_v{i}"]
        versions.append(module_source_hash("mod_same"))
    assert versions[0] == versions[1] != versions[2]


def test_fingerprint_names_the_codes_commit_from_any_working_directory(tmp_path, monkeypatch):
    import subprocess

    from tiltbench.fingerprint import fingerprint

    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    import tiltbench

    if head.returncode != 0 or not Path(tiltbench.__file__).resolve().is_relative_to(root):
        pytest.skip("tiltbench is not imported from a git checkout here")
    monkeypatch.chdir(tmp_path)  # not a git checkout
    assert fingerprint("local", 1)["git_commit"] == head.stdout.strip()


_HEAD = 'base_seed = 1\nworkers = 1\nthreads_per_worker = 1\ntimeout_s = 20\nmemory_limit_gb = 0\ngpus = 0\n'
_TOY = f'[p]\nsolver_defaults = "toy"\n{_HEAD}[p.tracks.toy]\ntasks = ["const-1", "const-2"]\nreps = 2\nbudget = 10\n'


def test_task_overrides_change_only_their_tasks_cells(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(_TOY)
    before = {(c.task, c.rep): c for c in plan(load_profiles(path)["p"], tracks=["toy"], methods=["good"])}
    path.write_text(_TOY + '[p.tracks.toy.task_overrides."const-2"]\nbudget = 20\n')
    after = {(c.task, c.rep): c for c in plan(load_profiles(path)["p"], tracks=["toy"], methods=["good"])}
    assert before.keys() == after.keys()
    for (task, rep), cell in after.items():
        assert cell.track_config == {"budget": 20 if task == "const-2" else 10}
        assert "task_overrides" not in cell.track_config
        same = cell.content_key == before[(task, rep)].content_key
        assert same == (task == "const-1")  # stored cells of the other task stay valid
        assert cell.seed == before[(task, rep)].seed  # the seeds do not move


@pytest.mark.parametrize("text, message", [
    (_TOY + '[p.tracks.toy.task_overrides."const-3"]\nbudget = 20\n',
     r"p.tracks.toy.task_overrides: unknown task 'const-3' .*valid: const-1, const-2"),
    (_TOY + '[p.tracks.toy.task_overrides."const-2"]\nbudjet = 20\n',
     r"p.tracks.toy.task_overrides.const-2: unknown key 'budjet' .*valid: budget"),
    (_TOY + '[p.tracks.toy.task_overrides."const-2"]\nbudget = "long"\n',
     r"p.tracks.toy.task_overrides.const-2.budget = 'long' \(string\): expected an integer, like the section's "
     r"budget = 10"),
    (_TOY.replace("budget = 10\n", "budget = 10\ntask_overrides = 3\n"),
     r"p.tracks.toy.task_overrides = 3 \(integer\): expected a table of per-task tables"),
])
def test_bad_task_overrides_name_the_bad_value_and_the_valid_ones(tmp_path, text, message):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(TiltbenchError, match=message):
        load_profiles(path)


def test_the_report_names_settings_that_differ_by_task(tmp_path, monkeypatch):
    from conftest import tiltbench

    path = tmp_path / "p.toml"
    path.write_text(_TOY + '[p.tracks.toy.task_overrides."const-2"]\nbudget = 20\n')
    monkeypatch.setenv("TILTBENCH_PROFILES", str(path))
    store = tmp_path / "r.duckdb"
    tiltbench("run", "--profile", "p", "--method", "good", "--no-progress", store=store, check=True)
    listed = tiltbench("list", "--profile", "p", check=True).stdout
    assert "const-2 runs with budget = 20 (task_overrides)" in listed
    tiltbench("report", "--profile", "p", "--out", tmp_path / "out", store=store, check=True)
    text = (tmp_path / "out" / "toy.md").read_text()
    assert ("- settings that differ by task (the profile's `task_overrides`): `const-1`: budget = 10; "
            "`const-2`: budget = 20") in text
