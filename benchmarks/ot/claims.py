"""The SCONES paper's headline claims on the `ot` track, as hypotheses `tiltbench claims` judges.

Kept apart from benchmarks/ot/track.py so that restating a claim does not change the track's code version
(which would invalidate every stored cell).
"""

from tiltbench.claims import Claim, Gate, SlopeBound, register_claim

PAPER = "Daniels, Maunu, Hand (NeurIPS 2021)"
# Gates: a SCONES run whose dual collapsed is a known failure, not a measurement of the method; a
# Sinkhorn plan that hit its iteration cap is not the discrete entropic plan.  Either withholds the
# verdict on that task.  The collapse test is one-sided (mean compatibility E[H] above 2; the stored
# `dual_collapsed` diagnostic also flags E[H] < 0.5): at small lam the Monte Carlo estimate of E[H]
# over 1000 x 1000 pairs is dominated by rare pairs and falls far below 1 even at the exact potentials
# (a review fed the closed-form Gaussian potentials to the same estimator: 0.000 on every seed at
# d64-lam4, 0.71-1.30 at d16-lam4, 1.00 at lam = 2d), so a low value says nothing.  Changed on
# 2026-11-27 after the boards had run, on that measurement.
DUAL_OK = Gate.at_most("scones", "mean_h", 2.0, agg="max",
                       why="SCONES' dual overshot: mean compatibility above 2 on some seed")
# SCONES is scored on n sampled pairs, the discrete plans on their exact moments over n^2 weighted pairs,
# so at a small true error SCONES carries a finite-sample error the plans do not.  Where even the floor row
# (n exact pairs of the true plan, scored like SCONES) fails a claim, the claim measures that estimator
# noise, not SCONES: not judged.  Added on 2026-11-27 after a review, once the boards had run.
IDEAL = Gate.attainable("floor", why="a perfect sampler scored like SCONES, on n pairs")


def converged(solver: str) -> Gate:
    return Gate.at_least(solver, "converged", 1, agg="min", why=f"{solver}'s Sinkhorn hit its iteration cap")


LAM_2D = r"gaussian-d(2-lam4|16-lam32|64-lam128|128-lam256|256-lam512)"
GAUSSIAN = r"gaussian-d\d+-lam[0-9.]+"  # the paper's Gaussian problems, at the board's n (no -n suffix)
# Absolute floors of the "within" claims: 0.5 point of BW-UVP on Korotin et al.'s scale, the 1 point these
# claims were stated with before 2026-11-27 on the old, doubled scale (see track.bw_uvp).

register_claim(Claim(
    track="ot", id="scones-beats-independent",
    statement="SCONES recovers the entropic plan: its BW-UVP is below half that of the independent coupling "
              "at lam = 2d (where the independent coupling is already close in high dimension)",
    source=f"{PAPER}: Gaussian-to-Gaussian experiments report low BW-UVP at lam = 2d",
    metric="bw_uvp", method="scones", comparator="independent", relation="less", factor=0.5, tasks=LAM_2D,
    gates=(DUAL_OK, IDEAL)))

register_claim(Claim(
    track="ot", id="scones-beats-barycentric",
    statement="SCONES' coupling is closer to the true entropic plan than the barycentric projection's",
    source=f"{PAPER}: BW-UVP of SCONES vs barycentric projection on Gaussian problems",
    metric="bw_uvp", method="scones", comparator="barycentric", relation="less", tasks=GAUSSIAN,
    gates=(DUAL_OK, converged("barycentric"), IDEAL)))

register_claim(Claim(
    track="ot", id="scones-matches-sinkhorn",
    statement="SCONES is as accurate as discrete Sinkhorn on the same n samples (BW-UVP within 25% of "
              "Sinkhorn's, and at least 0.5 point)",
    source="tiltbench: the natural baseline for a continuous entropic-OT estimator",
    metric="bw_uvp", method="scones", comparator="sinkhorn", relation="within", margin=0.5, rel_margin=0.25,
    tasks=GAUSSIAN, gates=(DUAL_OK, converged("sinkhorn"), IDEAL)))


# Mixture tasks (Gushchin et al. 2023): conditionals scored by cbw_uvp.  Thresholds fixed before any board
# result: the same factor 0.5 and "within 25% and 0.5 point" as the Gaussian claims above.  Not at lam = 20
# (their eps = 10), where the plan is close to independent and the comparison says little.
GUSHCHIN = "Gushchin et al. (NeurIPS 2023), Building the bridge of Schrodinger"
MIXTURE_SHARP = r"mixture-d\d+-lam(0\.2|2)"
# A conditional's covariance is estimated from k samples: a perfect sampler with the same k (the floor
# row) already scores ~1/k of noise.  Where that noise alone would fail the claim (IDEAL), the comparison
# measures estimation noise, not plans: not judged.  (Until 2026-11-27 a fixed gate, floor cbw_uvp <= 0.25,
# did this; IDEAL replaced it after a review noted the margin it protects is often larger.)

register_claim(Claim(
    track="ot", id="scones-conditionals-beat-independent",
    statement="On Gaussian-mixture plans SCONES recovers the conditionals pi(.|x): its cBW-UVP is below half "
              "that of the independent coupling (lam in {0.2, 2})",
    source=f"{GUSHCHIN}: cBW2^2-UVP of EOT solvers on mixture pairs (SCONES among them)",
    metric="cbw_uvp", method="scones", comparator="independent", relation="less", factor=0.5,
    tasks=MIXTURE_SHARP, gates=(DUAL_OK, IDEAL)))

register_claim(Claim(
    track="ot", id="scones-conditionals-match-sinkhorn",
    statement="On Gaussian-mixture plans SCONES' conditionals are as accurate as discrete Sinkhorn's rows on "
              "the same n (cBW-UVP within 25% of Sinkhorn's, and at least 0.5 point)",
    source="tiltbench: the discrete entropic plan is the natural baseline for conditionals too",
    metric="cbw_uvp", method="scones", comparator="sinkhorn", relation="within", margin=0.5, rel_margin=0.25,
    tasks=r"mixture-.*", gates=(DUAL_OK, converged("sinkhorn"), IDEAL)))

# The paper's title word, "large-scale": judged on a profile that sweeps n through task names
# <task>-n{N} (cpu-scaling).  Thresholds fixed before any such board existed (but after single SCONES
# cells had been timed): wall time grows more slowly than n^2 (what an n x n plan costs), and BW-UVP
# grows by at most 10^0.1 = 26% per decade of n.  A weak claim by construction: SCONES trains a fixed
# number of minibatch steps whatever n and samples in O(n), and a sampler's finite-sample error falls
# with n; it can fail only if the method's bias grows with n.  A review (2026-11-27) showed the wall-time
# bound passed on code whose sampling cost was O(n^2) (a resampling pool that grew with n): the fixed
# training cost hides the sampler's growth.  So the claim now also bounds the sampling time alone
# (sample_s) by n^1.2, i.e. linear with slack; restated before the fixed code's cpu-scaling rows ran (the
# gpu-scaling rows had: sample_s nearly flat in n there).  Sharper tests (the excess over the floor row,
# dimension sweeps) are open work.
register_claim(Claim(
    track="ot", id="scones-scales",
    statement="SCONES scales: its wall time grows sub-quadratically and its sampling time about linearly "
              "(exponent < 1.2) in the number of samples n, while its BW-UVP does not degrade",
    source=f"{PAPER}: title and abstract (\"large-scale optimal transport\"); training is minibatch, "
           "sampling linear in n",
    metric="wall_s", method="scones", comparator="", relation="trend", across="n", slope_below=2.0,
    also=(SlopeBound("sample_s", below=1.2), SlopeBound("bw_uvp", below=0.1)), gates=(DUAL_OK,)))

# The sharper half of "large-scale", stated before the cpu-scaling board ran: at every n where the
# memory-light discrete solver finishes, SCONES is as accurate as it (the same margins as above).
register_claim(Claim(
    track="ot", id="scones-matches-sinkhorn-online-at-scale",
    statement="At every sample size of the scaling sweep where the memory-light Sinkhorn finishes, SCONES' "
              "BW-UVP is within 25% of its, and at least 0.5 point",
    source=f"{PAPER}: SCONES as a large-scale alternative to discrete entropic OT",
    metric="bw_uvp", method="scones", comparator="sinkhorn-online", relation="within", margin=0.5,
    rel_margin=0.25, tasks=r"gaussian-d\d+-lam[0-9.]+-n\d+", gates=(DUAL_OK, converged("sinkhorn-online"), IDEAL)))
