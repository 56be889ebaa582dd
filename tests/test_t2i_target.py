"""The exact tilted target and what leans on it: separate base-sample pools, the target's bootstrap
interval and ESS, the claims' ESS gate, and the report's cost-at-matched-reward read-off."""

import pandas as pd
import pytest
import torch

from tiltbench import claims as claims_mod, registry

pytest.importorskip("diffusers")

from tiltbench.benchmarks.t2i import claims as t2i_claims, report as t2i_report, track as t2i  # noqa: E402

from test_t2i_track import tiny_task  # noqa: E402


def test_bootstrap_interval_covers_the_estimate_and_shrinks_with_the_pool():
    g = torch.Generator().manual_seed(0)

    def interval(n):
        r = torch.rand(10 * n, generator=g)
        d = torch.arange(10).repeat_interleave(n)
        point = float((t2i.tilt_weights(r, d, 0.3) * r.double()).sum() / 10)
        boot = t2i.snis_bootstrap(r, d, 0.3, boot=400)
        lo, hi = (float(q) for q in torch.quantile(boot, torch.tensor([0.025, 0.975], dtype=torch.float64)))
        return point, lo, hi

    small, large = interval(50), interval(800)
    for point, lo, hi in (small, large):
        assert lo < point < hi
    assert (large[2] - large[1]) < 0.5 * (small[2] - small[1])  # ~1/4 at 16x the pool
    constant = t2i.snis_bootstrap(torch.full((40,), 0.7), torch.arange(10).repeat_interleave(4), 0.1, boot=50)
    assert torch.allclose(constant, torch.full((50,), 0.7, dtype=torch.float64))


def test_the_three_pools_are_distinct_draws_of_their_own_sizes():
    task = tiny_task()
    pools = {role: t2i.base_pool(task, "ddpm", role=role) for role in ("train", "target", "reference")}
    assert len(pools["train"]["x"]) == len(pools["reference"]["x"]) == 10 * task.pool
    assert len(pools["target"]["x"]) == 10 * task.target_pool
    assert not torch.equal(pools["train"]["x"], pools["reference"]["x"])
    assert not torch.equal(pools["train"]["x"], pools["target"]["x"][:10 * task.pool])
    with pytest.raises(ValueError, match="'test'; valid: train, target, reference"):
        t2i.base_pool(task, "ddpm", role="test")
    target = t2i.tilted_target(task, "ddpm")
    assert target["lo"] <= target["reward"] <= target["hi"]
    assert 1.0 <= target["ess_min"] <= target["ess"] <= task.target_pool


def test_the_cost_claim_is_gated_on_the_targets_ess():
    registry.load_plugins()
    claim = next(c for c in claims_mod.claims("t2i") if c.id == "guidance-net-cheaper-than-finetune")
    gate = next(g for g in claim.gates if g.metric == "tilt_ess_min")
    assert (gate.solver, gate.kind, gate.value, gate.agg) == ("tilted-ddpm", "at_least", t2i_claims.TARGET_ESS, "min")

    def lookup(ess):
        return lambda metric, task, solver: {0: ess, 1: 80.0} if (metric, solver) == ("tilt_ess_min", "tilted-ddpm") else {}

    assert "min tilt_ess_min of tilted-ddpm is 19.6, needs ≥ 50" in claims_mod._gate_failure(gate, claim, "t", lookup(19.6))
    assert claims_mod._gate_failure(gate, claim, "t", lookup(60.0)) == ""


def test_matched_reward_read_off_from_the_training_curves():
    assert t2i_report.seconds_to_reach([(1000, 0.5), (2000, 0.7), (3000, 0.9)], 0.7) == 2.0
    assert t2i_report.seconds_to_reach([(1000, 0.5)], 0.7) is None
    ids = ["g0", "g1", "f0", "f1"]
    runs = pd.DataFrame({"run_id": ids, "task": "t", "rep": [0, 1, 0, 1],
                         "method": ["guidance-net"] * 2 + ["reward-finetune"] * 2})
    metrics = pd.DataFrame({"run_id": ids * 2, "name": ["reward"] * 4 + ["train_s"] * 4,
                            "value": [0.7, 0.7, 0.95, 0.95, 8.0, 8.0, 40.0, 40.0]})
    curve = {"guidance-net": [(4000, 0.6), (8000, 0.7)], "reward-finetune": [(10000, 0.6), (20000, 0.72), (40000, 0.95)]}
    curves = pd.DataFrame([{"task": "t", "method": m, "rep": rep, "name": "reward_vs_ms", "step": ms, "value": v}
                           for m, pts in curve.items() for rep in (0, 1) for ms, v in pts])
    md = "\n".join(t2i_report.matched_lines({"runs": runs, "metrics": metrics, "curves": curves}, ["t"]))
    # finetuning first reaches guidance-net's 0.7 at 20 s: ratio 8 / 20; guidance-net never reaches 0.95
    assert "| reward-finetune at guidance-net's reward | 0.7 [0.7, 0.7] | 20 [20, 20] | 0.4 [0.4, 0.4] | 2 of 2 |" in md
    assert "| guidance-net at reward-finetune's reward | 0.95 [0.95, 0.95] | — | — | 0 of 2 |" in md
