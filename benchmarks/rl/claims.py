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

register_claim(Claim(
    track="rl", id="tdrl-matches-handcrafted-return",
    statement="TdRL, which never sees the handcrafted reward, reaches the handcrafted return of SAC trained on it "
              "(normalised return within 10% of SAC's, and at least 0.05)",
    source=f"{PAPER}: TdRL matches or outperforms handcrafted-reward methods on DeepMind Control",
    metric="norm_return", method="tdrl", comparator="sac-handcrafted", relation="within", margin=0.05,
    rel_margin=0.1, gates=(COMPETENT,)))

register_claim(Claim(
    track="rl", id="tdrl-passes-more-tests",
    statement="TdRL's policies pass the task's tests more often than SAC's on the handcrafted reward",
    source=f"{PAPER}: test functions state the task; optimising them directly should satisfy them better",
    metric="pass_all", method="tdrl", comparator="sac-handcrafted", relation="greater", gates=(COMPETENT,)))
