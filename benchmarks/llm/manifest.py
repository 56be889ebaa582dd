"""The `llm` track's entry in the registry: the track (task family, metrics, method-baseline pairs) and every solver that
competes in it, with its role, citation, per-profile defaults and the "module:function" that
computes it.

Metadata only: importing this module imports no heavy library (no torch, no transformers, no scipy), so `tiltbench list`
and errors on bad names stay fast; a solver's module is imported when the solver first runs (in
the worker).  The code itself is in track.py, data.py, model.py, generate.py,
rewards.py, loop.py, reference.py, parity.py, methods/qrpo.py and baselines/dpo.py, simpo.py, rebel.py.
"""

import re

from tiltbench.registry import Metric, Track, register_solver, register_track

from .rewards import REWARDS as TASKS  # no heavy import: the MiniLM model loads on first use

# modules besides a solver's own whose code shapes every llm result (they enter each cell's code version)
DEPENDS = ("tiltbench.benchmarks.llm.loop", "tiltbench.benchmarks.llm.data", "tiltbench.benchmarks.llm.rewards", "tiltbench.benchmarks.llm.generate",
           "tiltbench.benchmarks.llm.model", "tiltbench.benchmarks.llm.external")

register_track(Track(
    # the Llama model classes, LoRA, TRL and the MiniLM reward: ~7 s of imports a cell, paid once by the forkserver.
    # Not vLLM (~5 s more): its import sets environment variables (LD_LIBRARY_PATH, KMP_INIT_AT_FORK, TORCHINDUCTOR_*)
    # and warning filters that every other track's cell in the same sweep would inherit.
    preload=("transformers.models.auto.modeling_auto", "transformers.models.llama", "peft", "sentence_transformers",
             "trl"),
    name="llm",
    description="offline instruction following with SmolLM2-135M: QRPO vs DPO, SimPO and REBEL from the same "
                "reference completions, pairs, LoRA and steps",
    task_pattern="<training reward>[-q<N>]: " + ", ".join(TASKS) + " (the other reward is held out; -q<N>: a "
                 "quantile pool of N reference completions per train prompt)",
    task_regex=f"({'|'.join(map(re.escape, TASKS))})(-q[0-9]+)?",
    metrics=[
        Metric("reward", "", True, "mean training reward of the policy's samples on the held-out prompts"),
        Metric("heldout_reward", "", True, "mean held-out reward (the reward not trained on) of the same samples"),
        Metric("win_rate", "", True, "share of (policy sample, reference sample) pairs of a held-out prompt won "
               "on the training reward (ties 1/2)"),
        Metric("kl_k1", "nats", None, "KL(pi_theta || pi_ref) per completion, k1 estimator (sum of log ratios)"),
        Metric("kl_k3", "nats", None, "KL(pi_theta || pi_ref) per completion, k3 estimator (non-negative)"),
        Metric("length", "tokens", None, "mean completion length"),
        Metric("length_bias", "", None, "Spearman(length as a z-score among the prompt's reference completions, "
               "log pi_theta/pi_ref) over the policy's own held-out samples, trimmed as the QRPO code does"),
        Metric("length_bias_abs", "", False, "|length_bias|: how strongly the implicit reward tracks length"),
        Metric("ref_length_bias", "", None, "Spearman(raw length, log pi_theta/pi_ref) over the fixed held-out "
               "reference completions (diagnostic; only with the track config's ref_length_bias = true)"),
        Metric("n_pairs", "", None, "training pairs with a strict preference (best vs worst reference)"),
        Metric("gen_tok_per_s", "1/s", True, "tokens/s of the policy's held-out generation", kind="cost"),
        Metric("ref_gen_tok_per_s", "1/s", True, "tokens/s of the reference generation (0 when it was cached)",
               kind="cost"),
        Metric("step_s", "s", False, "mean seconds per training step", kind="cost"),
        # backend-parity checks: kind "check", so they stay out of the leaderboard table (own report section)
        Metric("parity_logp_mae", "nats", False, "backend parity: mean |log p_vllm - log p_hf| per sampled token", kind="check"),
        Metric("parity_logp_max", "nats", False, "backend parity: max |log p_vllm - log p_hf| over tokens", kind="check"),
        Metric("parity_reward_ks", "", False, "backend parity: two-sample KS statistic of the reward "
               "distributions of vLLM and HF samples", kind="check"),
        Metric("parity_reward_ks_p", "", None, "backend parity: p-value of that KS test", kind="check"),
        Metric("parity_reward_hf", "", None, "backend parity: mean reward of the HF samples", kind="check"),
        Metric("parity_reward_vllm", "", None, "backend parity: mean reward of the vLLM samples", kind="check"),
        Metric("parity_lora_logp_mae", "nats", False, "backend parity, trained (LoRA) policy: mean |log p_vllm - "
               "log p_hf| per sampled token", kind="check"),
        Metric("parity_lora_logp_max", "nats", False, "backend parity, trained policy: max |log p_vllm - log p_hf|",
               kind="check"),
        Metric("parity_lora_shift", "nats", None, "backend parity: mean |log p_trained - log p_untrained| (HF) over "
               "the trained policy's vLLM tokens: how far the adapter moved the policy", kind="check"),
        Metric("parity_lora_reward_ks", "", False, "backend parity, trained policy: KS statistic of the reward "
               "distributions of vLLM and HF samples", kind="check"),
        Metric("parity_lora_reward_ks_p", "", None, "backend parity, trained policy: p-value of that KS test",
               kind="check"),
        Metric("parity_lora_reward_hf", "", None, "backend parity, trained policy: mean reward of the HF samples",
               kind="check"),
        Metric("parity_lora_reward_vllm", "", None, "backend parity, trained policy: mean reward of the vLLM "
               "samples", kind="check"),
        Metric("hf_tok_per_s", "1/s", True, "backend parity: HF generate tokens/s", kind="cost"),
        Metric("vllm_tok_per_s", "1/s", True, "backend parity: vLLM tokens/s", kind="cost"),
    ],
    primary="reward",
    make_task="tiltbench.benchmarks.llm.track:make_task",
    evaluate="tiltbench.benchmarks.llm.track:evaluate",
    pairs={"qrpo": ["dpo", "simpo", "rebel", "reference"]},
    report_extras="tiltbench.benchmarks.llm.report:section",
    validation="other held-out prompts: the validation part of the prompt pool, whose groups (sums, "
               "countries, words, list categories) occur in neither training nor test",
    split_param="split",
    frontier=("reward", "kl_k3"),
))


# ---------------------------------------------------------------------------- reference rows
register_solver("llm", "reference", "reference", citation="SmolLM2-135M-Instruct (Allal et al. 2025), untrained",
                defaults={p: {} for p in ("smoke", "cpu", "gpu")},
                depends=DEPENDS,
                fn="tiltbench.benchmarks.llm.reference:reference")

register_solver("llm", "vllm-parity", "reference", citation="Kwon et al. Efficient Memory Management for Large "
                "Language Model Serving with PagedAttention. SOSP 2023 (vLLM) vs transformers generate",
                # a check, not a contender: on cpu 32 held-out prompts and a 16-step policy keep a cell ~4 min
                defaults={"smoke": {}, "cpu": {"prompts": 32, "sft_steps": 16}, "gpu": {}},
                depends=DEPENDS,
                fn="tiltbench.benchmarks.llm.parity:vllm_parity")

# ---------------------------------------------------------------------------- the paper's method
QRPO_CITATION = ("Matrenok, Moalla, Gulcehre. Quantile Reward Policy Optimization: Alignment with Pointwise "
                 "Regression and Exact Partition Functions. arXiv:2507.08068 (2025)")

register_solver("llm", "qrpo", "method", citation=QRPO_CITATION,
                defaults={p: {"beta": 0.1, "transform": "identity", "quantile_samples": 0, "ties": "random"}
                          for p in ("smoke", "cpu", "gpu")},
                depends=DEPENDS,
                tunable=("beta", "transform", "quantile_samples", "ties"),
                fn="tiltbench.methods.qrpo:qrpo")

# ---------------------------------------------------------------------------- baselines
DPO_CITATION = ("Rafailov, Sharma, Mitchell et al. Direct Preference Optimization: Your Language Model is "
                "Secretly a Reward Model. NeurIPS 2023. arXiv:2305.18290 (TRL DPOTrainer)")
SIMPO_CITATION = ("Meng, Xia, Chen. SimPO: Simple Preference Optimization with a Reference-Free Reward. "
                  "NeurIPS 2024. arXiv:2405.14734 (TRL experimental CPOTrainer)")
REBEL_CITATION = ("Gao, Chang, Zhan et al. REBEL: Reinforcement Learning via Regressing Relative Rewards. "
                  "NeurIPS 2024. arXiv:2404.16767")

register_solver("llm", "dpo", "baseline", citation=DPO_CITATION,
                defaults={p: {"beta": 0.1} for p in ("smoke", "cpu", "gpu")},
                depends=DEPENDS,
                tunable=("beta",),
                fn="tiltbench.baselines.dpo:dpo")

register_solver("llm", "simpo", "baseline", citation=SIMPO_CITATION,
                defaults={p: {"beta": 2.0, "gamma_ratio": 0.5} for p in ("smoke", "cpu", "gpu")},
                depends=DEPENDS,
                tunable=("beta", "gamma_ratio"),
                fn="tiltbench.baselines.simpo:simpo")

register_solver("llm", "rebel", "baseline", citation=REBEL_CITATION,
                defaults={p: {"eta": 0.1} for p in ("smoke", "cpu", "gpu")},
                depends=DEPENDS,
                tunable=("eta",),
                fn="tiltbench.baselines.rebel:rebel")
