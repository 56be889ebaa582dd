"""The SCONES paper's headline claims on the `ot` track, as hypotheses `tiltbench claims` judges.

Kept apart from benchmarks/ot/track.py so that restating a claim does not change the track's code version
(which would invalidate every stored cell).
"""

from tiltbench.claims import Claim, Gate, SlopeBound, register_claim

PAPER = "Daniels, Maunu, Hand (NeurIPS 2021)"
# Gates: a Sinkhorn plan that hit its iteration cap is not the discrete entropic plan: not judged.
#
# No dual-collapse gate (removed on 2026-11-27, after the boards had run, on a review's evidence).  Until
# then every SCONES claim required its mean compatibility E[H] (`mean_h`, a Monte Carlo mean of
# exp((phi + psi - c) / lam) over 1000 x 1000 pairs) to stay <= 2 on every seed.  That estimator does not
# detect a collapse: it is dominated by a few extreme pairs (0.000 at the exact potentials at
# d64-lam4), it moves with phi and with the potentials' additive constant, neither of which the sampler
# uses (Langevin follows grad psi), and across seeds it is unrelated to what is scored (mixture-d64-lam0.2:
# mean_h from 4e-11 to 2e14 at cBW-UVP 19.8-21.8; gaussian-d64-lam4: the one seed under 2 had the worst
# BW-UVP).  It withheld 10 of the board's verdicts, most of them SCONES' wins.  A dual that really fails
# shows in the samples, which are what the claims score; `mean_h` stays on the board as a diagnostic.
# SCONES is scored on n sampled pairs, the discrete plans on their exact moments over n^2 weighted pairs,
# so at a small true error SCONES carries a finite-sample error the plans do not.  Where even the floor row
# (n exact pairs of the true plan, scored like SCONES) fails a claim, the claim measures that estimator
# noise, not SCONES: not judged.  Added on 2026-11-27 after a review, once the boards had run.
IDEAL = Gate.attainable("floor", why="a perfect sampler scored like SCONES, on n pairs")


def converged(solver: str) -> Gate:
    return Gate.at_least(solver, "converged", 1, agg="min", why=f"{solver}'s Sinkhorn hit its iteration cap")


LAM_2D = r"gaussian-d(2-lam4|16-lam32|64-lam128|128-lam256|256-lam512)"
GAUSSIAN = r"gaussian-d\d+-lam[0-9.]+"  # the paper's Gaussian problems, at the board's n (no -n suffix)
# Absolute floors of the "noworse" (once "within") claims: 0.5 point of BW-UVP on Korotin et al.'s scale, the 1 point these
# claims were stated with before 2026-11-27 on the old, doubled scale (see track.bw_uvp).

register_claim(Claim(
    track="ot", id="scones-beats-independent",
    statement="SCONES recovers the entropic plan: its BW-UVP is below half that of the independent coupling "
              "at lam = 2d (where the independent coupling is already close in high dimension)",
    source=f"{PAPER}: Gaussian-to-Gaussian experiments report low BW-UVP at lam = 2d",
    metric="bw_uvp", method="scones", comparator="independent", relation="less", factor=0.5, tasks=LAM_2D,
    gates=(IDEAL,)))

register_claim(Claim(
    track="ot", id="scones-beats-barycentric",
    statement="SCONES' coupling is closer to the true entropic plan than the barycentric projection's",
    source=f"{PAPER}: BW-UVP of SCONES vs barycentric projection on Gaussian problems",
    metric="bw_uvp", method="scones", comparator="barycentric", relation="less", tasks=GAUSSIAN,
    gates=(converged("barycentric"), IDEAL)))

# "As accurate as" is non-inferiority (relation noworse): SCONES may be worse than Sinkhorn by at most the
# margin, and being better is no contradiction.  Until 2026-11-27 these were two-sided equivalence claims
# (`within`), under which a SCONES far better than Sinkhorn read "contradicted" (mixture pairs at lam = 0.2);
# restated after the boards had run, on a review.  The margins are unchanged.
register_claim(Claim(
    track="ot", id="scones-matches-sinkhorn",
    statement="SCONES, trained on the same n samples per marginal, is as accurate as discrete Sinkhorn on them "
              "(BW-UVP worse by at most 25% of Sinkhorn's, or 0.5 point where that is larger; SCONES also uses "
              "nu's exact score on Gaussian tasks and 4096 fresh nu samples to start its chains, and the "
              "0.5-point floor exceeds every value at lam = 2d for d <= 16, so there the claim is weak)",
    source="tiltbench: the natural baseline for a continuous entropic-OT estimator",
    metric="bw_uvp", method="scones", comparator="sinkhorn", relation="noworse", margin=0.5, rel_margin=0.25,
    tasks=GAUSSIAN, gates=(converged("sinkhorn"), IDEAL)))


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
    tasks=MIXTURE_SHARP, gates=(IDEAL,)))

register_claim(Claim(
    track="ot", id="scones-conditionals-match-sinkhorn",
    statement="On Gaussian-mixture plans SCONES' conditionals (trained on the same n samples per marginal) "
              "are as accurate as discrete Sinkhorn's rows (cBW-UVP worse by at most 25% of Sinkhorn's, or 0.5 "
              "point where that is larger; SCONES also draws 4096 fresh nu samples to start its chains)",
    source="tiltbench: the discrete entropic plan is the natural baseline for conditionals too",
    metric="cbw_uvp", method="scones", comparator="sinkhorn", relation="noworse", margin=0.5, rel_margin=0.25,
    tasks=r"mixture-.*", gates=(converged("sinkhorn"), IDEAL)))

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
              "(exponent < 1.2) in the number of samples n, while its BW-UVP does not degrade (weak by "
              "construction: training steps do not grow with n and a sampler's error falls as 1/n; the "
              "scaling table's BW-UVP over the floor row is the sharper reading)",
    source=f"{PAPER}: title and abstract (\"large-scale optimal transport\"); training is minibatch, "
           "sampling linear in n",
    metric="wall_s", method="scones", comparator="", relation="trend", across="n", slope_below=2.0,
    also=(SlopeBound("sample_s", below=1.2), SlopeBound("bw_uvp", below=0.1))))

# The sharper half of "large-scale", stated before the cpu-scaling board ran: at every n where the
# memory-light discrete solver finishes, SCONES is as accurate as it (the same margins as above).
# Weak at large n, as a review noted (2026-11-27): the absolute margin of 0.5 point is larger than every
# value at n >= 3e3 (0.02-0.5), so there it cannot fail, and the discrete plan is scored on n^2 weighted
# pairs, SCONES on n pairs.  The scaling report therefore also prints SCONES' BW-UVP as a multiple of the
# floor row's (a perfect sampler on n pairs), which is the sharper, descriptive reading.
register_claim(Claim(
    track="ot", id="scones-matches-sinkhorn-online-at-scale",
    statement="At every sample size of the scaling sweep where the memory-light Sinkhorn finishes, SCONES' "
              "BW-UVP is worse than its by at most 25%, or 0.5 point where that is larger (weak by "
              "construction for n >= 3e3, where 0.5 point exceeds every value; see the floor column)",
    source=f"{PAPER}: SCONES as a large-scale alternative to discrete entropic OT",
    metric="bw_uvp", method="scones", comparator="sinkhorn-online", relation="noworse", margin=0.5,
    rel_margin=0.25, tasks=r"gaussian-d\d+-lam[0-9.]+-n\d+", gates=(converged("sinkhorn-online"), IDEAL)))
