"""The `t2i` track's entry in the registry: the track (task family, metrics, method-baseline pairs) and every solver that
competes in it, with its role, citation, per-profile defaults and the "module:function" that
computes it.

Metadata only: importing this module imports no heavy library (no torch, no diffusers), so `tiltbench list`
and errors on bad names stay fast; a solver's module is imported when the solver first runs (in
the worker).  The code itself is in track.py, data.py, models.py, rewards.py,
reference.py, schedule.py, features.py, draft.py, methods/guidance_net.py, velocity_guidance.py and
baselines/reward_finetune.py, reward_finetune_flow.py, naive_guidance.py.
"""

from tiltbench.registry import Metric, Track, register_solver, register_track

# modules besides a solver's own whose code shapes every t2i result (they enter each cell's code version)
DEPENDS = ("tiltbench.benchmarks.t2i.data", "tiltbench.benchmarks.t2i.models", "tiltbench.benchmarks.t2i.rewards",
           "tiltbench.benchmarks.t2i.features", "tiltbench.benchmarks.t2i.schedule")
PROFILES = ("smoke", "cpu", "gpu")
REWARDS = ("correct", "bright")  # rewards.REWARDS (which imports torch); tests/test_fast_cli.py checks they agree
T_MIN = 0.2  # schedule.T_MIN: flow time from which training-free guidance acts (tests/test_t2i_schedule.py checks)

register_track(Track(
    # imported by every cell (UNets, schedulers, the MiniLM reward): 5-6 s each, paid once by the forkserver
    preload=("diffusers.models.unets", "diffusers.schedulers", "sentence_transformers", "peft"),
    name="t2i",
    description="reward-tilted text-to-image sampling on 8x8 digits with MiniLM captions: the guidance network "
                "(diffusion) and training-free velocity guidance (flow matching) against DRaFT-style reward "
                "finetuning and the base models",
    task_pattern="<reward>-lam<lambda>, reward in " + ", ".join(REWARDS),
    task_regex=rf"({'|'.join(REWARDS)})-lam[0-9]*\.?[0-9]+",
    metrics=[
        Metric("reward", "", True, "mean training reward of the samples (one per caption x n_eval)"),
        Metric("heldout_reward", "", True, "mean probability the held-out MLP classifier gives the caption's digit"),
        Metric("accuracy", "", True, "share of samples the correctness classifier reads as the caption's digit"),
        Metric("target_gap", "", None, "reward minus the exact tilted target's reward (importance-weighted base "
               "target pool); 0 is on target, positive is past it"),
        Metric("target_err", "", False, "|target_gap|: how far the reward is from the exact tilted target's (what "
               "a grid's tuning minimises)"),
        Metric("fid_base", "", None, "Frechet distance to the base model's reference pool in the feature space of "
               "an autoencoder no reward uses"),
        Metric("fid_real", "", False, "Frechet distance to the real test digits in the same feature space "
               "(sample quality)"),
        Metric("kl_feat", "nats", None, "KL between Gaussian fits of the samples' and the reference pool's "
               "features"),
        Metric("diversity", "", True, "mean pairwise feature distance between samples of one caption"),
        Metric("train_s", "s", False, "seconds of the solver's own training (guidance network: including the "
               "base samples it trains on; 0 when training-free)", kind="cost"),
        Metric("samples_per_s", "1/s", True, "images per second of the solver's sampler", kind="cost"),
        Metric("base_train_s", "s", False, "training seconds of the base model (once per profile, shared)",
               kind="cost"),
        Metric("tilt_ess", "", None, "effective sample size per caption of the importance weights behind the exact "
               "tilted rows, mean over captions (out of `target_pool`; small means a poor estimate)"),
        Metric("tilt_ess_min", "", None, "the smallest caption's effective sample size of those weights (the "
               "claims' ESS gate)"),
        Metric("target_reward", "", None, "the exact tilted target's reward: self-normalised importance estimate "
               "over the target pool (tilted rows)"),
        Metric("target_lo", "", None, "lower end of the bootstrap 95% interval of target_reward over the pool"),
        Metric("target_hi", "", None, "upper end of the bootstrap 95% interval of target_reward over the pool"),
        Metric("finetune_steps", "", None, "reward-finetuning steps taken (stops at the tilted target's reward)"),
    ],
    primary="reward",
    make_task="tiltbench.benchmarks.t2i.track:make_task",
    evaluate="tiltbench.benchmarks.t2i.track:evaluate",
    pairs={"guidance-net": ["reward-finetune", "base-ddpm"],
           "velocity-guidance": ["reward-finetune-flow", "base-flow"]},
    report_extras="tiltbench.benchmarks.t2i.report:section",
    # the base models, captions and pools are the same on both splits: a validation cell draws its evaluation
    # noise (and a trained solver its training noise) from the validation seed stream
    validation="other evaluation noise for the same ten captions (the validation seed stream), scored against "
               "the same exact tilted target",
    selection="target_err",  # the paper's aim is the tilted target p0 exp(r / lambda) at this lambda
    frontier=("reward", "fid_base"),
))


# ---------------------------------------------------------------------------- reference rows
register_solver("t2i", "base-ddpm", "reference", citation="Ho, Jain, Abbeel. Denoising Diffusion Probabilistic "
                "Models. NeurIPS 2020; Song, Meng, Ermon. DDIM. ICLR 2021", defaults={p: {} for p in PROFILES},
                depends=DEPENDS,
                fn="tiltbench.benchmarks.t2i.reference:base_ddpm")

register_solver("t2i", "base-flow", "reference", citation="Liu, Gong, Liu. Flow Straight and Fast: Learning to "
                "Generate and Transfer Data with Rectified Flow. ICLR 2023", defaults={p: {} for p in PROFILES},
                depends=DEPENDS,
                fn="tiltbench.benchmarks.t2i.reference:base_flow")

register_solver("t2i", "tilted-ddpm", "reference", citation="exact target: self-normalised importance "
                "resampling of base-ddpm samples by exp(r / lambda)", defaults={p: {} for p in PROFILES},
                depends=DEPENDS,
                fn="tiltbench.benchmarks.t2i.reference:tilted_ddpm")

register_solver("t2i", "tilted-flow", "reference", citation="exact target: self-normalised importance "
                "resampling of base-flow samples by exp(r / lambda)", defaults={p: {} for p in PROFILES},
                depends=DEPENDS,
                fn="tiltbench.benchmarks.t2i.reference:tilted_flow")

# ---------------------------------------------------------------------------- the paper's methods
CITATION = ("Ouyang, Xie, Zha, Cheng. Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation "
            "(guidance network)")


def _defaults(targets: str) -> dict:
    # lr and steps from a pilot run on correct-lam0.1 (seed outside the sweep): 1500 steps at 1e-3 left f
    # far from converged; 2000 at 2e-3 is what the cpu sweep can afford.  probe_every / probe_n: the training
    # curve's spacing and probe batch (samples per caption); probes are not charged to train_s.
    common = {"targets": targets, "batch": 128, "lr": 2e-3, "width": 64, "gamma": 1.0, "draws": 4}
    return {"smoke": {**common, "steps": 60, "draws": 1, "probe_every": 30, "probe_n": 2},
            "cpu": {**common, "steps": 2000, "probe_every": 200, "probe_n": 8},
            "gpu": {**common, "steps": 10000, "draws": 16, "probe_every": 500, "probe_n": 32}}


register_solver("t2i", "guidance-net", "method", citation=CITATION, defaults=_defaults("samples"), depends=DEPENDS,
                tunable=("lr", "gamma"),
                fn="tiltbench.methods.guidance_net:guidance_net")

register_solver("t2i", "guidance-net-tweedie", "reference", citation=CITATION + ", fitted to one-step Tweedie "
                "targets: the naive plug-in r(x0_hat(x_t)) / lambda amortised by the network (an ablation, not the "
                "paper's one-step generation)",
                defaults=_defaults("tweedie"), depends=DEPENDS,
                tunable=("lr", "gamma"),
                fn="tiltbench.methods.guidance_net:guidance_net_tweedie")

register_solver("t2i", "velocity-guidance", "method", citation="Ouyang, Xie, Zha, Cheng. Alignment of Diffusion "
                "Model and Flow Matching for Text-to-Image Generation (training-free velocity guidance)",
                defaults={p: {"gamma": 1.0, "jac": True, "t_min": T_MIN} for p in ("smoke", "cpu", "gpu")},
                depends=DEPENDS,
                tunable=("gamma", "t_min"),
                fn="tiltbench.methods.velocity_guidance:velocity_guidance")

# ---------------------------------------------------------------------------- baselines
DRAFT = "Clark, Vicol, Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards (DRaFT). ICLR 2024"
DRAFT_DEFAULTS = {
    "smoke": {"steps": 10, "k": 1, "batch": 16, "lr": 1e-5, "stop_at_target": True, "window": 5, "probe_every": 5,
              "probe_n": 2},
    "cpu": {"steps": 400, "k": 1, "batch": 32, "lr": 1e-5, "stop_at_target": True, "window": 10, "probe_every": 20,
            "probe_n": 8},
    "gpu": {"steps": 2000, "k": 1, "batch": 64, "lr": 1e-5, "stop_at_target": True, "window": 20,
            "probe_every": 100, "probe_n": 32}}

register_solver("t2i", "reward-finetune", "baseline", citation=DRAFT + "; Xu et al. ImageReward/ReFL. NeurIPS 2023",
                defaults=DRAFT_DEFAULTS, depends=DEPENDS + ("tiltbench.benchmarks.t2i.draft",),
                tunable=("lr", "steps"),  # steps: where finetuning stops when the target is not reached first
                fn="tiltbench.baselines.reward_finetune:reward_finetune")

register_solver("t2i", "reward-finetune-flow", "baseline", citation=DRAFT + ", through the rectified flow's Euler "
                "sampler (velocity guidance's same-base baseline)",
                defaults=DRAFT_DEFAULTS, depends=DEPENDS + ("tiltbench.benchmarks.t2i.draft",),
                tunable=("lr", "steps"),
                fn="tiltbench.baselines.reward_finetune_flow:reward_finetune_flow")

register_solver("t2i", "naive-guidance", "reference", citation="Ouyang, Xie, Zha, Cheng. Alignment of Diffusion "
                "Model and Flow Matching for Text-to-Image Generation (the artifact case); Bansal et al. Universal "
                "Guidance for Diffusion Models. CVPR-W 2023",
                defaults={p: {"scale": 1.0, "t_min": T_MIN} for p in ("smoke", "cpu", "gpu")}, depends=DEPENDS,
                tunable=("scale", "t_min"),
                fn="tiltbench.baselines.naive_guidance:naive_guidance")
