"""DPO baseline of the `llm` track: TRL's DPOTrainer (sigmoid loss) on the shared best-vs-worst pairs.

    L = -log sigmoid( beta [ log pi(y_w|x)/pi_ref(y_w|x) - log pi(y_l|x)/pi_ref(y_l|x) ] )
(Rafailov et al. 2023, Eq. 7).  pi_ref is the same PEFT model with its adapters disabled.
"""

from __future__ import annotations


from tiltbench.benchmarks.llm.loop import trl_args, trl_solver


def dpo(task, config: dict, seed: int) -> dict:
    """DPO through TRL's DPOTrainer, same pairs, order, LoRA, optimiser and steps as QRPO."""
    from trl import DPOConfig, DPOTrainer

    device = config.get("device", "cpu")

    def args(out_dir):
        return DPOConfig(beta=config["beta"], loss_type="sigmoid", max_length=None,
                         **trl_args(task, seed, out_dir, device))

    return trl_solver(task, seed, DPOTrainer, args, device)
