"""Claims judged from a real DuckDB store: t-tests, TOST equivalence, Holm's correction and gates."""

import uuid

import pytest
from conftest import tiltbench

from tiltbench import claims as claims_mod
from tiltbench import report
from tiltbench.claims import COMPARATOR, Claim, Gate
from tiltbench.errors import TiltbenchError
from tiltbench.store import Store

ENV = {"env_id": "test-env"}


def _store(path, rows):
    """rows: {(task, method): [value per rep]} of metric 'value' (and 'noise' = rep) in profile 'p'."""
    store = Store(path)
    for (task, method), values in rows.items():
        for rep, v in enumerate(values):
            run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"{task}/{method}/{rep}", "profile": "p",
                   "track": "toy", "task": task, "method": method, "role": "method", "rep": rep, "seed": rep,
                   "status": "ok", "finished_at": "2026-01-01 00:00:00"}
            store.write_run(run, {"value": v, "noise": float(rep)}, {}, ENV)
    return store


def _claim(relation="greater", gates=(), **kw):
    return Claim(track="toy", id=f"c-{uuid.uuid4().hex[:6]}", statement="-", source="-", metric="value",
                 method="good", comparator="slow", relation=relation, gates=gates, **kw)


def test_paired_t_verdicts(tmp_path):
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [2.0, 2.1, 1.9, 2.05], ("t", "slow"): [1.0, 1.05, 0.9, 1.0],
                                           ("u", "good"): [1.0, 2.0, 0.5, 1.6], ("u", "slow"): [1.1, 1.2, 1.0, 1.3]})
    by_task = {j.task: j for j in claims_mod.judge(store, "p", _claim())}
    assert by_task["t"].verdict == "supported" and by_task["t"].p < 0.001
    assert by_task["u"].verdict == "inconclusive" and "Holm-adjusted p" in by_task["u"].reason
    less = {j.task: j for j in claims_mod.judge(store, "p", _claim("less"))}
    assert less["t"].verdict == "contradicted"


def test_equivalence_uses_tost_with_a_relative_margin(tmp_path):
    store = _store(tmp_path / "s.duckdb", {
        ("near", "good"): [10.0, 10.1, 9.9, 10.05, 9.95], ("near", "slow"): [10.0, 10.0, 10.0, 10.0, 10.0],
        ("far", "good"): [14.0, 14.1, 13.9, 14.05, 13.95], ("far", "slow"): [10.0, 10.0, 10.0, 10.0, 10.0],
        ("noisy", "good"): [8.0, 12.0, 9.0, 11.5, 10.0], ("noisy", "slow"): [10.0, 10.0, 10.0, 10.0, 10.0]})
    claim = _claim("within", margin=0.1, rel_margin=0.1)  # margin = max(0.1, 0.1 * 10) = 1
    by_task = {j.task: j for j in claims_mod.judge(store, "p", claim)}
    assert by_task["near"].margin == pytest.approx(1.0)
    assert by_task["near"].verdict == "supported"
    assert by_task["far"].verdict == "contradicted"
    assert by_task["noisy"].verdict == "inconclusive"


def test_holm_turns_a_marginal_result_inconclusive_in_a_family(tmp_path):
    # alone, task 'm' has p ~ 0.03; with four other tasks that each need their own test it does not survive
    rows = {("m", "good"): [1.3, 1.0, 1.6, 1.2, 1.4], ("m", "slow"): [1.0, 1.0, 1.0, 1.0, 1.0]}
    for t in ("a", "b", "c", "d"):
        rows[(t, "good")], rows[(t, "slow")] = [0.1, 0.4, -0.2, 0.3, 0.0], [0.0] * 5
    store = _store(tmp_path / "s.duckdb", rows)
    claim = _claim()
    p_alone = claims_mod.judge(store, "p", _claim(tasks="m"))[0]
    assert p_alone.p < 0.05 and p_alone.verdict == "supported"
    m = next(j for j in claims_mod.judge(store, "p", claim) if j.task == "m")
    assert m.p_adj > 0.05 and m.verdict == "inconclusive"


def test_a_failed_gate_is_not_judged_and_rendered_so(tmp_path, monkeypatch):
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [2.0, 2.1, 1.9], ("t", "slow"): [1.0, 1.05, 0.9]})
    gated = _claim(gates=(Gate.at_least(COMPARATOR, "value", 5.0, why="slow must be competent"),))
    open_gate = _claim(gates=(Gate.at_least(COMPARATOR, "value", 0.5, agg="min"),
                              Gate.matched("noise", 0.0, abs_tol=0.5)))
    j = claims_mod.judge(store, "p", gated)[0]
    assert j.verdict == "not judged" and "mean value of slow is 0.983, needs ≥ 5" in j.reason
    assert "slow must be competent" in j.reason
    assert claims_mod.judge(store, "p", open_gate)[0].verdict == "supported"
    monkeypatch.setattr(claims_mod, "claims", lambda track=None: [gated, open_gate])
    text = "\n".join(report.claims_section(store, "p", "toy"))
    assert "**not judged**: mean value of slow is 0.983" in text and "**supported**" in text
    assert "Gates: mean value of slow ≥ 5" in text and "Holm" in text


def test_beats_gate_needs_a_clear_win(tmp_path):
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [2.0, 2.1, 1.9], ("t", "slow"): [1.9, 2.2, 2.0]})
    j = claims_mod.judge(store, "p", _claim(gates=(Gate.beats("good", COMPARATOR, "value"),)))[0]
    assert j.verdict == "not judged" and "good does not clearly beat slow" in j.reason


def test_beats_gate_can_compare_a_solver_with_another_metric_of_itself(tmp_path):
    """other_metric: 'good' must beat its own earlier score ('noise' = rep here), paired by seed."""
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [5.0, 6.1, 7.2], ("t", "slow"): [1.0, 1.0, 1.0],
                                           ("u", "good"): [0.2, 1.0, 2.5], ("u", "slow"): [0.0, 0.0, 0.0]})
    gate = Gate.beats("good", "good", "value", other_metric="noise", why="good must improve on its start")
    by_task = {j.task: j for j in claims_mod.judge(store, "p", _claim(gates=(gate,)))}
    assert by_task["t"].verdict != "not judged"  # value - rep = 5, 5.1, 5.2: clearly above
    assert by_task["u"].verdict == "not judged"  # value - rep = 0.2, 0, 0.5: no clear win
    assert "good's value does not clearly beat its own noise" in by_task["u"].reason
    assert claims_mod.describe_gate(_claim(), gate) == "value of good beats noise of good"
    with pytest.raises(TiltbenchError, match="unknown metric .*'explore'.*valid: .*value"):
        claims_mod.validate(_claim(gates=(Gate.beats("good", "good", "value", other_metric="explore"),)))


def test_a_credit_gate_withholds_only_a_supported_verdict(tmp_path):
    """blocks="supported": 'good' must beat its own earlier score ('noise' = rep) to be credited; where it
    does not, a win is not judged but a clear loss stays contradicted."""
    store = _store(tmp_path / "s.duckdb", {("win", "good"): [2.0, 2.1, 2.2, 2.05], ("win", "slow"): [1.0] * 4,
                                           ("lose", "good"): [0.0, 1.0, 2.0, 3.0], ("lose", "slow"): [9.0, 10.1, 10.9, 12.0]})
    gate = Gate.beats("good", "good", "value", other_metric="noise", blocks="supported", why="credit")
    by_task = {j.task: j for j in claims_mod.judge(store, "p", _claim(gates=(gate,)))}
    assert by_task["win"].verdict == "not judged" and "does not clearly beat its own noise" in by_task["win"].reason
    assert by_task["lose"].verdict == "contradicted"
    # the standing loss carries the failed gate as a note, which the report prints beside the verdict
    assert "does not clearly beat its own noise" in by_task["lose"].note and by_task["win"].note == ""
    from tiltbench.report import _verdict_text
    assert _verdict_text(by_task["lose"]).startswith("**contradicted** (a gate that withholds only support is not met: ")
    assert "withholds only a supported verdict" in claims_mod.describe_gate(_claim(), gate)
    with pytest.raises(TiltbenchError, match="gate blocks.*'sometimes'.*valid: any, supported"):
        claims_mod.register_claim(_claim(gates=(Gate.beats("good", "good", "value", blocks="sometimes"),)))


def test_gates_naming_unknown_solvers_or_metrics_fail_with_the_valid_names():
    with pytest.raises(TiltbenchError, match="unknown .*'nobody'.*valid: .*good"):
        claims_mod.validate(_claim(gates=(Gate.at_least("nobody", "value", 1.0),)))
    with pytest.raises(TiltbenchError, match="unknown metric .*'kl'.*valid: .*value"):
        claims_mod.validate(_claim(gates=(Gate.matched("kl", 0.1),)))
    with pytest.raises(TiltbenchError, match="unknown gate kind"):
        claims_mod.register_claim(_claim(gates=(Gate("sometimes", "value"),)))


def test_claims_strict_exits_non_zero_when_a_gate_fails(store_path):
    tiltbench("run", "--profile", "toy", "--track", "toy", "--method", "good", "slow", "--no-progress",
              store=store_path, check=True)
    out = tiltbench("claims", "--profile", "toy", "--track", "toy", store=store_path)
    assert out.returncode == 0 and "not judged" in out.stdout and "slow must reach 100" in out.stdout
    strict = tiltbench("claims", "--profile", "toy", "--track", "toy", "--strict", store=store_path)
    assert strict.returncode == 1 and "not judged" in strict.stderr


def test_a_gated_judgement_stays_in_the_holm_family(tmp_path):
    """Two tasks with p ~ 0.03 each: gating one must not let the other through (Holm over 2 at p = 1)."""
    rows = {}
    for t in ("x", "y"):
        rows[(t, "good")], rows[(t, "slow")] = [1.3, 1.0, 1.6, 1.2, 1.4], [1.0] * 5
    store = _store(tmp_path / "s.duckdb", rows)
    gated = _claim(gates=(Gate.at_least(COMPARATOR, "value", 5.0),), tasks="x")
    free = _claim(tasks="y")
    by_task = {j.task: j for j in claims_mod.judge_family(store, "p", [gated, free])}
    assert by_task["x"].verdict == "not judged"
    assert by_task["y"].p < 0.05 and by_task["y"].p_adj > 0.05 and by_task["y"].verdict == "inconclusive"


def test_relative_margin_is_tested_per_seed(tmp_path):
    # the comparator's noise moves the margin: per-seed margins 0.5, 1.5, 1.0, 1.0, 1.0 (rel 0.1)
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [5.3, 15.3, 10.3, 10.2, 10.4],
                                           ("t", "slow"): [5.0, 15.0, 10.0, 10.0, 10.0]})
    j = claims_mod.judge(store, "p", _claim("within", rel_margin=0.1))[0]
    assert j.margin == pytest.approx(1.0) and j.verdict == "supported"


def _tunable(monkeypatch, solver, keys=("offset",)):
    from tiltbench import registry

    monkeypatch.setattr(registry.get_solver("toy", solver), "tunable", keys)


CLEAR_WIN = {("t", "good"): [2.0, 2.1, 1.9, 2.05], ("t", "slow"): [1.0, 1.05, 0.9, 1.0]}


def _tuned_rows(store, task, solver, values, points):
    """Store ``solver``'s grid points (two tuning seeds each) and its selected rows on ``task``."""
    import json

    rows = [(f"{solver}[offset={p:g}]", {"grid": {"offset": p}, "split": "validation"}, [1.0, 1.0]) for p in points]
    rows.append((solver, {"grid": {"offset": points[0]}}, values))
    for method, config, vals in rows:
        for rep, v in enumerate(vals):
            run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"{task}/{method}/{rep}/tuned", "profile": "p",
                   "track": "toy", "task": task, "method": method, "role": "method", "rep": rep, "seed": rep,
                   "status": "ok", "finished_at": "2026-01-02 00:00:00", "config": json.dumps(config)}
            store.write_run(run, {"value": v}, {}, ENV)


def test_a_win_over_an_untuned_tunable_comparator_is_not_judged(tmp_path, monkeypatch):
    _tunable(monkeypatch, "slow")
    store = _store(tmp_path / "s.duckdb", CLEAR_WIN)
    j, = claims_mod.judge(store, "p", _claim())
    assert j.verdict == "not judged"
    assert j.reason.startswith("supported (Holm p = ") and "only against an untuned slow: its hyperparameters " \
        "(offset) were not tuned" in j.reason
    _tuned_rows(store, "t", "slow", [1.0, 1.05, 0.9, 1.0], points=[0.0])  # a one-point grid tunes nothing
    j, = claims_mod.judge(store, "p", _claim())
    assert j.verdict == "not judged" and "its grid varied none of its hyperparameters (offset)" in j.reason
    _tuned_rows(store, "t", "slow", [1.0, 1.05, 0.9, 1.0], points=[0.0, 0.5])  # the judged rows are tuned
    j, = claims_mod.judge(store, "p", _claim())
    assert j.verdict == "supported"


def test_the_tuning_rule_leaves_an_insignificant_result_inconclusive(tmp_path, monkeypatch):
    _tunable(monkeypatch, "good")
    store = _store(tmp_path / "s.duckdb", {("u", "good"): [1.0, 2.0, 0.5, 1.6], ("u", "slow"): [1.1, 1.2, 1.0, 1.3]})
    j, = claims_mod.judge(store, "p", _claim("less"))
    assert j.verdict == "inconclusive"


def test_a_loss_needs_the_method_tuned_but_a_win_of_an_untuned_method_stands(tmp_path, monkeypatch):
    _tunable(monkeypatch, "good")
    store = _store(tmp_path / "s.duckdb", CLEAR_WIN)
    win, = claims_mod.judge(store, "p", _claim("greater"))
    loss, = claims_mod.judge(store, "p", _claim("less"))
    assert win.verdict == "supported"
    assert loss.verdict == "not judged" and "untuned good" in loss.reason


@pytest.mark.parametrize("tunable, judged", [("slow", False), ("good", True)])
def test_a_failed_match_goes_against_the_worse_solver(tmp_path, monkeypatch, tunable, judged):
    # good is far above slow on a higher-is-better metric: the mismatch goes against slow
    _tunable(monkeypatch, tunable)
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [14.0, 14.1, 13.9, 14.05, 13.95],
                                           ("t", "slow"): [10.0, 10.0, 10.0, 10.0, 10.0]})
    j, = claims_mod.judge(store, "p", _claim("within", margin=1.0))
    assert (j.verdict == "contradicted") == judged
    assert judged or "untuned slow" in j.reason


def test_a_tunable_key_must_be_a_config_key():
    from tiltbench.registry import register_solver

    with pytest.raises(ValueError, match=r"tunable key\(s\) 'bogus' are not config keys; valid: lr, steps"):
        register_solver("toy", "never-registered", "method", citation="-", tunable=("bogus",),
                        defaults={"cpu": {"lr": 1e-3, "steps": 10}}, fn="math:sqrt")


def test_an_unattainable_claim_is_not_judged(tmp_path):
    # 'slow' is the ideal row here: good < 0.5 * slow holds, but the ideal itself would not pass it
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [0.6, 0.75, 0.6], ("t", "slow"): [1.0, 1.1, 0.9],
                                           ("t", "nan"): [0.6, 0.7, 0.65]})
    ideal = Claim(track="toy", id="c-ideal", statement="-", source="-", metric="value", method="good",
                  comparator="slow", relation="less", factor=0.5, gates=(Gate.attainable("nan", why="ideal"),))
    j, = claims_mod.judge(store, "p", ideal)
    assert j.verdict == "not judged"
    assert j.reason == "even nan fails this claim (value: 0.65 ≥ 0.5·1) (ideal)"
    within = Claim(track="toy", id="c-ideal-w", statement="-", source="-", metric="value", method="good",
                   comparator="slow", relation="within", margin=0.5, gates=(Gate.attainable("nan"),))
    j, = claims_mod.judge(store, "p", within)  # |0.65 - 1| <= 0.5: attainable, so judged
    assert j.verdict != "not judged"


def test_a_method_clearly_worse_than_the_ideal_is_judged_even_where_the_ideal_fails(tmp_path):
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [0.2, 0.25, 0.3], ("t", "slow"): [1.0, 1.1, 0.9],
                                           ("t", "nan"): [0.6, 0.7, 0.65]})  # higher is better: good < ideal
    ideal = Claim(track="toy", id="c-ideal2", statement="-", source="-", metric="value", method="good",
                  comparator="slow", relation="greater", factor=0.8, gates=(Gate.attainable("nan"),))
    j, = claims_mod.judge(store, "p", ideal)
    assert j.verdict == "contradicted"


def test_an_attainable_gate_on_a_trend_is_refused():
    claim = Claim(track="toy", id="c-trend-ideal", statement="-", source="-", metric="value", method="good",
                  comparator="", relation="trend", across="n", slope_below=1.0, gates=(Gate.attainable("slow"),))
    with pytest.raises(TiltbenchError, match="an 'attainable' gate needs a comparator"):
        claims_mod.validate(claim)


def test_a_trend_is_judged_whatever_the_tuning(tmp_path, monkeypatch):
    # the cost of an untuned, tunable method grows like n: a trend bound of 0.5 is contradicted anyway
    _tunable(monkeypatch, "good")
    store = _store(tmp_path / "s.duckdb", {(f"t-n{n}", "good"): [n * (1 + 0.01 * r) for r in range(3)]
                                           for n in (10, 100, 1000, 10000)})
    trend = Claim(track="toy", id="c-trend", statement="-", source="-", metric="value", method="good",
                  comparator="", relation="trend", across="n", slope_below=0.5)
    j, = claims_mod.judge(store, "p", trend)
    assert j.verdict == "contradicted"


def test_a_trend_with_a_floor_on_its_slope_says_whether_the_metric_grows(tmp_path):
    # value ~ n^0.3 (e.g. a reward rising with the quantile pool): slope_above = 0 holds; slope_above = 0.6 fails
    store = _store(tmp_path / "s.duckdb", {(f"t-q{n}", "good"): [n ** 0.3 * (1 + 0.01 * r) for r in range(3)]
                                           for n in (4, 16, 64, 256)})
    rises = Claim(track="toy", id="c-rises", statement="-", source="-", metric="value", method="good",
                  comparator="", relation="trend", across="q", slope_above=0.0)
    j, = claims_mod.judge(store, "p", rises)
    assert j.verdict == "supported" and j.effect.mean == pytest.approx(0.3, abs=0.01)
    assert claims_mod.describe(rises).startswith("slope of log value on log q > 0")
    steep = Claim(track="toy", id="c-steep", statement="-", source="-", metric="value", method="good",
                  comparator="", relation="trend", across="q", slope_above=0.6)
    j, = claims_mod.judge(store, "p", steep)
    assert j.verdict == "contradicted"
    with pytest.raises(TiltbenchError, match="one finite bound, slope_below or slope_above"):
        claims_mod.register_claim(Claim(track="toy", id="c-both", statement="-", source="-", metric="value",
                                        method="good", comparator="", relation="trend", across="q",
                                        slope_below=1.0, slope_above=0.0))


# ---------------------------------------------------------------------------- claims at a matched divergence
def _frontier_rows(store, task, solver, xs, quality, reps=4, wobble=0.01):
    """Grid points ``solver[offset=x]`` on the validation split: noise (the x metric) = x, value = quality(x)
    plus a small seed-dependent wobble."""
    import json

    for x in xs:
        method = f"{solver}[offset={x:g}]"
        for rep in range(reps):
            run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"{task}/{method}/{rep}", "profile": "p",
                   "track": "toy", "task": task, "method": method, "role": "method", "rep": rep, "seed": 100 + rep,
                   "status": "ok", "finished_at": "2026-01-02 00:00:00",
                   "config": json.dumps({"grid": {"offset": x}, "split": "validation"})}
            store.write_run(run, {"value": quality(x) + wobble * rep, "noise": x + 0.001 * rep}, {}, ENV)


def test_a_matched_claim_compares_frontiers_not_tuned_rows(tmp_path, monkeypatch):
    _tunable(monkeypatch, "slow")  # the tuning rule does not apply: the comparison is over whole grids
    # the test rows say slow wins; at a matched noise the frontiers say good is one point better
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [1.0] * 4, ("t", "slow"): [5.0] * 4})
    _frontier_rows(store, "t", "good", [1, 2, 3], lambda x: x + 1)
    _frontier_rows(store, "t", "slow", [1.5, 2.5, 4], lambda x: x, wobble=-0.01)
    plain, = claims_mod.judge(store, "p", _claim())
    assert plain.verdict != "supported"
    j, = claims_mod.judge(store, "p", _claim(matched="noise"))
    assert j.verdict == "supported" and j.n_seeds == 4 and abs(j.effect.mean - 1.03) < 0.01
    assert "at noise = 2.25" in j.detail and "3 and 3 grid points" in j.detail  # overlap [1.5, 3]: its middle
    within = _claim("within", margin=0.2, matched="noise")
    assert claims_mod.judge(store, "p", within)[0].verdict == "contradicted"
    assert "at matched noise" in claims_mod.describe(within)


def test_a_matched_claim_without_frontiers_that_meet_is_not_judged(tmp_path):
    store = _store(tmp_path / "s.duckdb", {})
    _frontier_rows(store, "t", "good", [1, 2], lambda x: x)
    _frontier_rows(store, "t", "slow", [5, 6], lambda x: x)
    _frontier_rows(store, "u", "good", [1, 2], lambda x: x)
    _frontier_rows(store, "u", "slow", [1], lambda x: x)
    _frontier_rows(store, "v", "good", [1, 2], lambda x: x + 1, reps=2)
    _frontier_rows(store, "v", "slow", [1, 2], lambda x: x, reps=2)
    by_task = {j.task: j for j in claims_mod.judge(store, "p", _claim(matched="noise"))}
    assert by_task["t"].verdict == "not judged" and "do not overlap in noise (good 1–2; slow 5–6: means of their Pareto-optimal grid points)" in by_task["t"].reason
    assert by_task["u"].verdict == "not judged" and "2 or more grid points per solver on this task; slow has 1" \
        in by_task["u"].reason
    assert by_task["v"].verdict == "inconclusive" and "2 paired seed(s)" in by_task["v"].reason


def test_a_matched_claim_names_a_known_metric_and_is_not_a_trend():
    with pytest.raises(TiltbenchError, match="metric of claim .*'kl'.*valid: .*value"):
        claims_mod.validate(_claim(matched="kl"))
    with pytest.raises(TiltbenchError, match="'matched' compares two solvers' frontiers"):
        claims_mod.register_claim(_claim("trend", across="n", slope_below=1.0, matched="noise"))


def test_noworse_is_one_sided_non_inferiority(tmp_path):
    # toy's value: higher is better.  good far better than slow: "within" calls that contradicted, noworse supported
    store = _store(tmp_path / "s.duckdb", {("t", "good"): [5.0, 5.1, 4.9, 5.05], ("t", "slow"): [1.0, 1.05, 0.9, 1.0],
                                           ("u", "good"): [0.0, 0.1, -0.1, 0.05], ("u", "slow"): [1.0, 1.05, 0.9, 1.0],
                                           ("v", "good"): [0.9, 1.0, 0.95, 1.0], ("v", "slow"): [1.0, 1.05, 0.9, 1.0]})
    within = {j.task: j.verdict for j in claims_mod.judge(store, "p", _claim("within", margin=0.3))}
    noworse = {j.task: j for j in claims_mod.judge(store, "p", _claim("noworse", margin=0.3))}
    assert within["t"] == "contradicted" and noworse["t"].verdict == "supported"
    assert noworse["u"].verdict == "contradicted"  # worse by ~1, beyond the margin 0.3
    assert noworse["v"].verdict == "supported"  # worse by ~0.01, inside the margin
    assert "good no worse than slow by more than 0.3 on value" == claims_mod.describe(_claim("noworse", margin=0.3))
    with pytest.raises(TiltbenchError, match="a 'noworse' claim needs margin > 0"):
        claims_mod.register_claim(_claim("noworse"))


def test_read_off_takes_the_first_point_that_reaches_the_level():
    from tiltbench.claims import read_off

    curve = [(100.0, 0.1), (200.0, 0.4), (300.0, 0.35), (400.0, 0.6)]
    assert read_off(curve, 0.4) == 200.0 and read_off(curve, 0.5) == 400.0 and read_off(curve, 0.7) is None
    assert read_off([(1.0, 5.0), (2.0, 3.0)], 4.0, higher_is_better=False) == 2.0


def test_a_read_off_claim_pairs_each_seed_with_the_comparators_curve():
    from tiltbench.claims import _read_off_pairs

    claim = Claim(track="t2i", id="c-read", statement="-", source="-", metric="train_s", method="guidance-net",
                  comparator="reward-finetune", relation="less", factor=0.4, read_off="reward_vs_ms",
                  read_metric="reward", read_scale=0.001)
    values = {("train_s", claim.method): {0: 10.0, 1: 12.0, 2: 11.0},
              ("reward", claim.method): {0: 0.5, 1: 0.6, 2: 0.9}}
    curves = {"t": {0: [(20000.0, 0.3), (40000.0, 0.55)], 1: [(30000.0, 0.6)], 2: [(50000.0, 0.8)]}}
    a, b, detail = _read_off_pairs(claim, "t", lambda m, t, s, tr: values[(m, s)], curves)
    assert a == values[("train_s", claim.method)] and b == {0: 40.0, 1: 30.0}  # ms -> s; seed 2 never got there
    assert "reached on 2 of 3 seed(s)" in detail and "favours" in detail
    # read_level "curve": the level is the end of the method's own curve (the same probe batch), not its metric
    own = {"t": {0: [(5000.0, 0.2), (9000.0, 0.25)], 1: [(9000.0, 0.58)], 2: [(9000.0, 0.7)]}}
    on_curve = Claim(**{**claim.__dict__, "id": "c-read-curve", "read_level": "curve"})
    a, b, detail = _read_off_pairs(on_curve, "t", lambda m, t, s, tr: values[(m, s)], curves, own)
    assert b == {0: 20.0, 1: 30.0, 2: 50.0} and "the end of guidance-net's own `reward_vs_ms`" in detail
    with pytest.raises(TiltbenchError, match="read_level of claim c-bad"):
        claims_mod.register_claim(Claim(**{**claim.__dict__, "id": "c-bad", "read_level": "probe"}))


def test_rows_run_with_different_track_settings_are_not_judged(tmp_path):
    """One solver re-run at a new budget (a profile's task_overrides), the other not yet: not like for like."""
    import json

    store = Store(tmp_path / "s.duckdb")
    rows = {("t", "good"): ([2.0, 2.1, 1.9, 2.05], 60000), ("t", "slow"): ([1.0, 1.05, 0.9, 1.0], 30000),
            ("u", "good"): ([2.0, 2.1, 1.9, 2.05], 30000), ("u", "slow"): ([1.0, 1.05, 0.9, 1.0], 30000)}
    for (task, method), (values, steps) in rows.items():
        for rep, v in enumerate(values):
            run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"{task}/{method}/{rep}", "profile": "p",
                   "track": "toy", "task": task, "method": method, "role": "method", "rep": rep, "seed": rep,
                   "status": "ok", "finished_at": "2026-01-01 00:00:00",
                   "config": json.dumps({"solver": {}, "track": {"steps": steps, "batch": 128}})}
            store.write_run(run, {"value": v}, {}, ENV)
    by_task = {j.task: j for j in claims_mod.judge(store, "p", _claim())}
    assert by_task["t"].verdict == "not judged"
    assert "different track settings: steps 60000 (good) vs 30000 (slow)" in by_task["t"].reason
    assert by_task["u"].verdict == "supported"  # same settings: judged as before


def test_a_solver_whose_rows_mix_two_settings_is_not_judged(tmp_path):
    """Both solvers half re-run at a new budget, on different seeds: the sets of values agree, the pairs do not."""
    import json

    store = Store(tmp_path / "s.duckdb")
    for method, values, new in (("good", [2.0, 2.1, 1.9, 2.05], {0, 1}), ("slow", [1.0, 1.05, 0.9, 1.0], {2, 3})):
        for rep, v in enumerate(values):
            run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"t/{method}/{rep}", "profile": "p",
                   "track": "toy", "task": "t", "method": method, "role": "method", "rep": rep, "seed": rep,
                   "status": "ok", "finished_at": "2026-01-01 00:00:00",
                   "config": json.dumps({"solver": {}, "track": {"steps": 60000 if rep in new else 30000}})}
            store.write_run(run, {"value": v}, {}, ENV)
    [j] = claims_mod.judge(store, "p", _claim())
    assert j.verdict == "not judged" and "steps 30000 / 60000 (good) vs 30000 / 60000 (slow)" in j.reason


# ---------------------------------------------------------------------------- gates read the rows' settings
def _settings_rows(store, task, method, values, track, grid=None, split=""):
    import json

    for rep, v in enumerate(values):
        run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"{task}/{method}/{rep}/{json.dumps(track)}",
               "profile": "p", "track": "toy", "task": task, "method": method, "role": "method", "rep": rep,
               "seed": rep, "status": "ok", "finished_at": "2026-01-01 00:00:00",
               "config": json.dumps({"solver": {}, "track": track, **({"grid": grid} if grid else {}),
                                     **({"split": split} if split else {})})}
        store.write_run(run, {"value": v, "noise": 0.5 * v}, {}, ENV)


def test_a_beats_gate_against_rows_of_other_settings_fails(tmp_path):
    """'the comparator learned' must be read on rows like its own: an untrained row from an older budget
    (another n_test, another backend) does not count."""
    store = Store(tmp_path / "s.duckdb")
    for task, ref_n in (("t", 64), ("u", 200)):
        _settings_rows(store, task, "good", [2.0, 2.1, 1.9, 2.05], {"n_test": 200})
        _settings_rows(store, task, "slow", [1.0, 1.05, 0.9, 1.0], {"n_test": 200})
        _settings_rows(store, task, "ideal", [0.1, 0.2, 0.1, 0.15], {"n_test": ref_n})
    gated = _claim(gates=(Gate.beats(COMPARATOR, "ideal", "value"),))
    by_task = {j.task: j for j in claims_mod.judge(store, "p", gated)}
    assert by_task["t"].verdict == "not judged"
    assert "beats gate slow vs ideal: the two solvers' rows ran with different track settings: n_test 200 (slow) " \
           "vs 64 (ideal)" in by_task["t"].reason
    assert by_task["u"].verdict == "supported"


def test_an_at_most_gate_can_be_a_fraction_of_a_track_setting(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    _settings_rows(store, "t", "good", [31.0, 31.5, 30.5], {"max_new_tokens": 32})  # at the cap
    _settings_rows(store, "t", "slow", [20.0, 21.0, 19.0], {"max_new_tokens": 32})
    _settings_rows(store, "u", "good", [31.0, 31.5, 30.5], {"max_new_tokens": 128})  # far below it
    _settings_rows(store, "u", "slow", [20.0, 21.0, 19.0], {"max_new_tokens": 128})
    capped = Gate.at_most("good", "value", 0.75, of_setting="max_new_tokens", why="uncensored")
    by_task = {j.task: j for j in claims_mod.judge(store, "p", _claim(gates=(capped,)))}
    assert by_task["t"].verdict == "not judged"
    assert "mean value of good is 31, needs ≤ 24 (0.75 × max_new_tokens 32) (uncensored)" in by_task["t"].reason
    assert by_task["u"].verdict != "not judged"
    _settings_rows(store, "v", "good", [1.0, 1.1, 1.2], {})
    _settings_rows(store, "v", "slow", [1.0, 1.1, 1.2], {})
    v = next(j for j in claims_mod.judge(store, "p", _claim(gates=(capped,))) if j.task == "v")
    assert v.verdict == "not judged" and "no single numeric max_new_tokens" in v.reason


def test_a_matched_claim_reads_only_the_current_grid_and_like_rows(tmp_path):
    store = _store(tmp_path / "s.duckdb", {})
    _frontier_rows(store, "t", "good", [1, 2, 3], lambda x: x + 1)
    _frontier_rows(store, "t", "slow", [1.5, 2.5, 4], lambda x: x, wobble=-0.01)
    _frontier_rows(store, "t", "slow", [9], lambda x: 100.0)  # a point the profile has since dropped
    labels = {"toy": {f"good[offset={x}]" for x in (1, 2, 3)} | {f"slow[offset={x:g}]" for x in (1.5, 2.5, 4)}}
    everything, = claims_mod.judge_family(store, "p", [_claim(matched="noise")])
    assert "3 and 4 grid points" in everything.detail  # no filter: the dropped point is read
    current, = claims_mod.judge_family(store, "p", [_claim(matched="noise")], grids=labels)
    assert current.verdict == "supported" and "3 and 3 grid points" in current.detail
    # one point's rows from an older budget: not like for like
    other = _store(tmp_path / "o.duckdb", {})
    for x in (1, 2, 3):
        _settings_rows(other, "t", f"good[offset={x}]", [x + 1.0, x + 1.01, x + 1.02], {"steps": 64 if x == 3 else 32},
                       grid={"offset": x}, split="validation")
        _settings_rows(other, "t", f"slow[offset={x}]", [x + 0.0, x + 0.01, x + 0.02], {"steps": 32},
                       grid={"offset": x}, split="validation")
    j, = claims_mod.judge(other, "p", _claim(matched="noise"))
    assert j.verdict == "not judged" and "grid points' rows ran with different track settings (steps: 32 / 64" \
        in j.reason


def _grid_trend(**kw):
    return Claim(track="toy", id=f"c-grid-{uuid.uuid4().hex[:4]}", statement="-", source="-", metric="value",
                 method="good", comparator="", relation="trend", across="offset", over="grid", slope_above=0.0, **kw)


def test_a_trend_can_run_over_a_grid_key(tmp_path, monkeypatch):
    """QRPO's reward against its quantile pool: levels are grid points of one task, not tasks."""
    _tunable(monkeypatch, "good")
    store = _store(tmp_path / "s.duckdb", {})
    _frontier_rows(store, "t", "good", [4, 8, 16, 32, 64], lambda x: x ** 0.2)
    _frontier_rows(store, "u", "good", [4, 8, 16, 32, 64], lambda x: 3.0 - 0.01 * x)
    by_task = {j.task: j for j in claims_mod.judge(store, "p", _grid_trend())}
    t = by_task["t (good's grid points, validation split) (offset = 4…64)"]
    assert t.verdict == "supported" and t.effect.mean == pytest.approx(0.2, abs=0.01)
    u = by_task["u (good's grid points, validation split) (offset = 4…64)"]
    assert u.verdict == "contradicted"
    assert claims_mod.describe(_grid_trend()).endswith("(good; its grid points)")
    # a gate is read on the task's own rows (the evaluation rows), like any trend's
    gated = _grid_trend(gates=(Gate.beats("good", "slow", "value"),))
    assert all(j.verdict == "not judged" and "no value of good stored" in j.reason
               for j in claims_mod.judge(store, "p", gated))


def test_a_grid_trend_refuses_a_grid_that_varies_another_key(tmp_path, monkeypatch):
    import json

    _tunable(monkeypatch, "good", ("offset", "beta"))
    store = Store(tmp_path / "s.duckdb")
    for x in (4, 16, 64):
        for beta in (0.1, 1.0):
            method = f"good[beta={beta:g},offset={x}]"
            for rep in range(3):
                run = {"run_id": uuid.uuid4().hex[:16], "content_key": f"t/{method}/{rep}", "profile": "p",
                       "track": "toy", "task": "t", "method": method, "role": "method", "rep": rep, "seed": rep,
                       "status": "ok", "finished_at": "2026-01-01 00:00:00",
                       "config": json.dumps({"grid": {"offset": x, "beta": beta}, "split": "validation"})}
                store.write_run(run, {"value": float(x) * beta + rep}, {}, ENV)
    j, = claims_mod.judge(store, "p", _grid_trend())
    assert j.verdict == "not judged" and "the grid varies beta besides offset" in j.reason


def test_a_grid_trend_names_a_tunable_key():
    with pytest.raises(TiltbenchError, match="grid key \\(across\\) of claim .*'quantile_samples'"):
        claims_mod.validate(Claim(track="toy", id="c-g", statement="-", source="-", metric="value", method="good",
                                  comparator="", relation="trend", across="quantile_samples", over="grid",
                                  slope_above=0.0))
    with pytest.raises(TiltbenchError, match="over of claim c-o.*'tasks'"):
        claims_mod.register_claim(Claim(track="toy", id="c-o", statement="-", source="-", metric="value",
                                        method="good", comparator="", relation="trend", across="n", over="tasks",
                                        slope_above=0.0))
