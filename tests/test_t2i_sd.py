"""The `t2i-sd` track on tiny random diffusers pipelines and CLIP scorers built from config (real diffusers,
transformers and peft code; seconds on a CPU): loaders and their errors, the methods' mathematics, and every
solver end to end through the real CLI into a real DuckDB file."""

import json

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from conftest import tiltbench  # noqa: E402
from tiltbench.benchmarks.t2i_sd import pipelines, prompts, rewards, track  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny sd and sd3 pipelines and a scorer with a head, written as the folders a user would give."""
    root = tmp_path_factory.mktemp("models")
    for kind in pipelines.KINDS:
        pipelines.tiny_pipeline(kind, seed=3).save_pretrained(root / kind)
    scorer = rewards.tiny_scorer(seed=2, head=True)
    scorer.clip.save_pretrained(root / "scorer")
    scorer.tokenizer.save_pretrained(root / "scorer")
    torch.save(scorer.head.state_dict(), root / "scorer" / "head.pt")
    return root


def test_a_saved_pipeline_loads_back_and_samples_the_same(folders):
    for kind in pipelines.KINDS:
        built, loaded = pipelines.tiny_pipeline(kind, seed=3), pipelines.load_pipeline(str(folders / kind), kind)
        out = []
        for pipe in (built, loaded):
            cond = pipelines.Conditioning(pipe, kind, ["a red apple", "a cat"], "cpu")
            noise = torch.randn((2, *pipelines.latent_shape(pipe, kind, 32)), generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                out.append(pipelines.decode(pipe, kind, pipelines.sample(pipe, kind, cond, torch.arange(2), noise, 3, 5.0)))
        assert out[0].shape == (2, 3, 32, 32) and torch.allclose(out[0], out[1], atol=1e-5)


def test_a_pipeline_folder_of_the_wrong_class_or_no_folder_is_one_clear_line(folders, tmp_path):
    with pytest.raises(ValueError, match="holds a StableDiffusion3Pipeline; the sd kind takes a StableDiffusionPipeline"):
        pipelines.load_pipeline(str(folders / "sd3"), "sd")
    with pytest.raises(ValueError, match="no model_index.json"):
        pipelines.load_pipeline(str(tmp_path), "sd3")
    with pytest.raises(ValueError, match="valid: sd, sd3"):
        pipelines.load_pipeline("tiny", "flux")
    with pytest.raises(ValueError, match="valid: float32, float16, bfloat16"):
        pipelines.load_pipeline("tiny", "sd", dtype="int8")


def test_a_scorer_folder_with_a_head_loads_and_its_reward_has_pixel_gradients(folders):
    built, loaded = rewards.tiny_scorer(seed=2, head=True), rewards.load_scorer(str(folders / "scorer"))
    x = torch.rand((3, 3, 32, 32)) * 2 - 1
    texts = ["a", "b", "c"]
    assert torch.allclose(built(x, texts), loaded(x, texts), atol=1e-5)
    x.requires_grad_(True)
    grad, = torch.autograd.grad(loaded(x, texts).sum(), x)
    assert grad.abs().sum() > 0
    # without a head: CLIP similarity, different prompts give different rewards
    plain = rewards.tiny_scorer(seed=2)
    assert not torch.allclose(plain(x.detach(), ["a cat"] * 3), plain(x.detach(), ["a dog"] * 3))


def test_a_reward_head_of_the_wrong_width_is_refused(folders, tmp_path):
    bad = tmp_path / "scorer"
    bad.mkdir()
    for f in (folders / "scorer").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    torch.save(torch.nn.Sequential(torch.nn.Linear(768, 16), torch.nn.Linear(16, 1)).state_dict(), bad / "head.pt")
    with pytest.raises(ValueError, match="takes inputs 768 wide, but the CLIP model projects to 32"):
        rewards.load_scorer(str(bad))
    with pytest.raises(ValueError, match="not a CLIPModel folder"):
        rewards.load_scorer(str(tmp_path / "nowhere"))


def test_a_laion_style_head_with_dropout_gaps_keeps_its_layers():
    mlp = torch.nn.Sequential(torch.nn.Linear(32, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    state = {f"layers.{k}": v for k, v in mlp.state_dict().items()}
    head = rewards.head_from_state(state, 32, "test")
    x = torch.randn(4, 32)
    assert torch.allclose(head(x), mlp.eval()(x))


def test_prompt_files_in_the_benchmarks_layouts(tmp_path):
    (tmp_path / "p.txt").write_text("one\n\ntwo\n")
    (tmp_path / "drawbench.csv").write_text("Prompts,Category\nA red colored car.,Colors\nA cube,Shapes\n")
    (tmp_path / "bad.csv").write_text("prompt,category\nx,y\n")
    hpd = tmp_path / "hpdv2"
    hpd.mkdir()
    (hpd / "anime.json").write_text(json.dumps(["an anime girl", "a castle"]))
    (hpd / "photo.json").write_text(json.dumps([{"prompt": "a photo of a dog", "image_path": ["x.jpg"]}]))
    assert prompts.load_prompts(str(tmp_path / "p.txt")) == ["one", "two"]
    assert prompts.load_prompts(str(tmp_path / "drawbench.csv")) == ["A red colored car.", "A cube"]
    assert prompts.load_prompts(str(hpd)) == ["an anime girl", "a castle", "a photo of a dog"]
    assert prompts.load_prompts(str(hpd), limit=1) == ["an anime girl"]
    with pytest.raises(ValueError, match="no 'Prompts' column.*its columns: prompt, category"):
        prompts.load_prompts(str(tmp_path / "bad.csv"))
    with pytest.raises(ValueError, match="neither 'tiny' nor an existing file"):
        prompts.load_prompts(str(tmp_path / "missing.csv"))
    task = track.make_task("drawbench-lam0.5", {"prompts_dir": str(tmp_path)}, 0)
    assert task.prompts() == ["A red colored car.", "A cube"] and task.lam == 0.5


def test_bad_task_names_and_config_values_fail_before_any_model_loads(tmp_path):
    with pytest.raises(ValueError, match="valid: <prompt set>-lam<lambda>"):
        track.make_task("tiny", {}, 0)
    with pytest.raises(Exception, match="unknown t2i-sd track config key 'widths'"):
        track.make_task("tiny-lam0.1", {"widths": [8]}, 0)
    with pytest.raises(ValueError, match="needs the track config's prompts_dir"):
        track.make_task("drawbench-lam0.1", {}, 0)
    with pytest.raises(ValueError, match="resolution = 20: must be a multiple of 8"):
        track.make_task("tiny-lam0.1", {"resolution": 20}, 0)


def test_guidance_with_zero_strength_is_the_base_sampler_and_positive_strength_moves_it():
    from tiltbench.methods.guidance_net_sd import LatentGuidanceNet, guided_correction

    pipe = pipelines.tiny_pipeline("sd")
    cond = pipelines.Conditioning(pipe, "sd", ["a", "b"], "cpu")
    idx = torch.arange(2)
    noise = torch.randn((2, 4, 4, 4), generator=torch.Generator().manual_seed(1))
    net = LatentGuidanceNet(4, cond.cond.shape[-1], 16)
    alphas = pipe.scheduler.alphas_cumprod.float()
    with torch.no_grad():
        z_base = pipelines.sample(pipe, "sd", cond, idx, noise, 3, 5.0)
    z0 = pipelines.sample(pipe, "sd", cond, idx, noise, 3, 5.0, correct=guided_correction(net, cond, idx, 0.0, alphas))
    z1 = pipelines.sample(pipe, "sd", cond, idx, noise, 3, 5.0, correct=guided_correction(net, cond, idx, 5.0, alphas))
    assert torch.allclose(z0, z_base) and not torch.allclose(z1, z_base)


def test_the_guidance_networks_gradient_pushes_the_samples_up_its_slope():
    """A network f(z) = <d, z> guides every DDIM step toward +d: the final latents move along d."""
    from tiltbench.methods.guidance_net_sd import guided_correction

    class Linear(torch.nn.Module):
        def __init__(self, d):
            super().__init__()
            self.d = d

        def forward(self, z, t, text):
            return (z * self.d).sum(dim=(1, 2, 3))

    pipe = pipelines.tiny_pipeline("sd")
    cond = pipelines.Conditioning(pipe, "sd", ["a", "b"], "cpu")
    idx, d = torch.arange(2), torch.randn(1, 4, 4, 4)
    noise = torch.randn((2, 4, 4, 4), generator=torch.Generator().manual_seed(4))
    alphas = pipe.scheduler.alphas_cumprod.float()
    with torch.no_grad():
        base = pipelines.sample(pipe, "sd", cond, idx, noise, 3, 5.0)
    guided = pipelines.sample(pipe, "sd", cond, idx, noise, 3, 5.0,
                              correct=guided_correction(Linear(d), cond, idx, 0.5, alphas))
    assert ((guided - base) * d).sum(dim=(1, 2, 3)).min() > 0


def test_the_track_sampler_is_the_stock_pipelines_sampler():
    """With no guidance, ``pipelines.sample`` gives the latents the diffusers pipeline itself gives."""
    for kind, scheduler in (("sd", None), ("sd3", None)):
        pipe = pipelines.tiny_pipeline(kind)
        if kind == "sd":
            from diffusers import DDIMScheduler

            pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        noise = torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            stock = pipe("a red apple", num_inference_steps=3, guidance_scale=5.0, latents=noise.clone(),
                         output_type="latent", height=32, width=32).images
            cond = pipelines.Conditioning(pipe, kind, ["a red apple"], "cpu")
            ours = pipelines.sample(pipe, kind, cond, torch.arange(1), noise.clone(), 3, 5.0)
        assert torch.allclose(stock, ours, atol=1e-5), kind


def test_bfloat16_pipelines_run_the_methods_and_score_in_float32(tmp_path, monkeypatch):
    from tiltbench.baselines.draft_lora_sd import draft_lora_sd
    from tiltbench.methods.velocity_guidance_sd3 import velocity_guidance_sd3

    monkeypatch.setenv("TILTBENCH_CACHE", str(tmp_path))
    task = track.make_task("tiny-lam0.1", {"n_prompts": 2, "n_eval": 1, "n_ref": 2, "sample_steps": 2,
                                           "dtype": "bfloat16", "feature_pool": 1}, 0)
    vg = velocity_guidance_sd3(task, {"gamma": 1.0, "jac": True, "t_min": 0.2}, 0)
    ft = draft_lora_sd(task, {"steps": 1, "batch": 1, "k": 1, "rank": 2, "alpha": 2.0, "lr": 1e-3,
                              "max_grad_norm": 1.0, "checkpointing": True}, 0)
    for out in (vg, ft):
        assert out["x"].dtype == torch.float32 and out["x"].device.type == "cpu"
        metrics = track.evaluate(task, out)
        assert set(metrics) >= {"reward", "heldout_reward"} and all(torch.isfinite(torch.tensor(v))
                                                                    for v in metrics.values())
    assert track.scorer(task).clip.dtype == torch.float32


def test_a_v_prediction_sd_folder_is_refused(tmp_path):
    pipe = pipelines.tiny_pipeline("sd")
    pipe.scheduler.register_to_config(prediction_type="v_prediction")
    pipe.save_pretrained(tmp_path / "v")
    with pytest.raises(ValueError, match="predicts 'v_prediction'"):
        pipelines.load_pipeline(str(tmp_path / "v"), "sd")


def test_the_tilt_weights_are_softmax_within_each_prompt():
    from tiltbench.methods.guidance_net_sd import tilt_weights

    r, idx = torch.tensor([0.0, 1.0, 5.0, 5.0]), torch.tensor([0, 0, 1, 1])
    w = tilt_weights(r, idx, 0.5)
    assert torch.allclose(w[2:], torch.ones(2)) and w[1] / w[0] == pytest.approx(torch.e ** 2, rel=1e-5)
    assert w[:2].mean() == pytest.approx(1.0)


def test_one_velocity_guided_euler_step_raises_the_reward_at_first_order():
    """u' = u - gamma (sigma/t) grad r(x1_hat)/lambda; the Euler step z + (sigma_next - sigma) u' moves z along
    +grad r, so a small step raises the reward of the endpoint prediction against the unguided step."""
    from tiltbench.methods.velocity_guidance_sd3 import guided_velocity

    pipe = pipelines.tiny_pipeline("sd3")
    scorer = rewards.tiny_scorer(seed=5, head=True)
    texts = ["a", "b"]
    cond = pipelines.Conditioning(pipe, "sd3", texts, "cpu")
    idx, net = torch.arange(2), pipe.transformer
    z = torch.randn((2, 4, 4, 4), generator=torch.Generator().manual_seed(2))
    sigma, step = 0.5, -0.01
    with torch.no_grad():
        u = cond.predict(net, z, sigma * 1000.0, idx, 5.0)
    fix = guided_velocity(pipe, texts, scorer, lam=0.01, gamma=1.0, jac=False, t_min=0.2)
    assert fix.wants_graph  # the sampler hands it u attached to z (which requires grad)
    u_guided = fix(u, z.clone().requires_grad_(True), sigma)

    def reward_after(v):
        z_next = z + step * v
        return float(scorer(pipelines.decode(pipe, "sd3", z_next - (sigma + step) * u), texts).sum())

    assert reward_after(u_guided) > reward_after(u)
    assert torch.equal(fix(u, z, 0.95), u)  # flow time 0.05 < t_min: unguided


def test_lora_draft_trains_only_the_adapters_and_its_gradient_reaches_them():
    from tiltbench.benchmarks.t2i_sd.draft import add_lora

    pipe = pipelines.tiny_pipeline("sd")
    model, params = add_lora(pipe.unet, rank=2, alpha=2.0)
    frozen = {n: p.clone() for n, p in model.named_parameters() if "lora" not in n}
    cond = pipelines.Conditioning(pipe, "sd", ["a red apple"], "cpu")
    scorer = rewards.tiny_scorer(seed=1, head=True)
    opt = torch.optim.SGD(params, lr=1.0)
    z = pipelines.sample(pipe, "sd", cond, torch.arange(1), torch.randn(1, 4, 4, 4), 3, 5.0, net=model, grad_steps=1)
    loss = -scorer(pipelines.decode(pipe, "sd", z), ["a red apple"]).sum()
    loss.backward()
    assert all(p.grad is not None for p in params) and sum(float(p.grad.abs().sum()) for p in params) > 0
    opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if "lora" not in n)
    # truncation: with k = 1 of 3 steps, no gradient reaches the initial noise
    noise = torch.randn(1, 4, 4, 4, requires_grad=True)
    z = pipelines.sample(pipe, "sd", cond, torch.arange(1), noise, 3, 5.0, net=model, grad_steps=1)
    scorer(pipelines.decode(pipe, "sd", z), ["a red apple"]).sum().backward()
    assert noise.grad is None


PROFILE = """
[sdtest]
description = "tiny t2i-sd"
base_seed = 7
workers = 1
threads_per_worker = 1
timeout_s = 300
memory_limit_gb = 0
gpus = 0
solver_defaults = "smoke"

[sdtest.tracks.t2i-sd]
tasks = ["tiny-lam0.1"]
reps = 1
n_prompts = 4
n_eval = 4
n_ref = 4
n_pool = 4
sample_steps = 3
feature_pool = 1
"""


def test_every_t2i_sd_solver_runs_end_to_end_and_reports(tmp_path, monkeypatch):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(PROFILE)
    monkeypatch.setenv("TILTBENCH_PROFILES", str(profiles))
    monkeypatch.setenv("TILTBENCH_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "s.duckdb"
    tiltbench("run", "--profile", "sdtest", "--strict", "--no-progress", store=store, timeout=600, check=True)
    q = tiltbench("query", "SELECT method, status FROM runs ORDER BY method", "--format", "csv", store=store, check=True)
    rows = q.stdout.split()
    for name in ("base-sd", "base-sd3", "draft-lora-sd", "draft-lora-sd3", "guidance-net-sd", "velocity-guidance-sd3"):
        assert f"{name},ok" in rows
    m = tiltbench("query", "SELECT count(*) FROM metrics WHERE name IN ('reward', 'heldout_reward', 'fd_base', "
                  "'kl_feat')", "--format", "csv", store=store, check=True)
    assert m.stdout.split()[-1] == str(6 * 4)  # 16 samples and 16 reference samples, 4 feature values
    tiltbench("report", "--profile", "sdtest", "--out", tmp_path / "out", store=store, check=True)
    text = (tmp_path / "out" / "t2i-sd.md").read_text()
    assert "guidance-net-sd vs draft-lora-sd" in text and "velocity-guidance-sd3 vs draft-lora-sd3" in text


def test_a_wrong_pipeline_folder_is_a_failed_cell_with_its_reason(tmp_path, monkeypatch, folders):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(PROFILE + f'sd_path = "{folders / "sd3"}"\nmethods = ["base-sd"]\n')
    monkeypatch.setenv("TILTBENCH_PROFILES", str(profiles))
    monkeypatch.setenv("TILTBENCH_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "s.duckdb"
    out = tiltbench("run", "--profile", "sdtest", "--no-progress", store=store, timeout=300)
    q = tiltbench("query", "SELECT status, reason FROM runs WHERE status = 'failed'", "--format", "csv", store=store, check=True)
    assert "holds a StableDiffusion3Pipeline" in q.stdout, (out.stdout, out.stderr, q.stdout)
