"""The rl claims' gates (stated 2026-11-27, before the fast-task board): SAC must be competent and
clearly beat the random row, and TdRL's return network must hold >= 80% of its last labels; and
(stated 2026-11-28, before the board that stores it) TdRL's final return must beat the return its
exploration phase left."""

from tiltbench.claims import _gate_failure, claims


def _lookup(table):
    return lambda metric, task, solver: table.get((metric, solver), {})


def _failures(table):
    claim = next(c for c in claims("rl") if c.id == "tdrl-matches-handcrafted-return")
    return [r for g in claim.gates if (r := _gate_failure(g, claim, "cartpole-balance", _lookup(table)))]


SEEDS = range(5)
GOOD = {("norm_return", "sac-handcrafted"): {s: 0.9 + 0.01 * s for s in SEEDS},
        ("norm_return", "random"): {s: 0.3 + 0.02 * s for s in SEEDS},
        ("return_acc", "tdrl"): {s: 0.9 for s in SEEDS},
        ("norm_return", "tdrl"): {s: 0.8 + 0.01 * s for s in SEEDS},
        ("explore_return", "tdrl"): {s: 0.2 + 0.02 * s for s in SEEDS}}


def test_every_rl_gate_holds_on_a_competent_board():
    assert _failures(GOOD) == []


def test_a_baseline_that_does_not_clearly_beat_the_random_row_withholds_the_verdict():
    # competent by the 0.7 bar, but no better than random on a task where random scores high
    table = {**GOOD, ("norm_return", "random"): {s: 0.9 + 0.01 * s + (0.02 if s % 2 else -0.02) for s in SEEDS}}
    [reason] = _failures(table)
    assert "sac-handcrafted does not clearly beat random on norm_return" in reason


def test_collapsed_labels_withhold_the_verdict():
    [reason] = _failures({**GOOD, ("return_acc", "tdrl"): {s: 0.5 for s in SEEDS}})
    assert "return_acc of tdrl is 0.5, needs ≥ 0.8" in reason


def test_a_tdrl_that_does_not_improve_on_its_exploration_withholds_the_verdict():
    # the published cartpole-swingup pattern: 0.17-0.21 when exploration ended, 0.14-0.17 at the end
    table = {**GOOD, ("norm_return", "tdrl"): {s: 0.14 + 0.007 * s for s in SEEDS},
             ("explore_return", "tdrl"): {s: 0.17 + 0.01 * s for s in SEEDS}}
    [reason] = _failures(table)
    assert "tdrl's norm_return does not clearly beat its own explore_return" in reason
    assert "must improve on the policy its exploration phase left" in reason
