"""The layout contract: one installed namespace, one folder per track, and who may import whom.

- ``benchmarks/``, ``methods/`` and ``baselines/`` install as ``tiltbench.benchmarks``,
  ``tiltbench.methods`` and ``tiltbench.baselines`` (pyproject's package-dir mapping); the built
  wheel holds no other top-level package, and it runs from a folder of its own.
- The core (``tiltbench/*.py``) never imports a track; a track's folder never imports a method or a
  baseline; methods and baselines import their track's shared pieces, never each other.
"""

import ast
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"benchmarks": "tiltbench.benchmarks", "methods": "tiltbench.methods", "baselines": "tiltbench.baselines"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in ``path`` (relative imports resolved)."""
    package = ".".join(["tiltbench", *path.relative_to(ROOT).parent.parts]) if path.parent != ROOT / "tiltbench" \
        else "tiltbench"
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module)
    return names


def test_every_package_folder_is_installed():
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"tiltbench": "tiltbench", **{v: k for k, v in MAPPED.items()}}
    listed = set(setuptools["packages"])
    for top, name in MAPPED.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            assert ".".join([name, *rel]) in listed, f"{init.parent} is a package but not in pyproject's packages"


def test_entry_points_name_modules_in_the_namespace():
    plugins = _pyproject()["project"]["entry-points"]["tiltbench.plugins"]
    for key, module in plugins.items():
        assert module.startswith("tiltbench."), f"plugin {key} = {module} is outside the tiltbench namespace"
        top, *rest = module.split(".")[1:]
        folder = ROOT / (top if top in MAPPED else "tiltbench")
        assert (folder.joinpath(*rest[:-1]) / f"{rest[-1] if rest else top}.py").exists(), module


def _violations(path: Path) -> list[str]:
    """Imports in ``path`` that break the layout rules of docs/architecture.md."""
    rel = path.relative_to(ROOT)
    bad = []
    tracks = set()
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] in ("benchmarks", "methods", "baselines"):
            bad.append(f"{name} (use the tiltbench. namespace)")
            continue
        if parts[:2] == ["tiltbench", "benchmarks"] and len(parts) > 2:
            tracks.add(parts[2])
        if rel.parts[0] == "tiltbench" and parts[:2] in (["tiltbench", "benchmarks"], ["tiltbench", "methods"],
                                                         ["tiltbench", "baselines"]):
            bad.append(f"{name} (the core never imports a track or a solver)")
        if rel.parts[0] in ("benchmarks", "methods", "baselines") and parts[:2] in (["tiltbench", "methods"],
                                                                                   ["tiltbench", "baselines"]):
            bad.append(f"{name} (a track, method or baseline never imports a method or baseline)")
    own = {rel.parts[1]} if rel.parts[0] == "benchmarks" and len(rel.parts) > 2 else set()
    if own and tracks - own:
        bad.append(f"another track: {sorted(tracks - own)}")
    if rel.parts[0] in ("methods", "baselines") and len(tracks) > 1:
        bad.append(f"more than one track: {sorted(tracks)}")
    return bad


def test_import_rules():
    files = [f for top in ("tiltbench", *MAPPED) for f in (ROOT / top).rglob("*.py")]
    bad = {str(f.relative_to(ROOT)): v for f in files if (v := _violations(f))}
    assert not bad, f"imports that break the layout rules: {bad}"


@pytest.mark.parametrize("folder,line", [
    ("methods", "from tiltbench.methods.scones import scones"),
    ("methods", "from . import qrpo"),
    ("baselines", "from tiltbench.baselines.sinkhorn import sinkhorn"),
    ("baselines", "from tiltbench.methods import tdrl"),
    ("methods", "def f():\n    from tiltbench.benchmarks.ot import track\n    from tiltbench.benchmarks.rl import sac"),
    ("benchmarks/ot", "from tiltbench.benchmarks.rl import sac"),
    ("tiltbench", "import tiltbench.benchmarks.ot.track"),
    ("methods", "from baselines.sac import mlp"),
])
def test_import_rules_catch_violations(folder, line):
    probe = ROOT / folder / "_layout_probe.py"
    probe.write_text(line + "\n")
    try:
        assert _violations(probe), line
    finally:
        probe.unlink()


def test_built_wheel_installs_and_runs(tmp_path):
    """Build the wheel, install it into a folder of its own, and run `list` and two ot smoke cells
    from it, in a working directory outside the checkout."""
    dist, site = tmp_path / "dist", tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next(dist.glob("tiltbench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"tiltbench"}, tops
    for top, name in MAPPED.items():
        for source in (ROOT / top).rglob("*.py"):
            inside = "/".join([*name.split("."), *source.relative_to(ROOT / top).parts])
            assert inside in names, f"{source} is missing from the wheel ({inside})"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    where = subprocess.run([sys.executable, "-c", "import tiltbench.benchmarks.ot.track as m; print(m.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    listed = subprocess.run([sys.executable, "-m", "tiltbench.cli", "list"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr
    for track in ("ot", "rl", "llm", "t2i"):
        assert f"track {track}:" in listed.stdout
    ran = subprocess.run([sys.executable, "-m", "tiltbench.cli", "run", "--profile", "smoke", "--track", "ot",
                          "--method", "sinkhorn", "floor", "--strict", "--no-progress", "--store", tmp_path / "s.duckdb"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "ok 2, failed 0" in ran.stderr, ran.stdout + ran.stderr
