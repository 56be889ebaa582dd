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
# optional keys: key -> (default, minimum)
_OPTIONAL_KEYS = {"cells_per_gpu": (1, 1)}


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
    cells_per_gpu: int = 1  # cells sharing one GPU at a time (gpus > 0 only)
    solver_defaults: str = ""  # whose registered solver defaults to use; empty = this profile's name

    @property
    def device(self) -> str:
        """Where this profile's cells compute: "cuda" when it has GPUs, else "cpu"."""
        return "cuda" if self.gpus > 0 else "cpu"

    @property
    def defaults_name(self) -> str:
        return self.solver_defaults or self.name

    def track_config(self, track: str) -> dict:
        """Budgets of ``track`` (tasks, reps, ...) without the per-solver overrides."""
        if track not in self.tracks:
            raise TiltbenchError(f"profile {self.name!r} has no settings for track {track!r}; "
                                 f"it covers: {', '.join(sorted(self.tracks)) or '(nothing)'}")
        return {k: v for k, v in self.tracks[track].items() if k != "solvers"}

    def task_overrides(self, track: str, task: str) -> dict:
        """``[<profile>.tracks.<track>.task_overrides."<task>"]``: the track values this task's cells run
        with instead of the track's (e.g. a longer budget where an agent needs one); may be empty."""
        return dict(self.tracks.get(track, {}).get("task_overrides", {}).get(task, {}))

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


MAX_REPS = 1000  # seeds per cell; more is a typo, and planning 10^9 cells would exhaust memory
MAX_WORKERS = 1024
_PROFILE_KEYS = {"description": "a string", "solver_defaults": "a profile name (string)",
                 "tracks": "a table of track sections", **{k: "" for k in (*_BUDGET_KEYS, *_OPTIONAL_KEYS)}}
_TRACK_SELECTION = {"tasks": "a non-empty list of task names", "reps": f"an integer from 1 to {MAX_REPS}",
                    "methods": "a list of solver names", "solvers": "a table of per-solver tables",
                    "report_with": "a list of profile names whose results for this track the report appends",
                    "task_overrides": "a table of per-task tables of track values"}


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise TiltbenchError(f"profiles file {path} does not exist") from None
    except IsADirectoryError:
        raise TiltbenchError(f"profiles file {path} is a folder; TILTBENCH_PROFILES must name a TOML file "
                             f"such as {DEFAULT_FILE}") from None
    except OSError as exc:
        raise TiltbenchError(f"profiles file {path} cannot be read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TiltbenchError(f"profiles file {path} is not valid TOML: {exc}") from None


def _type_name(value) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)


def _bad(where: str, value, expected: str, path: Path) -> TiltbenchError:
    shown = value if not isinstance(value, dict) else "{...}"
    return TiltbenchError(f"bad config value {where} = {shown!r} ({_type_name(value)}): expected {expected} "
                          f"(in {path})")


def _reference_types(raw_files: list[tuple[Path, dict]]) -> dict[tuple[str, str], dict[str, list]]:
    """(track, key) -> {type name: [(profile, file), ...]} over every profile of the given files: a track
    key's type is known from the profiles that use it (e.g. n = 2000 makes n an integer)."""
    seen: dict[tuple[str, str], dict[str, list]] = {}
    for path, raw in raw_files:
        for name, body in raw.items():
            tracks = body.get("tracks") if isinstance(body, dict) else None
            if not isinstance(tracks, dict):
                continue
            for track, cfg in tracks.items():
                if not isinstance(cfg, dict):
                    continue
                for key, value in cfg.items():
                    if key not in _TRACK_SELECTION:
                        seen.setdefault((track, key), {}).setdefault(_type_name(value), []).append((name, path))
    return seen


def _check_track_key(where: str, value, seen: dict[str, list], profile: str, path: Path) -> None:
    types = {t: [f"profile {n} in {p}" for n, p in uses if (n, p) != (profile, path)] for t, uses in seen.items()}
    types = {t: uses[0] for t, uses in types.items() if uses}  # what the other profiles use
    if not types or _type_name(value) in types:
        return
    if _type_name(value) == "integer" and "float" in types:
        return  # an integer where a float is meant is fine
    expected, source = next(iter(sorted(types.items())))
    raise _bad(where, value, f"{'an' if expected[0] in 'aeiou' else 'a'} {expected}, as in {source}", path)


def _validate(name: str, body: dict, path: Path, reference) -> dict:
    for key in body:
        if key not in _PROFILE_KEYS:
            raise TiltbenchError(f"unknown key {key!r} in profile {name!r} in {path}; valid: "
                                 f"{', '.join(sorted(_PROFILE_KEYS))}")
    values = {}
    for key, (example, minimum) in _BUDGET_KEYS.items():
        if key not in body:
            raise TiltbenchError(f"profile {name!r} in {path} lacks {key!r}")
        try:
            value = check_type(f"profile {name}.{key}", body[key], example)
        except TiltbenchError:
            raise _bad(f"profile {name}.{key}", body[key], f"{_type_name(example)} like {example!r}", path) from None
        if value < minimum:
            raise TiltbenchError(f"bad config value profile {name}.{key} = {value!r}: must be >= {minimum} (in {path})")
        values[key] = value
    for key, (default, minimum) in _OPTIONAL_KEYS.items():
        value = body.get(key, default)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
            raise _bad(f"profile {name}.{key}", value, f"an integer >= {minimum}", path)
        values[key] = value
    if values["gpus"] > 0 and values["memory_limit_gb"] > 0:
        raise TiltbenchError(f"bad config value profile {name}.memory_limit_gb = {values['memory_limit_gb']!r}: "
                             f"must be 0 when gpus > 0 (the address-space cap it sets breaks CUDA's "
                             f"initialisation) (in {path})")
    if values["workers"] > MAX_WORKERS:
        raise TiltbenchError(f"bad config value profile {name}.workers = {values['workers']}: "
                             f"must be <= {MAX_WORKERS} (in {path})")
    for key in ("description", "solver_defaults"):
        if key in body and not isinstance(body[key], str):
            raise _bad(f"profile {name}.{key}", body[key], "a string", path)
    tracks = body.get("tracks", {})
    if not isinstance(tracks, dict):
        raise _bad(f"profile {name}.tracks", tracks, "a table of track sections, e.g. [" + name + ".tracks.ot]", path)
    for track, cfg in tracks.items():
        where = f"profile {name}.tracks.{track}"
        if not isinstance(cfg, dict):
            raise _bad(where, cfg, f"a table with tasks and reps, e.g. [{name}.tracks.{track}]", path)
        tasks, reps = cfg.get("tasks"), cfg.get("reps")
        if not (isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks)):
            raise _bad(f"{where}.tasks", tasks, _TRACK_SELECTION["tasks"], path)
        if not (isinstance(reps, int) and not isinstance(reps, bool) and 1 <= reps <= MAX_REPS):
            raise _bad(f"{where}.reps", reps, _TRACK_SELECTION["reps"], path)
        chosen = cfg.get("methods", [])
        if not (isinstance(chosen, list) and all(isinstance(m, str) for m in chosen)):
            raise _bad(f"{where}.methods", chosen, _TRACK_SELECTION["methods"], path)
        companions = cfg.get("report_with", [])
        if not (isinstance(companions, list) and all(isinstance(c, str) and c != name for c in companions)):
            raise _bad(f"{where}.report_with", companions, _TRACK_SELECTION["report_with"] + " (not itself)", path)
        solvers = cfg.get("solvers", {})
        if not isinstance(solvers, dict):
            raise _bad(f"{where}.solvers", solvers, f"a table of per-solver tables, e.g. "
                       f"[{name}.tracks.{track}.solvers.SOLVER]", path)
        for solver, overrides in solvers.items():
            if not isinstance(overrides, dict):
                raise _bad(f"{where}.solvers.{solver}", overrides, f"a table of config values, e.g. "
                           f"[{name}.tracks.{track}.solvers.{solver}]", path)
        for key, value in cfg.items():
            if key not in _TRACK_SELECTION:
                if isinstance(value, dict):
                    raise _bad(f"{where}.{key}", value, "a value (number, string, boolean or list)", path)
                _check_track_key(f"{where}.{key}", value, reference.get((track, key), {}), name, path)
        _check_task_overrides(f"{name}.tracks.{track}", cfg, path)
    return values


def _check_task_overrides(section: str, cfg: dict, path: Path) -> None:
    """Each override names one of the track's tasks and changes a value the track section sets, with a
    value of the same type: a misspelt task or key would otherwise silently change nothing."""
    table = cfg.get("task_overrides", {})
    where = f"profile {section}.task_overrides"
    if not isinstance(table, dict):
        raise _bad(where, table, f'{_TRACK_SELECTION["task_overrides"]}, e.g. [{section}.task_overrides."TASK"]', path)
    values = sorted(k for k in cfg if k not in _TRACK_SELECTION)
    for task, overrides in table.items():
        if task not in cfg["tasks"]:
            raise TiltbenchError(f"bad config value {where}: unknown task {task!r} (in {path}); valid: "
                                 f"{', '.join(cfg['tasks'])} (the section's tasks)")
        if not isinstance(overrides, dict):
            raise _bad(f"{where}.{task}", overrides, "a table of track values", path)
        for key, value in overrides.items():
            if key not in values:
                raise TiltbenchError(f"bad config value {where}.{task}: unknown key {key!r} (in {path}); valid: "
                                     f"{', '.join(values) or '(none: the section sets no track values)'}")
            if isinstance(value, dict) or _type_name(value) != _type_name(cfg[key]) and not (
                    _type_name(value) == "integer" and _type_name(cfg[key]) == "float"):
                raise _bad(f"{where}.{task}.{key}", value,
                           f"{'an' if _type_name(cfg[key])[0] in 'aeiou' else 'a'} {_type_name(cfg[key])}, "
                           f"like the section's {key} = {cfg[key]!r}", path)


def load_profiles(path: Path | None = None) -> dict[str, Profile]:
    path = Path(path) if path else profiles_file()
    raw = _read(path)
    files = [(path, raw)]
    if path.resolve() != DEFAULT_FILE.resolve():
        try:
            files.append((DEFAULT_FILE, _read(DEFAULT_FILE)))
        except TiltbenchError:
            pass
    reference = _reference_types(files)
    out = {}
    for name, body in raw.items():
        if not isinstance(body, dict):
            if name == "published":
                if not isinstance(body, str):
                    raise _bad("published", body, "a profile name (string)", path)
                continue
            raise TiltbenchError(f"unknown top-level key {name!r} = {body!r} in {path}: a profile is a table "
                                 f"([{name}]); the only top-level value is `published`")
        values = _validate(name, body, path, reference)
        for track, cfg in body.get("tracks", {}).items():
            for other in cfg.get("report_with", []):
                if other not in raw or not isinstance(raw[other], dict):
                    raise TiltbenchError(f"bad config value profile {name}.tracks.{track}.report_with: unknown "
                                         f"profile {other!r} (in {path}); valid: "
                                         f"{', '.join(sorted(k for k, v in raw.items() if isinstance(v, dict)))}")
        out[name] = Profile(name, body.get("description", ""), tracks=body.get("tracks", {}),
                            solver_defaults=str(body.get("solver_defaults", "")), **values)
    return out


def get_profile(name: str, path: Path | None = None) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise unknown("profile", name, profiles)
    return profiles[name]


def published_profile(path: Path | None = None) -> str:
    return _read(Path(path) if path else profiles_file()).get("published", "cpu")


def find_profile(profile: str):
    """(the Profile, the file that defines it): the user's file (TILTBENCH_PROFILES) first, else the
    packaged one; (None, None) for an unknown profile."""
    for path in (profiles_file(), DEFAULT_FILE):
        known = load_profiles(path).get(profile)
        if known:
            return known, path
    return None, None


def profile_tasks(profile: str) -> dict[str, set[str]] | None:
    """{track: the tasks the profile runs now}, or None for a profile no profile file defines.  A
    board whose profile dropped a task keeps that task's old rows in the store; reports and verdicts
    leave them out."""
    known, _ = find_profile(profile)
    if known is None:
        return None
    return {track: set(cfg.get("tasks", [])) for track, cfg in known.tracks.items()}


def profile_methods(profile: str) -> dict[str, set[str] | None]:
    """{track: the solvers the profile runs}, None for a track that runs them all (no ``methods``
    list) or a profile no profile file defines."""
    known, _ = find_profile(profile)
    if known is None:
        return {}
    return {track: set(cfg["methods"]) if cfg.get("methods") else None for track, cfg in known.tracks.items()}


def profile_grids(profile: str) -> dict[str, set[str]] | None:
    """{track: the grid-point labels the profile runs now, e.g. ``dpo[beta=0.1]``}, or None for a profile no
    profile file defines.  Rows of grid points a profile has since dropped stay out of its report."""
    from . import tuning

    known, _ = find_profile(profile)
    if known is None:
        return None
    return {track: {tuning.label(solver, point) for solver in cfg.get("solvers", {})
                    for point in tuning.grid_points(known.solver_grid(track, solver))}
            for track, cfg in known.tracks.items()}
