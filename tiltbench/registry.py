"""Registry of tracks (objective + datasets) and solvers (methods, baselines, reference rows).

A track plays the role of benchopt's objective and dataset: it turns a task name into task data
and scores a solver's output.  A solver is a plain function ``fn(task, config, seed) -> output``.

Plugins register themselves on import; ``load_plugins`` imports every module named in the
``tiltbench.plugins`` entry-point group, so the core never imports a track by name.

Registration is metadata only: a track's ``make_task``/``evaluate`` and a solver's function may be
given as "module:function" strings (a ``LazyFunction``), imported on their first call, so listing
the registry or rejecting a bad name never imports torch, POT, transformers or diffusers.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import TiltbenchError, unknown

ROLES = ("method", "baseline", "reference")
PLUGIN_GROUP = "tiltbench.plugins"


class LazyFunction:
    """A function named by "module:function", imported on its first call.

    ``__module__`` and ``__name__`` are known without importing anything (the code version and
    ``tiltbench list`` need no more); ``doc()`` reads the docstring from the module's source file."""

    def __init__(self, target: str):
        module, _, name = target.partition(":")
        if not name.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
            raise ValueError(f"bad function reference {target!r}: expected 'package.module:function'")
        self.__module__, self.__name__, self.target = module, name, target
        self._fn = None

    def resolve(self) -> Callable:
        """Import the module (once) and return the function itself."""
        if self._fn is None:
            self._fn = getattr(importlib.import_module(self.__module__), self.__name__)
        return self._fn

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def doc(self) -> str | None:
        """The function's docstring, parsed from its source file without importing it."""
        if self._fn is not None:
            return self._fn.__doc__
        spec = importlib.util.find_spec(self.__module__)
        if spec is None or not spec.origin:
            return None
        with open(spec.origin, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == self.__name__:
                return ast.get_docstring(node)
        return None

    def __repr__(self) -> str:
        return f"LazyFunction({self.target!r})"


def _function(fn: Callable | str) -> Callable:
    return LazyFunction(fn) if isinstance(fn, str) else fn


@dataclass(frozen=True)
class Metric:
    """A metric a track reports.

    higher_is_better: True, False, or None for a diagnostic with no better direction (for example
    a quantity that should be close to 1).  kind: 'quality' (deterministic given the seed), 'cost'
    (timings a solver measures itself; excluded from bit-identity checks in `reproduce`) or 'check'
    (a check of the harness itself, such as backend parity: kept out of the leaderboard table; a
    track's report section shows it)."""

    name: str
    unit: str
    higher_is_better: bool | None
    description: str = ""
    kind: str = "quality"

    @property
    def direction(self) -> str:
        return {True: "higher is better", False: "lower is better", None: "diagnostic"}[self.higher_is_better]


@dataclass
class Track:
    """A benchmark track.

    make_task(task_name, track_config, seed) -> task data (raises ValueError on a bad name)
    evaluate(task, output) -> {metric name: float}
        Either may be a "module:function" string: imported on its first call.
    pairs: for each method, the baselines it is compared with in the report.
    report_extras: optional "module:function" drawing track-specific report sections;
        ``function(data, plot_dir, prefix) -> markdown lines``, imported only when rendering.
    validation: how the track's validation split differs from its test split, when it has one.
        The core draws a validation cell's task instance and seeds from their own streams; a track
        says here what that changes (e.g. "another random Gaussian pair").  Empty: no validation
        split, so a profile cannot give its solvers grids (tuning on the test split would inflate
        the reported scores).
    selection: the metric a grid's tuning maximises or minimises (default: the primary metric).
    split_param: optional name of a keyword argument of ``make_task`` that receives the cell's split
        ("test" or "validation"), for a track whose validation split is other data rather than
        another random instance (llm: other held-out prompts).  Empty: ``make_task`` is not told;
        only its seed differs between the splits.
    task_regex: optional regular expression every valid task name matches in full.  Metadata: the
        core checks names against it before importing the track, so a typo fails at once;
        ``make_task`` still validates the rest (ranges, known models).
    frontier: optional (quality metric, divergence or cost) pair whose trade-off the report draws
        over each solver's grid points; the second may be a run column (wall_s, cpu_s, peak_mem_mb).
    instance_suffix: optional regex matching the end of a task name that changes how much a solver
        sees but not the problem (ot: ``-n\\d+``, the sample size); the task instance's seed is
        hashed from the name without it, so tasks that differ only there share one instance.
    preload: optional names of the third-party modules its cells import lazily (diffusers' UNets,
        transformers, ...).  The local executor's forkserver imports them once per sweep, so a cell
        neither pays for them nor counts them in its wall_s; a name that cannot be imported is skipped
        there (the cell then imports what it needs, or fails with the reason).
    """

    name: str
    description: str
    task_pattern: str
    metrics: list[Metric]
    primary: str
    make_task: Callable[[str, dict, int], Any]
    evaluate: Callable[[Any, dict], dict]
    pairs: dict[str, list[str]] = field(default_factory=dict)
    report_extras: str = ""
    validation: str = ""
    selection: str = ""
    split_param: str = ""
    frontier: tuple[str, str] | tuple = ()
    task_regex: str = ""
    instance_suffix: str = ""
    preload: tuple[str, ...] = ()

    def instance_name(self, task: str) -> str:
        """The part of a task name that picks the problem instance (``task`` without ``instance_suffix``)."""
        return re.sub(f"(?:{self.instance_suffix})$", "", task) if self.instance_suffix else task

    def __post_init__(self):
        self.make_task, self.evaluate = _function(self.make_task), _function(self.evaluate)

    def check_task_name(self, task: str) -> None:
        """Raise ValueError when ``task`` cannot be one of this track's tasks (by ``task_regex``)."""
        if self.task_regex and not re.fullmatch(self.task_regex, task):
            raise ValueError(f"task names look like {self.task_pattern}")

    def selection_metric(self) -> Metric:
        """The metric a grid is tuned on unless a solver names its own: ``selection``, else the primary."""
        return self.metric(self.selection or self.primary)

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise unknown("metric", name, [m.name for m in self.metrics], f"of track {self.name!r}")


@dataclass
class Solver:
    name: str
    track: str
    role: str
    fn: Callable[[Any, dict, int], dict]
    citation: str
    defaults: dict[str, dict]  # profile name -> config
    summary: str = ""  # the registration's description, if it gave one (else the docstring's: ``description``)
    depends: tuple[str, ...] = ()  # further modules whose code decides its results (hashed too)
    tunable: tuple[str, ...] = ()  # config keys a fair comparison tunes (hyperparameters, not budgets)
    selection: str = ""  # the metric its grid is tuned on, when not the track's (see register_solver)

    @property
    def description(self) -> str:
        """The registration's description, else the first paragraph of the solver's docstring (read on
        first use: parsing every solver's source at registration slowed every command)."""
        if not self.summary:
            text = self.fn.doc() if isinstance(self.fn, LazyFunction) else self.fn.__doc__
            self.summary = " ".join((text or "").strip().split("\n\n")[0].split())
        return self.summary

    @property
    def module(self) -> str:
        return self.fn.__module__

    @property
    def modules(self) -> tuple[str, ...]:
        """Every module whose code is part of this solver's code version."""
        return (self.module, *self.depends)

    def selection_metric(self, track: "Track") -> "Metric":
        """The metric this solver's grid points are selected on: its own ``selection``, else the track's."""
        return track.metric(self.selection) if self.selection else track.selection_metric()

    def code_modules(self, track: "Track") -> tuple[str, ...]:
        """The modules a cell of this solver on ``track`` runs: its own, the ones it depends on, and
        the track's task and scoring modules (hashed into the cell's code version, and preloaded)."""
        return (*self.modules, track.make_task.__module__, track.evaluate.__module__)


_TRACKS: dict[str, Track] = {}
_SOLVERS: dict[tuple[str, str], Solver] = {}
_loaded = False


def register_track(track: Track) -> Track:
    if track.primary not in {m.name for m in track.metrics}:
        raise ValueError(f"track {track.name}: primary metric {track.primary!r} is not among its metrics")
    if track.metric(track.primary).higher_is_better is None:
        raise ValueError(f"track {track.name}: the primary metric needs a direction (higher_is_better)")
    _check_protocol(track)
    _TRACKS[track.name] = track
    return track


def _check_protocol(track: Track) -> None:
    if track.split_param and not track.validation:
        raise ValueError(f"track {track.name}: split_param {track.split_param!r} without a validation split "
                         "(Track.validation says what the validation split is)")
    if track.selection and track.metric(track.selection).higher_is_better is None:
        raise ValueError(f"track {track.name}: the selection metric {track.selection!r} needs a direction")
    if isinstance(track.preload, str) or not all(isinstance(m, str) and m for m in track.preload):
        raise ValueError(f"track {track.name}: preload must be a tuple of module names, got {track.preload!r}")
    if track.frontier:
        quality, cost = track.frontier
        if track.metric(quality).higher_is_better is None:
            raise ValueError(f"track {track.name}: the frontier's quality metric {quality!r} needs a direction")
        if cost not in ("wall_s", "cpu_s", "peak_mem_mb"):
            track.metric(cost)  # unknown -> clear error


def register_solver(track: str, name: str, role: str, citation: str, defaults: dict[str, dict],
                    description: str = "", depends: tuple[str, ...] = (), fn: str | None = None,
                    tunable: tuple[str, ...] = (), selection: str = ""):
    """Register ``fn(task, config, seed) -> output`` as a solver of ``track``.

    fn: "module:function", imported on the solver's first call; this is how the packaged tracks
    register (``benchmarks/<track>/manifest.py``), so that registering imports no heavy library.
    Without ``fn`` this is a decorator, which registers the function it decorates.
    description: defaults to the first paragraph of the function's docstring, on one line.
    depends: modules besides the solver's own whose code shapes its results (a shared training
    loop, say); they enter the cell's code version, so changing them invalidates stored cells.
    tunable: the config keys that are hyperparameters a fair comparison tunes on the solver's own scale
    (not budgets or convergence controls).  A claim's verdict *against* a tunable solver needs it tuned
    (a grid in the profile), else it is not judged (tiltbench/claims.py).
    selection: the metric this solver's grid is tuned on, when it must not be the track's (a method that
    never sees the track's score: TdRL tunes on its own tests' pass rate, not on the handcrafted return)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} for solver {name!r}; valid: {', '.join(ROLES)}")
    known = set().union(*defaults.values()) if defaults else set()
    if bad := [k for k in tunable if k not in known]:
        raise ValueError(f"solver {name!r}: tunable key(s) {', '.join(map(repr, bad))} are not config keys; "
                         f"valid: {', '.join(sorted(known)) or '(none)'}")

    def wrap(fn):
        _SOLVERS[(track, name)] = Solver(name, track, role, fn, citation, defaults, description, tuple(depends),
                                         tuple(tunable), selection)
        return fn

    if fn is not None:
        wrap(LazyFunction(fn))
        return None
    return wrap


def load_plugins() -> None:
    """Import every plugin module once: the entry points of group ``tiltbench.plugins``, then the
    comma-separated module names in $TILTBENCH_PLUGINS (for plugins that are not packaged)."""
    global _loaded
    if _loaded:
        return
    names = [ep.value.split(":")[0] for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)]
    names += [n.strip() for n in os.environ.get("TILTBENCH_PLUGINS", "").split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise TiltbenchError(f"plugin module {name!r} cannot be imported: {exc}") from None
    _loaded = True


def tracks() -> dict[str, Track]:
    load_plugins()
    return dict(_TRACKS)


def get_track(name: str) -> Track:
    load_plugins()
    if name not in _TRACKS:
        raise unknown("track", name, _TRACKS)
    return _TRACKS[name]


def solvers(track: str | None = None) -> list[Solver]:
    load_plugins()
    order = {r: i for i, r in enumerate(ROLES)}
    found = [s for s in _SOLVERS.values() if track is None or s.track == track]
    return sorted(found, key=lambda s: (s.track, order[s.role], s.name))


def get_solver(track: str, name: str) -> Solver:
    get_track(track)
    if (track, name) not in _SOLVERS:
        raise unknown("method/baseline", name, [s.name for s in solvers(track)], f"of track {track!r}")
    return _SOLVERS[(track, name)]


def solver_config(solver: Solver, profile: str, overrides: dict | None = None) -> dict:
    """The solver's defaults for ``profile`` with ``overrides`` applied and type-checked."""
    if profile not in solver.defaults:
        raise TiltbenchError(f"{solver.track}/{solver.name} has no defaults for profile {profile!r}; "
                             f"valid: {', '.join(sorted(solver.defaults))}")
    config = dict(solver.defaults[profile])
    for key, value in (overrides or {}).items():
        if key not in config:
            raise unknown(f"config key for {solver.track}/{solver.name}", key, config)
        config[key] = check_type(f"{solver.track}/{solver.name}.{key}", value, config[key])
    return config


def check_type(where: str, value, default):
    """Coerce ``value`` to the type of ``default`` (int -> float allowed) or raise a clear error."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise TiltbenchError(f"bad config value {where} = {value!r}: expected {type(default).__name__} "
                             f"like {default!r}")
    return value
