"""The TdRL paper's headline claims on the `rl` track, as hypotheses `tiltbench claims` judges.

Kept apart from benchmarks/rl/track.py so that restating a claim does not change the track's code version.
"""

from tiltbench.claims import Claim, Gate, register_claim

PAPER = "Yu, Wu, Ke, Test-driven RL (arXiv 2511.07904)"

# A comparison with a baseline that has not learned says nothing (an agent scoring 0 is "within 0.1" of
# one scoring 0.065).  The bar is the one the rl issue sets for a competent SAC on this board: a
# normalised return of at least 0.7 (a well-tuned SAC scores about 0.8-0.9 on these tasks).
COMPETENT = Gate.at_least("sac-handcrafted", "norm_return", 0.7,
                          why="SAC on the handcrafted reward is not yet competent on this task")
# Stated on 2026-11-27, before any board ran the fast-learning tasks or the random row:
# - the baseline must also beat the random-policy row (paired 95% t-interval of the difference above 0):
#   0.7 alone is not enough where a random policy already scores a third of it (0.32 on cartpole-balance);
# - TdRL's return network must agree with its last round's labels on at least 80% of the decided pairs
#   (the rl issue's bar): below it, TdRL's reward no longer encodes its own tests and a verdict on TdRL
#   measures a broken labelling (the published cartpole board ended at 0.44-0.53).
BEATS_RANDOM = Gate.beats("sac-handcrafted", "random", "norm_return",
                          why="SAC on the handcrafted reward does not clearly beat the random policy")
LABELS_HELD = Gate.at_least("tdrl", "return_acc", 0.8,
                            why="TdRL's return network orders under 80% of its last round's held-out pairs as "
                                "labelled")
# Since 2026-11-28 (before the re-run of TdRL's rows that follows the authors' code): return_acc is measured
# on held-out pairs (drawn apart from the training pairs, not used to train); before, it was the accuracy
# on the round's training pairs, a figure a review found at 0.97-0.999 on every task, failed runs included.
#
# Stated on 2026-11-28, before the rl board reran with the metric it reads: TdRL's final return must beat
# the return of the policy its exploration phase left (the same seed, before any learned reward was used;
# paired 95% t-interval above 0).  On the 2026-11-27 cartpole-swingup board it did not (0.17-0.21 at the
# end of exploration, 0.14-0.17 at the end): then the learned reward did not help, and a verdict on TdRL
# would be about its exploration bonus.
# Since 2026-11-28 (a review; decided before the re-run's TdRL rows existed) it withholds only a
# *supported* verdict.  Its purpose is not to credit TdRL for what exploration did; held both ways, it
# could only ever fail where TdRL was far below SAC (exploration scores are at most 0.2 here) and so
# turned clear losses into "not judged" (ball_in_cup on the stale board: -0.53 [-0.97, -0.10]).
EXPLORED = Gate.beats("tdrl", "tdrl", "norm_return", other_metric="explore_return", blocks="supported",
                      why="TdRL's learned reward must improve on the policy its exploration phase left")
GATES = (COMPETENT, BEATS_RANDOM, LABELS_HELD, EXPLORED)
# LABELS_HELD still holds back a verdict either way: a TdRL whose labels broke measures a broken
# labelling pipeline, and "contradicted" would pin it on the paper.  The report prints the statistic
# beside "not judged", so a clear gap stays visible.
# Read with care (noted 2026-11-28, before the action-repeat board): TdRL's comparison ties two segments
# that both pass all tests (the paper's satisficing order), while the handcrafted reward keeps paying past
# the tests' success: on cartpole-balance and point_mass-easy a small-control factor (up to 20%) and on
# cartpole-balance a still pole.  So a TdRL that passes every test can trail SAC on norm_return there by
# more than the margin; `tdrl-passes-more-tests` (pass_all) is the comparison on TdRL's own terms.
# Two more things a reader should weigh (a review, 2026-11-28): (1) TdRL learns on its own reward for
# 20k of SAC's 25k learning steps (50k of 55k on reacher-easy): its 5k exploration steps come out of the
# same budget, a larger share than the paper's 9k of 500k+; (2) on ball_in_cup, reacher and point_mass the
# handcrafted reward is (nearly) a success indicator, while TdRL's indicative tests include the distance
# to the goal, a dense signal: a TdRL win there partly credits the tests' shaping, not only the
# test-driven mechanism.

# "Matches or outperforms" is non-inferiority (relation noworse; until 2026-11-27 a two-sided `within`,
# under which outperforming SAC would have read "contradicted"; no rl verdict was judged either way).
register_claim(Claim(
    track="rl", id="tdrl-matches-handcrafted-return",
    statement="TdRL, which never sees the handcrafted reward, reaches the handcrafted return of SAC trained on it "
              "with the same budget (normalised return below SAC's by at most 10% of it, or 0.05 where that is "
              "larger; at this profile's budget, far below the paper's 500k+ steps, and with 5k of TdRL's steps "
              "spent on exploration)",
    source=f"{PAPER}: TdRL matches or outperforms handcrafted-reward methods on DeepMind Control",
    metric="norm_return", method="tdrl", comparator="sac-handcrafted", relation="noworse", margin=0.05,
    rel_margin=0.1, gates=GATES))

register_claim(Claim(
    track="rl", id="tdrl-passes-more-tests",
    statement="TdRL's policies pass the task's tests more often than SAC's on the handcrafted reward, with the "
              "same budget (where a task's pass-fail test is its reward's own success condition, this asks TdRL "
              "to beat SAC at SAC's objective; at this profile's budget, far below the paper's 500k+ steps, and "
              "with 5k of TdRL's steps spent on exploration; cartpole-balance's tests are this benchmark's own, "
              "not the authors' cartpole tester)",
    source=f"derived from {PAPER}, not a result the paper states: its tasks are stated by test functions and "
           "TdRL optimises a reward learned from them, so passing them more often than SAC on the handcrafted "
           "reward is what that design should buy",
    metric="pass_all", method="tdrl", comparator="sac-handcrafted", relation="greater", gates=GATES))
