"""Parameter grids, the tuning protocol and frontiers: pure functions, the plan, and a real sweep."""

import json
import math

import pytest
from conftest import tiltbench

from tiltbench import tuning
from tiltbench.errors import TiltbenchError
from tiltbench.profiles import Profile, get_profile
from tiltbench.runner import plan
from tiltbench.store import Store


def test_grid_points_and_labels():
    points = tuning.grid_points({"sleep_s": [0.0, 0.5], "offset": [1.0]})
    assert points == [{"offset": 1.0, "sleep_s": 0.0}, {"offset": 1.0, "sleep_s": 0.5}]
    assert tuning.grid_points({}) == []
    assert tuning.label("dpo", {"beta": 0.1, "lr": 0.0002}) == "dpo[beta=0.1,lr=0.0002]"
    assert tuning.base_name("dpo[beta=0.1]") == "dpo" and tuning.is_grid_point("dpo[beta=0.1]")
    assert not tuning.is_grid_point("dpo")


def test_a_selection_at_the_grids_edge_is_named():
    labels = [f"tdrl[lr=0.0001,w={w}]" for w in (1, 2)] + [f"tdrl[lr={lr},w=1]" for lr in (0.0003, 0.001)]
    assert tuning.at_edge("tdrl[lr=0.0001,w=1]", labels) == ["lr lowest"]  # w has two values: not named
    assert tuning.at_edge("tdrl[lr=0.001,w=1]", labels) == ["lr highest"]
    assert tuning.at_edge("tdrl[lr=0.0003,w=1]", labels) == []
    assert tuning.at_edge("tdrl[mode=a]", ["tdrl[mode=a]", "tdrl[mode=b]", "tdrl[mode=c]"]) == []  # not numbers


def test_select_pareto_interpolate():
    assert tuning.select({"a[x=1]": [1.0, 2.0], "a[x=2]": [3.0, 1.0], "a[x=3]": [math.nan]}, True) == "a[x=2]"
    assert tuning.select({"a[x=1]": [1.0], "a[x=2]": [1.0]}, False) == "a[x=1]"  # ties: smallest values
    assert tuning.select({"a[x=0.4]": [1.0], "a[x=0]": [1.0]}, True) == "a[x=0]"  # numbers, not text
    assert tuning.select({"a[x=1]": [math.nan]}, True) is None
    # (cost, quality), lower cost and higher quality better: (3, 1) is dominated by (2, 2)
    assert tuning.pareto([(1.0, 1.0), (2.0, 2.0), (3.0, 1.0), (4.0, 3.0)], higher_quality=True) == [0, 1, 3]
    assert tuning.interpolate([1.0, 3.0], [10.0, 20.0], 2.0) == 15.0
    assert math.isnan(tuning.interpolate([1.0, 3.0], [10.0, 20.0], 4.0))
    assert tuning.matched_x([[1.0, 5.0], [2.0, 8.0]]) == 3.5
    assert math.isnan(tuning.matched_x([[1.0, 2.0], [3.0, 4.0]]))


def test_plan_runs_grid_points_on_validation_with_their_own_seeds():
    cells = plan(get_profile("toygrid"))
    good = [c for c in cells if c.solver == "good"]
    assert {c.method for c in good} == {"good[offset=0,sleep_s=0]", "good[offset=0,sleep_s=0.4]",
                                        "good[offset=2,sleep_s=0]", "good[offset=2,sleep_s=0.4]"}
    assert all(c.split == "validation" and c.grid for c in good) and len(good) == 4 * 3
    assert {c.config["offset"] for c in good} == {0.0, 2.0}
    # no evaluation cells before tuning is stored; tuning seeds are not evaluation seeds
    evaluation = plan(get_profile("toy"), tracks=["toy"], methods=["good"])
    assert not {c.seed for c in good} & {c.seed for c in evaluation}
    assert not {c.task_seed for c in good} & {c.task_seed for c in evaluation}


def test_a_track_with_split_param_is_told_each_cells_split(monkeypatch):
    """llm-style validation (other data, not only other seeds): make_task gets split= from the worker."""
    from tiltbench import registry, worker

    track, seen = registry.get_track("toy"), []

    def make_task(name, config, seed, split="test"):
        seen.append(split)
        return 1.0

    monkeypatch.setattr(track, "make_task", make_task)
    monkeypatch.setattr(track, "split_param", "split")
    tuning_cell = next(c for c in plan(get_profile("toygrid")) if c.solver == "good")
    test_cell = plan(get_profile("toy"), tracks=["toy"], methods=["good"])[0]
    worker.execute(tuning_cell)
    worker.execute(test_cell)
    assert seen[-2:] == ["validation", "test"]
    monkeypatch.setattr(track, "validation", "")
    with pytest.raises(ValueError, match="split_param 'split' without a validation split"):
        registry._check_protocol(track)


def _profile(grid, track="toy", solver="good"):
    return Profile("g", "-", 7, 1, 1, 30.0, 0.0, 0,
                   tracks={track: {"tasks": ["const-1"] if track == "toy" else ["gaussian-d2-lam4"], "reps": 1,
                                   "solvers": {solver: {"grid": grid}}}}, solver_defaults="toy" if track == "toy" else "smoke")


@pytest.mark.parametrize("grid,message", [
    ({"nope": [1.0]}, "unknown config key for toy/good 'nope'; valid: alloc_gb, offset, sleep_s"),
    ({"offset": []}, r"solvers.good.grid.offset = \[\]: expected a non-empty list"),
    ({"offset": ["a"]}, "bad config value toy/good.offset = 'a': expected float"),
    ({"offset": [1.0, 1.0]}, "values repeat"),
])
def test_bad_grids_fail_before_anything_runs(grid, message):
    with pytest.raises(TiltbenchError, match=message):
        plan(_profile(grid))


def test_a_grid_needs_a_validation_split():
    with pytest.raises(TiltbenchError, match="track 't2i-sd' has no validation split"):
        plan(Profile("g", "-", 7, 1, 1, 30.0, 0.0, 0, solver_defaults="smoke",
                     tracks={"t2i-sd": {"tasks": ["tiny-lam0.1"], "reps": 1,
                                        "solvers": {"guidance-net-sd": {"grid": {"gamma": [1.0, 2.0]}}}}}))


def test_sweep_tunes_then_evaluates_the_selected_point(store_path, tmp_path):
    out = tiltbench("run", "--profile", "toygrid", "--no-progress", store=store_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "tuning done: 6 evaluation cell(s)" in out.stderr
    store = Store(store_path)
    tuned = store.query("SELECT method, config FROM runs WHERE method = 'good'")
    assert len(tuned) == 3
    # offset 2 wins on value (higher is better); its two sleep settings tie exactly (same seeds): the smaller wins
    assert [(json.loads(c)["solver"]["offset"], json.loads(c)["solver"]["sleep_s"]) for c in tuned.config] == [(2.0, 0.0)] * 3
    assert [json.loads(c)["grid"] for c in tuned.config] == [{"offset": 2.0, "sleep_s": 0.0}] * 3  # recorded
    grid = store.query("SELECT method, json_extract_string(config, '$.split') AS split, "
                       "json_extract(config, '$.grid.offset')::DOUBLE AS offset FROM runs WHERE method LIKE 'good[%'")
    assert len(grid) == 12 and set(grid.split) == {"validation"} and set(grid.offset) == {0.0, 2.0}
    again = tiltbench("run", "--profile", "toygrid", "--no-progress", store=store_path, timeout=300)
    assert "skipping 24 cell(s)" in again.stderr and "ok 0, failed 0" in again.stderr

    tiltbench("report", "--profile", "toygrid", "--out", tmp_path / "out", store=store_path, check=True)
    text = (tmp_path / "out" / "toy.md").read_text()
    assert "## Tuning" in text and "`good`: 4 point(s) × 3 tuning seed(s)" in text
    selected = [line for line in text.splitlines() if line.startswith("| good |") and "✓" in line]
    assert len(selected) == 1 and "good[offset=2,sleep_s=0]`" in selected[0]
    assert (tmp_path / "out" / "toy" / "frontier_const-1.png").exists()
    assert "value at a matched wall_s" in text and "| good − slow |" in text

    listed = tiltbench("list", "--profile", "toygrid", check=True).stdout
    assert "good: grid of 4 point(s) x 3 tuning seed(s)" in listed and "good[offset=2,sleep_s=0.4]" in listed


def test_ot_grids_end_to_end(store_path, tmp_path):
    """The real ot track: SCONES' training steps and Sinkhorn's iteration cap tuned on the validation
    instance by BW-UVP, the selected points evaluated on the test instance, grids and frontiers in the report."""
    out = tiltbench("run", "--profile", "otgrid", "--no-progress", "--strict", store=store_path, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    store = Store(store_path)
    chosen = store.query("SELECT method, any_value(config) AS config FROM runs WHERE method IN ('scones', 'sinkhorn') "
                         "GROUP BY method ORDER BY method")
    configs = {m: json.loads(c)["solver"] for m, c in zip(chosen.method, chosen.config)}
    assert configs["sinkhorn"]["max_iter"] == 2000  # 3 iterations are far from the plan
    assert store.query("SELECT count(*) AS n FROM runs WHERE method = 'floor'").n[0] == 3
    tiltbench("report", "--profile", "otgrid", "--out", tmp_path / "out", store=store_path, check=True)
    text = (tmp_path / "out" / "ot.md").read_text()
    assert "`scones`: 2 point(s) × 2 tuning seed(s); `sinkhorn`: 2 point(s) × 2 tuning seed(s)" in text
    assert "`sinkhorn[max_iter=2000]`" in text and "bw_uvp at a matched wall_s" in text
    assert (tmp_path / "out" / "ot" / "frontier_gaussian-d2-lam4.png").exists()


def test_a_failing_grid_point_is_left_out_not_blocking(store_path):
    """One grid point times out on every seed: the other is selected and evaluated, and the tuned
    rows record the point they came from."""
    import dataclasses

    from tiltbench.executors import LocalExecutor
    from tiltbench.runner import sweep

    profile = dataclasses.replace(_profile({"sleep_s": [0.0, 30.0]}, solver="slow"), timeout_s=3.0)
    store = Store(store_path)
    first = plan(profile, methods=["slow", "good"], store=store)
    assert {c.method for c in first} == {"slow[sleep_s=0]", "slow[sleep_s=30]", "good"}
    sweep(store, first, LocalExecutor(2), show_progress=False)
    second = [c for c in plan(profile, methods=["slow", "good"], store=store) if c.content_key not in {c.content_key for c in first}]
    assert [(c.method, c.split, c.grid) for c in second] == [("slow", "test", {"sleep_s": 0.0})]
    sweep(store, second, LocalExecutor(1), show_progress=False)
    row = store.query("SELECT json_extract(config, '$.grid.sleep_s')::DOUBLE AS s FROM runs WHERE method = 'slow'")
    assert list(row.s) == [0.0]


def test_grid_points_that_coincide_are_refused():
    with pytest.raises(TiltbenchError, match="two points that are the same"):
        plan(_profile({"offset": [1, 1.0]}))


def test_reports_and_verdicts_leave_out_tasks_the_profile_no_longer_runs(store_path, tmp_path):
    """A task dropped from a profile keeps its stored rows; its report and its claims' Holm family don't."""
    for task in ("const-1", "const-3"):  # const-3 is not among the toy profile's tasks
        out = tiltbench("run", "--profile", "toy", "--task", task, "--method", "good", "slow", "--no-progress",
                        store=store_path, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
    tiltbench("report", "--profile", "toy", "--out", tmp_path / "out", store=store_path, check=True)
    text = (tmp_path / "out" / "toy.md").read_text()
    assert "left out: stored rows of `const-3`" in text
    assert "| const-1 |" in text and "| const-3 |" not in text and "### const-3" not in text
    claims = tiltbench("claims", "--profile", "toy", store=store_path, check=True).stdout
    assert "const-1" in claims and "const-3" not in claims
    assert len(Store(store_path).query("SELECT * FROM runs WHERE task = 'const-3'")) == 4  # still stored


def test_matched_at_an_achievement_keeps_the_points_that_reach_more_of_it():
    """x = the training reward a held-out score is read at: more x is better, so the frontier is the
    points that reach more reward for their held-out score (with x taken as a cost, the lowest-reward
    point would dominate and the frontiers would not overlap)."""
    from tiltbench import tuning

    seeds = range(3)
    a = {"a[s=1]": {r: (0.30 + 0.01 * r, 0.95) for r in seeds}, "a[s=2]": {r: (0.40 + 0.01 * r, 0.90) for r in seeds}}
    b = {"b[s=1]": {r: (0.32 + 0.01 * r, 0.80) for r in seeds}, "b[s=2]": {r: (0.38 + 0.01 * r, 0.60) for r in seeds}}
    assert tuning.frontier(a, True, lower_x=True) == ["a[s=1]"]  # as a cost, the low-reward point dominates
    assert tuning.frontier(a, True, lower_x=False) == ["a[s=1]", "a[s=2]"]
    x_star, qa, qb = tuning.at_matched_x(a, b, True, lower_x=False)
    assert 0.33 < x_star < 0.40 and set(qa) == set(qb) == set(seeds)
    assert all(qa[r] > qb[r] for r in seeds)
    assert math.isnan(tuning.at_matched_x(a, b, True, lower_x=True)[0])


def test_a_solver_can_be_tuned_on_a_metric_of_its_own(tmp_path):
    """select_point picks by the metric it is given; TdRL is tuned on its own tests' pass rate, never on the
    handcrafted return it must not see, while the rl baselines keep the track's selection metric."""
    import types
    import uuid

    from tiltbench import registry
    from tiltbench.runner import select_point

    store, cells = Store(tmp_path / "s.duckdb"), []
    env = {"env_id": "e", "fingerprint": "{}"}
    for offset, value, noise in ((0.0, 1.0, 5.0), (2.0, 3.0, 1.0)):
        method = tuning.label("good", {"offset": offset})
        for rep in range(2):
            key = f"{method}/{rep}"
            store.write_run({"run_id": uuid.uuid4().hex[:16], "content_key": key, "profile": "p", "track": "toy",
                             "task": "const-1", "method": method, "role": "method", "rep": rep, "seed": rep,
                             "status": "ok", "finished_at": "2026-01-01 00:00:00"},
                            {"value": value + rep, "noise": noise}, {}, env)
            cells.append(types.SimpleNamespace(content_key=key, method=method, grid={"offset": offset}))
    assert select_point(store, registry.Metric("value", "", True), cells) == {"offset": 2.0}
    assert select_point(store, registry.Metric("noise", "", True), cells) == {"offset": 0.0}
    rl = registry.get_track("rl")
    assert registry.get_solver("rl", "tdrl").selection_metric(rl).name == "pass_all"
    assert registry.get_solver("rl", "sac-handcrafted").selection_metric(rl).name == rl.primary == "norm_return"


def test_reports_leave_out_grid_points_the_profile_no_longer_runs(store_path):
    """A grid point dropped from a profile's grid keeps its rows in the store; the report reads the current grid."""
    import json
    import uuid

    from tiltbench import report

    grids = report.profile_grids("toygrid")
    assert grids["toy"] == {"good[offset=0,sleep_s=0]", "good[offset=0,sleep_s=0.4]", "good[offset=2,sleep_s=0]",
                            "good[offset=2,sleep_s=0.4]", "slow[sleep_s=0]", "slow[sleep_s=0.2]"}
    assert report.profile_grids("no-such-profile") is None
    store = Store(store_path)
    for method in ("slow[sleep_s=0]", "slow[sleep_s=0.2]", "slow[sleep_s=9]"):  # the last: dropped since it ran
        run = {"run_id": uuid.uuid4().hex[:16], "content_key": method, "profile": "toygrid", "track": "toy",
               "task": "const-1", "method": method, "role": "baseline", "rep": 0, "seed": 1, "status": "ok",
               "finished_at": "2026-01-01 00:00:00", "config": json.dumps({"split": "validation"})}
        store.write_run(run, {"value": 1.0}, {}, {"env_id": "e"})
    data, notes = report.load_current(store, "toygrid", "toy")
    assert set(data["runs"].method) == {"slow[sleep_s=0]", "slow[sleep_s=0.2]"}
    assert notes == ["- left out: stored rows of grid point(s) `slow[sleep_s=9]`, which this profile's grids no longer "
                     "hold (they stay in the store and in `tiltbench query`)"]
