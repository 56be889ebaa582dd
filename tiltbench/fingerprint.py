"""A measured fingerprint of the machine and code a run executed on."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess

KEY_PACKAGES = ("torch", "numpy", "scipy", "pot", "duckdb", "pandas", "diffusers", "transformers", "trl",
                "vllm", "dm_control", "mujoco", "ray")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return float("nan")


def _nvidia_driver() -> str:
    """The NVIDIA driver version nvidia-smi reports, or "" where there is none."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return out.strip().splitlines()[0].strip() if out.strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def git_state(cwd: str | None = None) -> tuple[str, bool]:
    """(commit, dirty) of the checkout in ``cwd``; outside a git checkout (an installed wheel on a
    machine the tree was copied to) ``$TILTBENCH_GIT_COMMIT`` ("<sha>" or "<sha>-dirty"), else
    ("unknown", False)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        given = os.environ.get("TILTBENCH_GIT_COMMIT", "").strip()
        if given:
            return given.removesuffix("-dirty"), given.endswith("-dirty")
        return "unknown", False


def fingerprint(executor: str, workers: int) -> dict:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    gpu_name, gpu_mem_gb, gpu_count, cuda, driver = "", 0.0, 0, "", ""
    try:
        import torch

        cuda = torch.version.cuda or ""
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            gpu_name, gpu_mem_gb = props.name, round(props.total_memory / 2**30, 1)
            gpu_count, driver = torch.cuda.device_count(), _nvidia_driver()
    except Exception:  # torch missing or broken CUDA: the fingerprint records no GPU
        pass
    # the code's own checkout, wherever the command runs from (an installed wheel has none: "unknown")
    commit, dirty = git_state(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fp = {
        "cpu_model": _cpu_model(), "cores": os.cpu_count() or 0, "ram_gb": _ram_gb(),
        "gpu_name": gpu_name, "gpu_mem_gb": gpu_mem_gb, "gpu_count": gpu_count, "gpu_driver": driver, "cuda": cuda,
        "python": platform.python_version(), "platform": platform.platform(),
        "packages": versions, "git_commit": commit, "git_dirty": dirty,
        "executor": executor, "workers": workers,
    }
    fp["env_id"] = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
    return fp
