"""The `ot` track's entry in the registry: the track (task family, metrics, method-baseline pairs)
and every solver that competes in it, with its role, citation, per-profile defaults and the
"module:function" that computes it.

Metadata only: importing this module imports no heavy library (no torch, no POT), so `tiltbench
list` and errors on bad names stay fast; a solver's module is imported when the solver first runs
(in the worker).  The code itself is in track.py (tasks, closed forms, scoring, the reference
rows), mixture.py (the Gaussian-mixture task family), discrete.py, methods/scones.py and baselines/lp.py,
sinkhorn.py, sinkhorn_online.py, barycentric.py; the report's scaling section in report.py.
"""

from tiltbench.registry import Metric, Track, register_solver, register_track

DISCRETE = ("tiltbench.benchmarks.ot.discrete",)  # the Sinkhorn plan and sample draw the POT baselines share

register_track(Track(
    name="ot",
    description="Entropic OT with a known plan (Gaussian pairs in closed form; Gaussian-mixture conditionals "
                "after Gushchin et al. 2023), SCONES vs POT",
    # -n{N}: N samples per marginal for this task instead of the track config's n (a sweep over n
    # solves one instance: the suffix does not enter the instance seed)
    task_pattern="gaussian-d{D}-lam{L}[-n{N}] | mixture-d{D}-lam{L}[-n{N}]",
    task_regex=r"(gaussian|mixture)-d\d+-lam\d+(\.\d+)?(-n\d+)?",
    instance_suffix=r"-n\d+",
    metrics=[
        Metric("bw_uvp", "%", False, "100 BW^2(plan, true plan) / tr Sigma: Korotin et al. (2021)'s BW2^2-UVP, "
               "their W2 carrying the 1/2 of their cost"),
        Metric("cbw_uvp", "%", False, "100 E_x BW^2(pi(.|x), true pi(.|x)) / Var(nu) at the task's conditioning "
               "points (Gushchin et al. 2023's cBW2^2-UVP, their W2 carrying the 1/2 of their cost)"),
        Metric("cost_rel_err", "", False, "|E||x-y||^2 - closed form| / closed form"),
        Metric("cost", "", None, "transport cost E||x-y||^2 of the coupling"),
        Metric("mean_h", "", None, "SCONES: mean compatibility E_{mu x nu} H, should be about 1"),
        Metric("dual_collapsed", "", False, "SCONES: 1 when mean H leaves [0.5, 2] (a heuristic flag, not a verdict: the Monte Carlo mean H is dominated by a few extreme pairs; see benchmarks/ot/claims.py)"),
        Metric("score_learned", "", None, "SCONES: 1 when the target score of nu was learned, 0 when analytic"),
        Metric("iterations", "", None, "Sinkhorn iterations run"),
        Metric("marginal_err", "", False, "Sinkhorn: L1 error of the plan's marginals"),
        Metric("converged", "", True, "Sinkhorn: 1 when the stopping threshold was reached within max_iter"),
        Metric("train_s", "s", False, "SCONES: seconds training the potentials (and score)", kind="cost"),
        Metric("sample_s", "s", False, "SCONES: seconds of Langevin sampling", kind="cost"),
    ],
    primary="bw_uvp",
    make_task="tiltbench.benchmarks.ot.track:make_task",
    evaluate="tiltbench.benchmarks.ot.track:evaluate",
    pairs={"scones": ["sinkhorn", "barycentric", "lp"]},
    # tuning and frontiers (tiltbench/tuning.py): grid points are tuned on another random pair of
    # Gaussians, picked by BW-UVP; the report draws BW-UVP against wall time
    validation="another random instance of the same family, d and lam (Gaussian pair or mixture potential "
               "drawn from the validation seed stream)",
    selection="bw_uvp",
    frontier=("bw_uvp", "wall_s"),
    report_extras="tiltbench.benchmarks.ot.report:section",
))


# ---------------------------------------------------------------------------- reference rows
_NO_KNOBS = {"smoke": {}, "cpu": {}, "gpu": {}}
# exact / Langevin samples of pi(. | x) per conditioning point: the floor row and SCONES use the same k
# k samples per conditioning point: a perfect sampler's cBW-UVP from k samples is about 2 (d = 16) to 9
# (d = 64) at k = 64 and falls as 1/k; the claims gate on the floor row's value (see claims.py).
COND_SAMPLES = {"smoke": 64, "cpu": 512, "gpu": 4096}

register_solver("ot", "independent", "reference", citation="-", defaults=_NO_KNOBS,
                fn="tiltbench.benchmarks.ot.track:independent")

register_solver("ot", "floor", "reference", citation="-",
                defaults={p: {"cond_samples": k} for p, k in COND_SAMPLES.items()},
                fn="tiltbench.benchmarks.ot.track:finite_sample_floor")


# ---------------------------------------------------------------------------- the paper's method
def _defaults(width, depth, steps, batch, langevin_steps, score_steps, cond_samples):
    # target_score "auto": the analytic score of nu where the task has one (Gaussian), else learned.
    # lam_anneal > 1 anneals the dual's regulariser from lam * lam_anneal (a dual-collapse remedy, off).
    # start_pool: samples of nu that each Langevin chain's start is resampled from (fixed, whatever n).
    return dict(width=width, depth=depth, steps=steps, batch=batch, lr=1e-3, langevin_steps=langevin_steps,
                step_scale=0.1, target_score="auto", score_steps=score_steps, score_noise=0.05,
                cond_samples=cond_samples, lam_anneal=1.0, start_pool=4096)


register_solver(
    "ot", "scones", "method",
    citation="Daniels, Maunu, Hand. Score-based Generative Neural Networks for Large-Scale Optimal "
             "Transport. NeurIPS 2021. arXiv:2110.03237",
    defaults={"smoke": _defaults(64, 3, 400, 256, 200, 400, COND_SAMPLES["smoke"]),
              "cpu": _defaults(256, 3, 3000, 512, 500, 2000, COND_SAMPLES["cpu"]),
              "gpu": _defaults(4096, 3, 20000, 1024, 1000, 20000, COND_SAMPLES["gpu"])},
    tunable=("lr", "step_scale", "lam_anneal"),
    fn="tiltbench.methods.scones:scones")

# ---------------------------------------------------------------------------- baselines (POT)
_LP = {"smoke": {"max_iter": 1_000_000}, "cpu": {"max_iter": 50_000_000}, "gpu": {"max_iter": 100_000_000}}
# Sinkhorn reaches lam by epsilon-scaling (factor 2, at most 50 iterations per larger reg; see
# discrete.sinkhorn_plan).  Without it, d = 64, lam = 4 hit the old cap of 1000 iterations
# (converged = 0) on every seed of the 2026-11-25 board.  max_iter caps the last stage; `converged`
# says whether it bound.
SINKHORN_DEFAULTS = {p: {"max_iter": it, "tol": tol, "scaling": 2.0, "scaling_iter": 50}
                     for p, it, tol in (("smoke", 2000, 1e-6), ("cpu", 10000, 1e-6), ("gpu", 20000, 1e-7))}
CUTURI = "Cuturi. Sinkhorn Distances: Lightspeed Computation of Optimal Transport. NeurIPS 2013"

register_solver("ot", "lp", "baseline", citation="Bonneel et al. Displacement interpolation using Lagrangian "
                "mass transport. SIGGRAPH Asia 2011 (POT ot.emd)", defaults=_LP,
                depends=DISCRETE,
                fn="tiltbench.baselines.lp:lp")

register_solver("ot", "sinkhorn", "baseline", citation=CUTURI, defaults=SINKHORN_DEFAULTS,
                depends=DISCRETE,
                fn="tiltbench.baselines.sinkhorn:sinkhorn")

# block_mb: the size of one block of cost-matrix rows (the plan itself is never stored); max_n > 0:
# refuse larger n (a profile's time budget: the work grows as n^2)
SINKHORN_ONLINE_DEFAULTS = {name: {**cfg, "block_mb": 64.0, "max_n": 0} for name, cfg in SINKHORN_DEFAULTS.items()}

register_solver("ot", "sinkhorn-online", "baseline", citation=f"{CUTURI}; block log-domain updates (Peyre & Cuturi 2019, Remark 4.22)",
                defaults=SINKHORN_ONLINE_DEFAULTS,
                depends=DISCRETE,
                fn="tiltbench.baselines.sinkhorn_online:sinkhorn_online")

register_solver("ot", "barycentric", "baseline", citation="Seguy et al. Large-Scale Optimal Transport and "
                "Mapping Estimation. ICLR 2018", defaults=SINKHORN_DEFAULTS,
                depends=DISCRETE,
                fn="tiltbench.baselines.barycentric:barycentric")
