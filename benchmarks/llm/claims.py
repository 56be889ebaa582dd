"""The QRPO paper's headline claims on the `llm` track, as hypotheses `tiltbench claims` judges.

Kept apart from benchmarks/llm/track.py so that restating a claim does not change the track's code version.
The paper's scale is an 8B model on chat and LeetCode; here it is SmolLM2-135M on generated
instructions (see results/llm.md), so a verdict says what holds at this scale, not at the paper's.
"""

from tiltbench.claims import COMPARATOR, Claim, Gate, register_claim

PAPER = "Matrenok, Moalla, Gulcehre, Quantile Reward Policy Optimization (arXiv 2507.08068)"

# Gates.  Reward is judged at a matched operating point: the two policies' KL to pi_ref (k3) within 25%
# of the larger (and 0.1 nats), since a larger KL buys reward for any of these losses.  And the
# comparator must have learned: it beats the untrained `reference` row on the training reward.
MATCHED_KL = Gate.matched("kl_k3", 0.25, abs_tol=0.1, why="compare at equal KL")
LEARNED = Gate.beats(COMPARATOR, "reference", "reward", why="the comparator must have learned")

for baseline, name in (("dpo", "DPO"), ("rebel", "REBEL"), ("simpo", "SimPO")):
    register_claim(Claim(
        track="llm", id=f"qrpo-beats-{baseline}",
        statement=f"QRPO's policy earns a higher mean training reward on held-out prompts than {name}'s, from the "
                  "same reference completions and budget",
        source=f"{PAPER}, abstract: QRPO consistently achieves top performance compared to DPO, REBEL and SimPO",
        metric="reward", method="qrpo", comparator=baseline, relation="greater",
        gates=(LEARNED, MATCHED_KL)))

for baseline, name in (("dpo", "DPO"), ("rebel", "REBEL"), ("simpo", "SimPO")):
    register_claim(Claim(
        track="llm", id=f"qrpo-beats-{baseline}-at-matched-kl",
        statement=f"Along the reward-KL frontiers over each method's grid (validation prompts), QRPO earns a higher "
                  f"reward than {name} at the KL both frontiers reach",
        source=f"{PAPER}, Sec. 5: methods compared across their beta grids (the reward-KL trade-off)",
        metric="reward", method="qrpo", comparator=baseline, relation="greater", matched="kl_k3"))

register_claim(Claim(
    track="llm", id="qrpo-less-length-bias-than-dpo",
    statement="QRPO's implicit reward log(pi/pi_ref) tracks the length of its own samples (a z-score among the "
              "prompt's reference-completion lengths) less strongly than DPO's: a smaller |Spearman correlation|",
    source=f"{PAPER}, abstract: training with robust rewards instead of converting them to preferences induces "
           "less length bias",
    metric="length_bias_abs", method="qrpo", comparator="dpo", relation="less", gates=(MATCHED_KL,)))

# Added 2026-11-28, before the cpu-quantile board ran: the paper's "pre-computation scaling".  Over the
# levels of the quantile pool (tasks verifiable-q4, -q16, -q64, the paper's levels: n_quantile reference
# completions per train prompt; first set to 4, 8, 16 and changed the same day, before any of its cells
# ran), QRPO's tuned test reward must grow: the least-squares slope of log(reward) on log(n_quantile),
# fitted to the mean at each level, is above 0 (a one-sided t-test with levels - 2 degrees of freedom, so
# three levels give a weak test).  QRPO must have learned at every level (it beats the untrained row).
register_claim(Claim(
    track="llm", id="qrpo-improves-with-quantile-pool",
    statement="QRPO's test reward grows with the number of reference completions its quantiles are estimated "
              "from (slope of log reward on log n_quantile above 0)",
    source=f"{PAPER}: QRPO's performance scales with the compute spent estimating quantile rewards",
    metric="reward", method="qrpo", comparator="", relation="trend", across="q", slope_above=0.0,
    gates=(Gate.beats("qrpo", "reference", "reward", why="QRPO must have learned at every level"),)))
