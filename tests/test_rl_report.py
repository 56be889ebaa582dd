"""The rl report's aggregate section (real rliable) and the rl smoke profile end to end."""

import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from conftest import run_smoke_profile

pytest.importorskip("rliable", reason="the rl extra is not installed (tox -e py installs it)")


def _data(scores: dict[str, np.ndarray], tasks):
    """Stored-row frames as report.load returns them, for scores[method] of shape (seeds, tasks)."""
    runs, metrics, curves = [], [], []
    for method, mat in scores.items():
        for rep in range(mat.shape[0]):
            for j, task in enumerate(tasks):
                rid = f"{method}-{task}-{rep}"
                runs.append(dict(run_id=rid, task=task, method=method, rep=rep, wall_s=10.0 + rep))
                metrics += [dict(run_id=rid, name="norm_return", value=float(mat[rep, j])),
                            dict(run_id=rid, name="env_steps_per_s", value=100.0),
                            dict(run_id=rid, name="updates_per_s", value=50.0)]
                curves += [dict(task=task, method=method, rep=rep, name="norm_return", step=s, value=v)
                           for s, v in ((1000, mat[rep, j] / 2), (2000, mat[rep, j]))]
    return {"runs": pd.DataFrame(runs), "metrics": pd.DataFrame(metrics), "curves": pd.DataFrame(curves)}


def test_aggregates_match_their_definitions(tmp_path):
    from tiltbench.benchmarks.rl.report import section

    rng = np.random.default_rng(0)
    tasks = ["cartpole-swingup", "walker-walk"]
    sac = rng.uniform(0.2, 0.4, (4, 2))
    tdrl = sac + 0.3  # better on every run
    lines = section(_data({"sac-handcrafted": sac, "tdrl": tdrl}, tasks), tmp_path, "rl")
    text = "\n".join(lines)
    iqm = sps.trim_mean(tdrl.ravel(), 0.25)
    row = next(line for line in lines if line.startswith("| tdrl |"))
    # rliable: median and mean of the per-task mean scores, IQM of all runs pooled
    assert f"{np.median(tdrl.mean(0)):.3f} [" in row and f"{iqm:.3f} [" in row and f"{tdrl.mean():.3f} [" in row
    assert "| P(tdrl > sac-handcrafted) | 1.000 [1.000, 1.000] |" in text
    assert "| walker-walk | tdrl | 12 | 100 | 50 |" in text  # cost table, wall = mean of 10..13
    assert (tmp_path / "aggregates.png").stat().st_size > 0 and (tmp_path / "learning_curves.png").exists()


def test_one_seed_gives_no_interval_estimates(tmp_path):
    from tiltbench.benchmarks.rl.report import section

    lines = section(_data({"sac-handcrafted": np.array([[0.1]]), "tdrl": np.array([[0.2]])}, ["walker-walk"]),
                    tmp_path, "rl")
    assert any("Too few seeds" in line for line in lines)
    assert (tmp_path / "learning_curves.png").exists()  # the curves do not wait for the aggregate


def test_tdrl_diagnostics_read_each_seeds_rounds(tmp_path):
    """The labelling table: lowest and last round per seed, then the mean over seeds; return-network steps
    in round 1 and later; the final return beside the exploration phase's."""
    from tiltbench.benchmarks.rl.report import diagnostics_table

    data = _data({"sac-handcrafted": np.array([[0.9], [0.8]]), "tdrl": np.array([[0.6], [0.4]])}, ["reacher-easy"])
    rounds = {"return_acc": [[0.9, 0.7, 0.8], [1.0, 0.9, 0.95]], "label_agreement": [[1.0, 0.9, 1.0], [1.0, 1.0, 0.8]],
              "return_steps_run": [[300, 1, 3], [300, 1, 1]], "reward_rank_corr": [[0.1, 0.2, 0.3], [0.2, 0.4, 0.5]],
              "return_acc_pre": [[0.6, 0.7], [0.5, 0.9]]}
    extra = [dict(task="reacher-easy", method="tdrl", rep=rep, name=name, step=1000 * (k + 1), value=v)
             for name, per_rep in rounds.items() for rep, vals in enumerate(per_rep) for k, v in enumerate(vals)]
    data["curves"] = pd.concat([data["curves"], pd.DataFrame(extra)])
    data["metrics"] = pd.concat([data["metrics"], pd.DataFrame(
        [dict(run_id=f"tdrl-reacher-easy-{rep}", name="explore_return", value=0.1) for rep in range(2)])])
    lines = diagnostics_table(data)
    row = next(line for line in lines if line.startswith("| reacher-easy |"))
    # return_acc: lowest (0.7 + 0.9) / 2 (worst seed 0.7), last (0.8 + 0.95) / 2; label agreement lowest
    # (0.9 + 0.8) / 2 (worst 0.8); before training, lowest (0.6 + 0.5) / 2 (worst 0.5); steps: 300 in
    # round 1, later (2 + 1) / 2; rank corr. last (0.3 + 0.5) / 2; returns 0.5 vs 0.1
    assert row == ("| reacher-easy | 0.800 (0.700) / 0.875 | 0.550 (0.500) | 0.850 (0.800) | 300 / 1.5 | 0.400 | "
                   "0.500 vs 0.100 |")
    # both seeds' old networks fell below 0.8 on new labels: the note says where
    assert "**Where the labels moved**" in "\n".join(lines) and "reacher-easy: 2 of 2 seed(s), lowest 0.500" in "\n".join(lines)
    assert diagnostics_table(_data({"sac-handcrafted": np.array([[0.9]])}, ["reacher-easy"])) == []


def test_rl_smoke_profile_runs_and_reports(tmp_path, monkeypatch):
    """The packaged smoke profile's rl cells on real dm_control physics, then the report (CI runs this)."""
    pytest.importorskip("dm_control")
    text = run_smoke_profile("rl", tmp_path, monkeypatch, timeout=600)
    assert "| 1 | " in text and "sac-handcrafted" in text and "tdrl" in text
    assert "Cost per cell" in text and "not run" not in text
    # sac-sb3 is registered but left out of the smoke profile: its row says so instead of "not run"
    assert any(line.startswith("| — | sac-sb3 |") and "not in this profile" in line for line in text.splitlines())
    assert os.path.exists(tmp_path / "out" / "rl" / "cost_quality.png")


def test_the_random_reference_row_renders_beside_the_learners(tmp_path):
    """The random row has no updates and a single curve point at step 0; the section still renders
    it in the aggregates and the probability of improvement keeps to the method-baseline pair."""
    from tiltbench.benchmarks.rl.report import section

    rng = np.random.default_rng(1)
    tasks = ["cartpole-balance", "reacher-easy"]
    data = _data({"sac-handcrafted": rng.uniform(0.7, 0.9, (3, 2)), "tdrl": rng.uniform(0.6, 0.9, (3, 2)),
                  "random": rng.uniform(0.0, 0.3, (3, 2))}, tasks)
    m, c = data["metrics"], data["curves"]
    random_runs = set(data["runs"].run_id[data["runs"].method == "random"])
    data["metrics"] = m[~(m.run_id.isin(random_runs) & (m.name == "updates_per_s"))]
    data["curves"] = pd.concat([c[c.method != "random"],
                                c[(c.method == "random") & (c.step == 2000)].assign(step=0)])
    text = "\n".join(section(data, tmp_path, "rl"))
    assert "| random |" in text and "| tdrl |" in text
    assert "P(tdrl > sac-handcrafted)" in text


def test_cost_table_marks_a_ratio_across_processors():
    """Wall-time ratios between rows run on different CPU models are marked; TdRL's reward learning share is
    read from its own rows."""
    from tiltbench.benchmarks.rl.report import cost_table

    runs = pd.DataFrame([dict(run_id="s", task="t", method="sac-handcrafted", wall_s=100.0, env_id="a"),
                         dict(run_id="d", task="t", method="tdrl", wall_s=200.0, env_id="b")])
    metrics = pd.DataFrame([dict(run_id="d", name="reward_s", value=50.0)])
    envs = pd.DataFrame([dict(env_id="a", cpu_model="AMD EPYC"), dict(env_id="b", cpu_model="Intel Xeon")])
    text = "\n".join(cost_table({"runs": runs, "metrics": metrics, "envs": envs}, ["sac-handcrafted", "tdrl"]))
    assert "| t | tdrl | 200 | — | — | 50 (25%) | 2.00× (other CPU) |" in text and "*other CPU*" in text
    same = envs.assign(cpu_model="Intel Xeon")
    text = "\n".join(cost_table({"runs": runs, "metrics": metrics, "envs": same}, ["sac-handcrafted", "tdrl"]))
    assert "| t | tdrl | 200 | — | — | 50 (25%) | 2.00× |" in text and "other CPU" not in text
