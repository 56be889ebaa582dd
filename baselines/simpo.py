"""SimPO baseline of the `llm` track: TRL's CPOTrainer with ``loss_type="simpo"`` and ``cpo_alpha=0``.

    L = -log sigmoid( beta/|y_w| log pi(y_w|x) - beta/|y_l| log pi(y_l|x) - gamma )
(Meng, Xia, Chen 2024, Eq. 6): reference-free, length-normalised, with a target margin gamma.
TRL writes gamma as ``simpo_gamma``.  The config gives beta and gamma/beta (``gamma_ratio``), as the
SimPO paper tunes them and the QRPO code fixes gamma/beta = 0.5: a beta grid then keeps the margin's
share of the logit.
"""

from __future__ import annotations


from tiltbench.benchmarks.llm.loop import trl_args, trl_solver


def simpo(task, config: dict, seed: int) -> dict:
    """SimPO through TRL's CPOTrainer, same pairs, order, LoRA, optimiser and steps as QRPO."""
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    device = config.get("device", "cpu")

    def args(out_dir):
        return CPOConfig(loss_type="simpo", cpo_alpha=0.0, beta=config["beta"], simpo_gamma=config["gamma_ratio"] * config["beta"],
                         **trl_args(task, seed, out_dir, device))

    return trl_solver(task, seed, CPOTrainer, args, device)
