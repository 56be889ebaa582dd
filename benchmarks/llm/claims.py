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
# The comparisons with the baselines are judged on the boards' tasks; a task named -q<k> is the quantile study's
# data set, on which only QRPO runs (cpu-quantile), so they do not apply there.
BOARD_TASKS = r"(?!.*-q[0-9]+$).*"

for baseline, name in (("dpo", "DPO"), ("rebel", "REBEL"), ("simpo", "SimPO")):
    register_claim(Claim(
        track="llm", id=f"qrpo-beats-{baseline}",
        statement=f"QRPO's policy earns a higher mean training reward on held-out prompts than {name}'s, from the "
                  "same reference completions and budget",
        source=f"{PAPER}, abstract: QRPO consistently achieves top performance compared to DPO, REBEL and SimPO",
        metric="reward", method="qrpo", comparator=baseline, relation="greater", tasks=BOARD_TASKS,
        gates=(LEARNED, MATCHED_KL)))

for baseline, name in (("dpo", "DPO"), ("rebel", "REBEL"), ("simpo", "SimPO")):
    register_claim(Claim(
        track="llm", id=f"qrpo-beats-{baseline}-at-matched-kl",
        statement=f"Along the reward-KL frontiers over each method's grid (validation prompts), QRPO earns a higher "
                  f"reward than {name} at the KL both frontiers reach",
        source=f"{PAPER}, Sec. 5: methods compared across their beta grids (the reward-KL trade-off)",
        metric="reward", method="qrpo", comparator=baseline, relation="greater", matched="kl_k3",
        tasks=BOARD_TASKS))

# Added 2026-11-29 (a review's finding, before any verdict of this claim was printed: it was not judged on
# every board so far): a sample cut at max_new_tokens has a censored length, so a policy whose samples mostly
# hit the cap shows little length correlation whatever its implicit reward does (QRPO's tuned policy on the
# cpu board's verifiable averaged 31.0 of 32 tokens).  Each solver's mean length must stay at or below 3/4 of
# the cap, so that most samples end on their own.
UNCAPPED = tuple(Gate.at_most(solver, "length", 0.75, of_setting="max_new_tokens",
                              why="most samples must end before the token cap, or their lengths are censored")
                 for solver in ("qrpo", "dpo"))

register_claim(Claim(
    track="llm", id="qrpo-less-length-bias-than-dpo",
    statement="QRPO's implicit reward log(pi/pi_ref) tracks the length of its own samples (a z-score among the "
              "prompt's reference-completion lengths) less strongly than DPO's: a smaller |Spearman correlation|",
    source=f"{PAPER}, abstract: training with robust rewards instead of converting them to preferences induces "
           "less length bias",
    metric="length_bias_abs", method="qrpo", comparator="dpo", relation="less", tasks=BOARD_TASKS,
    gates=(MATCHED_KL, *UNCAPPED)))

# Added 2026-11-28, before the cpu-quantile board ran: the paper's "pre-computation scaling".  Set first over
# tasks verifiable-q4, -q16, -q64 (each level a data set of its own, beta tuned per level).  Changed
# 2026-11-29, still before any cpu-quantile cell ran, after a review against the official code
# (train_qrpo.py slices its pre-computed reference rewards to the first k; plot_num_ref_scaling.py fixes beta
# per curve): one data set with a pool of 64 reference completions per train prompt (task verifiable-q64), and
# QRPO's grid over ``quantile_samples`` (the first 4, 8, 16, 32 or 64 of that pool) at one beta, so every level
# trains on the same texts and a smaller pool is a prefix of a larger one.  The least-squares slope of
# log(reward) on log(quantile_samples), fitted to the mean over tuning seeds at each level (validation
# prompts), must be above 0: a one-sided t-test with levels - 2 = 3 degrees of freedom.  QRPO must have learned
# (its evaluation row beats the untrained one on the test prompts).
register_claim(Claim(
    track="llm", id="qrpo-improves-with-quantile-pool",
    statement="QRPO's reward grows with the number of reference completions its quantiles are estimated "
              "from (slope of log reward on log quantile_samples above 0, one data set, beta fixed)",
    source=f"{PAPER}: QRPO's performance scales with the compute spent estimating quantile rewards "
           "(pre-computation scaling)",
    metric="reward", method="qrpo", comparator="", relation="trend", across="quantile_samples", over="grid",
    slope_above=0.0, tasks=r".*-q[0-9]+",
    gates=(Gate.beats("qrpo", "reference", "reward", why="QRPO must have learned"),)))
