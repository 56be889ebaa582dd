"""Named hardware profiles, read from one TOML file (``profiles.toml`` beside this module)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TiltbenchError, unknown
from .registry import check_type

DEFAULT_FILE = Path(__file__).with_name("profiles.toml")

# key -> (type example, minimum)
_BUDGET_KEYS = {"base_seed": (0, 0), "workers": (1, 1), "threads_per_worker": (1, 1),
                "timeout_s": (1.0, 1), "memory_limit_gb": (0.0, 0), "gpus": (0, 0)}


@dataclass
class Profile:
    name: str
    description: str
    base_seed: int
    workers: int
    threads_per_worker: int
    timeout_s: float
    memory_limit_gb: float
    gpus: int
    tracks: dict[str, dict] = field(default_factory=dict)
    solver_defaults: str = ""  # whose registered solver defaults to use; empty = this profile's name

    @property
    def defaults_name(self) -> str:
        return self.solver_defaults or self.name

    def track_config(self, track: str) -> dict:
        """Budgets of ``track`` (tasks, reps, ...) without the per-solver overrides."""
        if track not in self.tracks:
            raise TiltbenchError(f"profile {self.name!r} has no settings for track {track!r}; "
                                 f"it covers: {', '.join(sorted(self.tracks)) or '(nothing)'}")
        return {k: v for k, v in self.tracks[track].items() if k != "solvers"}

    def solver_overrides(self, track: str, solver: str) -> dict:
        """The solver's fixed overrides (its ``grid`` table, if any, apart)."""
        table = self.tracks.get(track, {}).get("solvers", {}).get(solver, {})
        return {k: v for k, v in table.items() if k != "grid"}

    def solver_grid(self, track: str, solver: str) -> dict[str, list]:
        """``[<profile>.tracks.<track>.solvers.<solver>.grid]``: config key -> values to sweep (may be empty)."""
        grid = self.tracks.get(track, {}).get("solvers", {}).get(solver, {}).get("grid", {})
        where = f"profile {self.name}.tracks.{track}.solvers.{solver}.grid"
        if not isinstance(grid, dict):
            raise TiltbenchError(f"bad config value {where} = {grid!r}: expected a table of key = [values]")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise TiltbenchError(f"bad config value {where}.{key} = {values!r}: expected a non-empty list")
            if len(set(map(repr, values))) != len(values):
                raise TiltbenchError(f"bad config value {where}.{key} = {values!r}: values repeat")
        return {k: list(v) for k, v in grid.items()}


def profiles_file() -> Path:
    return Path(os.environ.get("TILTBENCH_PROFILES", DEFAULT_FILE))


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise TiltbenchError(f"profiles file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise TiltbenchError(f"profiles file {path} is not valid TOML: {exc}") from None


def load_profiles(path: Path | None = None) -> dict[str, Profile]:
    path = Path(path) if path else profiles_file()
    raw = _read(path)
    out = {}
    for name, body in raw.items():
        if not isinstance(body, dict):
            continue  # top-level scalars such as `published`
        values = {}
        for key, (example, minimum) in _BUDGET_KEYS.items():
            if key not in body:
                raise TiltbenchError(f"profile {name!r} in {path} lacks {key!r}")
            value = check_type(f"profile {name}.{key}", body[key], example)
            if value < minimum:
                raise TiltbenchError(f"bad config value profile {name}.{key} = {value!r}: must be >= {minimum}")
            values[key] = value
        tracks = body.get("tracks", {})
        for track, cfg in tracks.items():
            tasks, reps = cfg.get("tasks"), cfg.get("reps")
            if not (isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks)):
                raise TiltbenchError(f"bad config value profile {name}.tracks.{track}.tasks = {tasks!r}: "
                                     "expected a non-empty list of task names")
            if not (isinstance(reps, int) and reps >= 1):
                raise TiltbenchError(f"bad config value profile {name}.tracks.{track}.reps = {reps!r}: "
                                     "expected an integer >= 1")
            chosen = cfg.get("methods", [])
            if not (isinstance(chosen, list) and all(isinstance(m, str) for m in chosen)):
                raise TiltbenchError(f"bad config value profile {name}.tracks.{track}.methods = {chosen!r}: "
                                     "expected a list of solver names")
        out[name] = Profile(name, body.get("description", ""), tracks=tracks,
                            solver_defaults=str(body.get("solver_defaults", "")), **values)
    return out


def get_profile(name: str, path: Path | None = None) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise unknown("profile", name, profiles)
    return profiles[name]


def published_profile(path: Path | None = None) -> str:
    return _read(Path(path) if path else profiles_file()).get("published", "cpu")
