"""The `t2i-sd` track's entry in the registry: Stable Diffusion-class pipelines, bring your own weights.

Metadata only (no torch, no diffusers imported here).  The code is in track.py, pipelines.py, rewards.py,
prompts.py, draft.py, reference.py, methods/guidance_net_sd.py, methods/velocity_guidance_sd3.py and
baselines/draft_lora_sd.py, draft_lora_sd3.py.  Which profiles run it: ``gpu-smoke`` on tiny random
pipelines (every GPU code path), ``gpu`` on the folders its section names (the README's section on this
track says how to fetch the weights); the tests run the tiny pipelines on the CPU.
"""

from tiltbench.registry import Metric, Track, register_solver, register_track

DEPENDS = ("tiltbench.benchmarks.t2i_sd.pipelines", "tiltbench.benchmarks.t2i_sd.rewards",
           "tiltbench.benchmarks.t2i_sd.prompts", "tiltbench.divergences")
PROFILES = ("smoke", "cpu", "gpu")
PAPER = "Ouyang, Xie, Zha, Cheng. Alignment of Diffusion Model and Flow Matching for Text-to-Image Generation"
DRAFT = "Clark, Vicol, Swersky, Fleet. Directly Fine-Tuning Diffusion Models on Differentiable Rewards (DRaFT). ICLR 2024"

register_track(Track(
    # the pipelines and CLIP scorers every cell builds: ~5 s of imports each, paid once by the forkserver
    preload=("diffusers.models.unets", "diffusers.schedulers", "diffusers.pipelines.stable_diffusion",
             "diffusers.pipelines.stable_diffusion_3", "transformers.models.clip", "peft"),
    name="t2i-sd",
    description="reward-tilted text-to-image sampling on Stable Diffusion-class pipelines from local folders (bring "
                "your own weights; 'tiny' builds random ones): the guidance network on a StableDiffusionPipeline and "
                "velocity guidance on a StableDiffusion3Pipeline against LoRA DRaFT on the same bases, CLIP-based "
                "rewards, no exact target",
    task_pattern="<prompt set>-lam<lambda>, prompt set 'tiny' or a file/folder name in prompts_dir",
    task_regex=r"[a-z0-9_]+-lam[0-9]*\.?[0-9]+",
    metrics=[
        Metric("reward", "", True, "mean training reward (the CLIP scorer at reward_path) of the evaluation samples"),
        Metric("heldout_reward", "", True, "mean reward of a second scorer no solver sees (heldout_path)"),
        Metric("fd_base", "", None, "Frechet distance to the base pipeline's own samples (reference pool) in its VAE "
               "encoder's pooled latent means (a feature space no reward uses); absent when a cell has fewer samples "
               "than twice the feature width"),
        Metric("kl_feat", "nats", None, "KL between Gaussian fits of the samples' and the reference pool's features"),
        Metric("train_s", "s", False, "seconds of the solver's own training (guidance network: including the base "
               "samples it trains on; 0 when training-free)", kind="cost"),
        Metric("samples_per_s", "1/s", True, "images per second of the solver's sampler", kind="cost"),
    ],
    primary="reward",
    make_task="tiltbench.benchmarks.t2i_sd.track:make_task",
    evaluate="tiltbench.benchmarks.t2i_sd.track:evaluate",
    pairs={"guidance-net-sd": ["draft-lora-sd", "base-sd"], "velocity-guidance-sd3": ["draft-lora-sd3", "base-sd3"]},
    frontier=("reward", "fd_base"),
))

register_solver("t2i-sd", "base-sd", "reference", citation="Rombach et al. High-Resolution Image Synthesis with Latent "
                "Diffusion Models. CVPR 2022", defaults={p: {} for p in PROFILES}, depends=DEPENDS,
                fn="tiltbench.benchmarks.t2i_sd.reference:base_sd")

register_solver("t2i-sd", "base-sd3", "reference", citation="Esser et al. Scaling Rectified Flow Transformers for "
                "High-Resolution Image Synthesis. ICML 2024", defaults={p: {} for p in PROFILES}, depends=DEPENDS,
                fn="tiltbench.benchmarks.t2i_sd.reference:base_sd3")

# steps / batch: smoke sizes check the path; gpu sizes are a starting point, not tuned (no GPU board has run)
register_solver("t2i-sd", "guidance-net-sd", "method", citation=PAPER + " (guidance network, latent space)",
                defaults={"smoke": {"steps": 20, "batch": 16, "lr": 1e-3, "width": 32, "gamma": 1.0},
                          "cpu": {"steps": 200, "batch": 32, "lr": 1e-3, "width": 64, "gamma": 1.0},
                          "gpu": {"steps": 5000, "batch": 256, "lr": 1e-3, "width": 128, "gamma": 1.0}},
                depends=DEPENDS, tunable=("lr", "gamma"),
                fn="tiltbench.methods.guidance_net_sd:guidance_net_sd")

register_solver("t2i-sd", "velocity-guidance-sd3", "method", citation=PAPER + " (training-free velocity guidance)",
                defaults={p: {"gamma": 1.0, "jac": True, "t_min": 0.2} for p in PROFILES}, depends=DEPENDS,
                tunable=("gamma", "t_min"),
                fn="tiltbench.methods.velocity_guidance_sd3:velocity_guidance_sd3")

_LORA = {"smoke": {"steps": 3, "batch": 2, "k": 1, "rank": 4, "alpha": 4.0, "lr": 1e-3, "max_grad_norm": 1.0,
                   "checkpointing": True},
         "cpu": {"steps": 50, "batch": 4, "k": 1, "rank": 4, "alpha": 4.0, "lr": 1e-3, "max_grad_norm": 1.0,
                 "checkpointing": True},
         "gpu": {"steps": 400, "batch": 4, "k": 1, "rank": 16, "alpha": 16.0, "lr": 2e-4, "max_grad_norm": 1.0,
                 "checkpointing": True}}

register_solver("t2i-sd", "draft-lora-sd", "baseline", citation=DRAFT + ", LoRA on the UNet", defaults=_LORA,
                depends=DEPENDS + ("tiltbench.benchmarks.t2i_sd.draft",), tunable=("lr", "steps"),
                fn="tiltbench.baselines.draft_lora_sd:draft_lora_sd")

register_solver("t2i-sd", "draft-lora-sd3", "baseline", citation=DRAFT + ", LoRA on the MMDiT through the Euler sampler",
                defaults=_LORA, depends=DEPENDS + ("tiltbench.benchmarks.t2i_sd.draft",), tunable=("lr", "steps"),
                fn="tiltbench.baselines.draft_lora_sd3:draft_lora_sd3")
