"""The alignment paper's headline claims on the `t2i` track, as hypotheses `tiltbench claims` judges.

Kept apart from benchmarks/t2i/track.py so that restating a claim does not change the track's code version.
The paper's scale is Stable Diffusion / SD3-class models with learned human-preference rewards; here it is
a few-million-parameter model of 8x8 digits, so a verdict says what holds at this scale.
"""

from tiltbench.claims import Claim, Gate, register_claim

PAPER = "Ouyang, Xie, Zha, Cheng, Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation"

# Gates.  Costs and held-out scores are compared at equal training reward (within 0.02 on the [0, 1]
# reward): a method that stops at a lower reward is cheaper and less hacked by construction.  Naive
# guidance is a reward-hacking comparator only if it raises the training reward over its base.
MATCHED_REWARD = Gate.matched("reward", 0.0, abs_tol=0.02, why="compare at equal training reward")

# Added 2026-11-27, after a review of the cpu board: the exact tilted target is a self-normalised importance
# estimate over the base model's target pool, and on bright-lam0.03 its weights had an effective sample size
# of 19.6 per caption (out of 200), so the "target" reward that reward finetuning stops at (and every
# target_gap) was a noisy estimate with no interval.  A claim that leans on the target is judged only where
# every caption's ESS (tilt_ess_min of the tilted row of that base) is at least 50; below that, raise the
# track's target_pool.
TARGET_ESS = 50.0
DDPM_TARGET_ESS = Gate.at_least("tilted-ddpm", "tilt_ess_min", TARGET_ESS, agg="min",
                                why="the exact target, where finetuning stops, needs an importance-weight ESS "
                                    "of at least 50 per caption")

register_claim(Claim(
    track="t2i", id="guidance-net-cheaper-than-finetune",
    statement="training the guidance network costs at least 60% less compute than reward finetuning "
              "(train_s < 0.4 x reward-finetune's, finetuning stopped at the same tilted-target reward)",
    source=f"{PAPER}: the guidance network saves at least 60% of the computational cost of finetuning",
    metric="train_s", method="guidance-net", comparator="reward-finetune", relation="less", factor=0.4,
    gates=(DDPM_TARGET_ESS, MATCHED_REWARD)))

# Added 2026-11-28: the same claim at matched reward, read off reward finetuning's training curve rather
# than by stopping finetuning at the tilted target (the protocol): per seed, the seconds finetuning
# needed to first reach the reward the guidance network ends at (its curve: a fixed probe batch, probes
# not charged), against the guidance network's whole training time.
register_claim(Claim(
    track="t2i", id="guidance-net-cheaper-at-matched-reward",
    statement="training the guidance network costs less than 0.4 x the seconds reward finetuning needs to reach "
              "the reward the guidance network ends at (read off finetuning's training curve, per seed)",
    source=f"{PAPER}: the guidance network saves at least 60% of the computational cost of finetuning",
    metric="train_s", method="guidance-net", comparator="reward-finetune", relation="less", factor=0.4,
    read_off="reward_vs_ms", read_metric="reward", read_scale=0.001, read_level="curve",
    gates=(Gate.beats("guidance-net", "base-ddpm", "reward", why="the guidance network must raise the reward"),
           DDPM_TARGET_ESS)))

# Changed 2026-11-28, after a sceptical review of the complete 5-seed board (both read-off claims):
# - the level is the end of the method's own training curve (read_level "curve"), not its evaluated reward:
#   both curves score the same fixed probe batch, and the evaluation batch read 0.025 lower than the
#   guidance network's own final probe on correct-lam0.1, nearly its whole gain over the base, so the old
#   level put the two sides on different measurements;
# - the target ESS gate of the older compute claim: reward finetuning stops at the exact target's reward,
#   so where that estimate is unreliable (bright-lam0.03: smallest per-caption ESS 2.7) its curve's end and
#   its train_s are set by noise.
# Added 2026-11-28 (a later session), after the board's read-off table had been published: the issue's
# "and the reverse".  The same paper claim read off the guidance network's own curve: per seed, the seconds
# the guidance network needed to first reach the reward finetuning ends at, against finetuning's whole
# training time.  The threshold is the paper's 0.4 (finetuning's time > 2.5 x the guidance network's), not
# one chosen from the data.  Seeds whose guidance network never reaches that reward are left out and
# counted in the verdict's detail.
register_claim(Claim(
    track="t2i", id="guidance-net-cheaper-at-finetunes-reward",
    statement="the guidance network reaches the reward reward finetuning ends at within 0.4 x finetuning's training "
              "seconds (read off the guidance network's training curve, per seed)",
    source=f"{PAPER}: the guidance network saves at least 60% of the computational cost of finetuning",
    metric="train_s", method="reward-finetune", comparator="guidance-net", relation="greater", factor=2.5,
    read_off="reward_vs_ms", read_metric="reward", read_scale=0.001, read_level="curve",
    gates=(Gate.beats("reward-finetune", "base-ddpm", "reward", why="reward finetuning must raise the reward"),
           DDPM_TARGET_ESS)))

register_claim(Claim(
    track="t2i", id="guidance-net-beats-base",
    statement="sampling with the guidance network raises the mean reward above the frozen base-ddpm's",
    source=f"{PAPER}: alignment without finetuning the base model",
    metric="reward", method="guidance-net", comparator="base-ddpm", relation="greater"))

register_claim(Claim(
    track="t2i", id="velocity-guidance-beats-base",
    statement="training-free velocity guidance raises the mean reward above base-flow's at the same step count",
    source=f"{PAPER}: training-free velocity guidance for flow matching",
    metric="reward", method="velocity-guidance", comparator="base-flow", relation="greater"))

register_claim(Claim(
    track="t2i", id="guidance-net-no-reward-hacking",
    statement="the guidance network keeps the held-out classifier's probability at least as high as naive "
              "reward-gradient guidance does",
    source=f"{PAPER}: naive gradient guidance produces adversarial artifacts; the learned guidance avoids them",
    metric="heldout_reward", method="guidance-net", comparator="naive-guidance", relation="greater",
    gates=(Gate.beats("naive-guidance", "base-ddpm", "reward", why="naive guidance must raise the reward it hacks"),
           MATCHED_REWARD)))

# Added 2026-11-28, before the gridded board ran: the comparisons at a matched operating point, over each
# solver's grid (validation noise, tuning seeds; tiltbench/claims.py "At a matched divergence").  Reward is
# read where both frontiers spend the same FID-style distance from their base model; the paper's claim is
# comparable alignment, so the test is non-inferiority with a margin of 0.02 on the [0, 1] reward (the same
# tolerance as MATCHED_REWARD).  "No hacking" reads the held-out probability where both reach the same
# training reward.
for method, comparator, base in (("guidance-net", "reward-finetune", "diffusion"),
                                 ("velocity-guidance", "reward-finetune-flow", "flow")):
    register_claim(Claim(
        track="t2i", id=f"{method}-matches-finetune-at-matched-fid",
        statement=f"at the FID-style distance from the base both frontiers reach, {method}'s reward is no worse than "
                  f"reward finetuning's ({base} base) by more than 0.02",
        source=f"{PAPER}: alignment comparable to finetuning, without finetuning the base model",
        metric="reward", method=method, comparator=comparator, relation="noworse", margin=0.02,
        matched="fid_base"))

register_claim(Claim(
    track="t2i", id="guidance-net-no-reward-hacking-at-matched-reward",
    statement="at the training reward both frontiers reach, the guidance network keeps the held-out classifier's "
              "probability higher than naive reward-gradient guidance does",
    source=f"{PAPER}: naive gradient guidance produces adversarial artifacts; the learned guidance avoids them",
    metric="heldout_reward", method="guidance-net", comparator="naive-guidance", relation="greater",
    matched="reward",
    # added 2026-11-28 after the review: the gate, as on the older no-hacking claim
    gates=(Gate.beats("naive-guidance", "base-ddpm", "reward", why="naive guidance must raise the reward it hacks"),)))
