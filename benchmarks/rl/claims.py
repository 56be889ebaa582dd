"""The TdRL paper's headline claims on the `rl` track, as hypotheses `tiltbench claims` judges.

Kept apart from benchmarks/rl/track.py so that restating a claim does not change the track's code version.
"""

from tiltbench.claims import Claim, register_claim

PAPER = "Yu, Wu, Ke, Test-driven RL (arXiv 2511.07904)"

register_claim(Claim(
    track="rl", id="tdrl-matches-handcrafted-return",
    statement="TdRL, which never sees the handcrafted reward, reaches the handcrafted return of SAC trained on it "
              "(normalised return within 0.1)",
    source=f"{PAPER}: TdRL matches or outperforms handcrafted-reward methods on DeepMind Control",
    metric="norm_return", method="tdrl", comparator="sac-handcrafted", relation="within", margin=0.1))

register_claim(Claim(
    track="rl", id="tdrl-passes-more-tests",
    statement="TdRL's policies pass the task's tests more often than SAC's on the handcrafted reward",
    source=f"{PAPER}: test functions state the task; optimising them directly should satisfy them better",
    metric="pass_all", method="tdrl", comparator="sac-handcrafted", relation="greater"))
