"""DPO baseline of the `llm` track: TRL's DPOTrainer (sigmoid loss) on the shared best-vs-worst pairs.

    L = -log sigmoid( beta [ log pi(y_w|x)/pi_ref(y_w|x) - log pi(y_l|x)/pi_ref(y_l|x) ] )
(Rafailov et al. 2023, Eq. 7).  pi_ref is the same PEFT model with its adapters disabled.
"""

from __future__ import annotations

from tiltbench.benchmarks.llm.track import DEPENDS as LLM_DEPENDS
from tiltbench.registry import register_solver

from tiltbench.benchmarks.llm.loop import trl_args, trl_solver

DPO_CITATION = ("Rafailov, Sharma, Mitchell et al. Direct Preference Optimization: Your Language Model is "
                "Secretly a Reward Model. NeurIPS 2023. arXiv:2305.18290 (TRL DPOTrainer)")


@register_solver("llm", "dpo", "baseline", citation=DPO_CITATION,
                 defaults={p: {"beta": 0.1} for p in ("smoke", "cpu", "gpu")},
                 depends=LLM_DEPENDS)
def dpo(task, config: dict, seed: int) -> dict:
    """DPO through TRL's DPOTrainer, same pairs, order, LoRA, optimiser and steps as QRPO."""
    from trl import DPOConfig, DPOTrainer

    def args(out_dir):
        return DPOConfig(beta=config["beta"], loss_type="sigmoid", max_length=None,
                         **trl_args(task, seed, out_dir))

    return trl_solver(task, seed, DPOTrainer, args)
