"""The ``tiltbench`` command: run | list | report | claims | query | export | import | reproduce."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from . import registry
from .errors import TiltbenchError, unknown

DEFAULT_STORE = "results/tiltbench.duckdb"

MAIN_HELP = """\
tiltbench pits the methods of four tilted-distribution papers against their baselines,
under fixed seeds and named hardware profiles, and keeps every run in one DuckDB file.

typical session:
  tiltbench list                                  # tracks, tasks, methods, profiles
  tiltbench run --profile smoke                   # every track the profile covers
  tiltbench run --profile cpu --track ot --method scones sinkhorn
  tiltbench report --profile cpu                  # results/<track>.md + plots
  tiltbench claims --profile cpu                  # each paper's claims: supported/contradicted/inconclusive
  tiltbench query "select * from leaderboard where metric = 'bw_uvp'"
  tiltbench reproduce 3f2a9c1d                    # re-run a stored cell, diff its metrics

The store defaults to $TILTBENCH_STORE or ./results/tiltbench.duckdb.
A mistake (bad name, bad profile value, unusable store) is reported in one line with exit
status 2; --debug (or TILTBENCH_DEBUG=1) adds the traceback.
"""


def _store(args):
    from .store import Store

    return Store(args.store)


def _add_store(p):
    p.add_argument("--store", default=os.environ.get("TILTBENCH_STORE", DEFAULT_STORE),
                   help="DuckDB results file (default: $TILTBENCH_STORE or %(default)s)")


def cmd_list(args) -> int:
    from .profiles import get_profile, load_profiles

    if args.profile:
        return _list_profile(get_profile(args.profile), args.track)
    for track in registry.tracks().values():
        if args.track and track.name != args.track:
            continue
        print(f"track {track.name}: {track.description}")
        print(f"  tasks: {track.task_pattern}")
        print(f"  primary metric: {track.primary}")
        for m in track.metrics:
            print(f"  metric {m.name:16s} {m.direction}{', ' + m.unit if m.unit else ''}  {m.description}")
        for s in registry.solvers(track.name):
            print(f"  {s.role:9s} {s.name:12s} {s.description}")
            print(f"  {'':9s} {'':12s} cite: {s.citation}")
        for method, bases in track.pairs.items():
            print(f"  compares {method} with {', '.join(bases)}")
    if args.track:
        registry.get_track(args.track)
    print("profiles:")
    for p in load_profiles().values():
        tracks = ", ".join(f"{t} ({len(c['tasks'])} tasks x {c['reps']} reps)" for t, c in p.tracks.items())
        print(f"  {p.name:6s} {p.description}; {p.workers} worker(s), timeout {p.timeout_s:g} s; {tracks}")
    return 0


def _list_profile(profile, track: str | None) -> int:
    """What `tiltbench run --profile P` would plan: per solver its configuration or grid points."""
    from . import tuning
    from .runner import plan

    if track:
        registry.get_track(track)
    cells = plan(profile, [track] if track else None, build_tasks=False)  # names only: `run` builds them
    print(f"profile {profile.name}: {profile.description}; {len(cells)} cell(s) before tuning")
    for t in sorted({c.track for c in cells}):
        mine = [c for c in cells if c.track == t]
        cfg = profile.track_config(t)
        print(f"track {t}: tasks {', '.join(cfg['tasks'])}; {cfg['reps']} evaluation seed(s)")
        for task, overrides in cfg.get("task_overrides", {}).items():
            print(f"  {task} runs with " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in overrides.items())
                  + " (task_overrides)")
        for solver in sorted({c.solver for c in mine}):
            rows = [c for c in mine if c.solver == solver]
            points = sorted({c.method for c in rows if tuning.is_grid_point(c.method)}, key=tuning.point_order)
            if points:
                reps = len({c.rep for c in rows if c.method == points[0]})
                print(f"  {solver}: grid of {len(points)} point(s) x {reps} tuning seed(s) on the validation "
                      f"split, then the selected point x {cfg['reps']} seed(s) on test")
                for point in points:
                    print(f"    {point}")
            else:
                print(f"  {solver}: {json.dumps(rows[0].config, sort_keys=True)}")
    return 0


def cmd_run(args) -> int:
    from .executors import make_executor
    from .profiles import get_profile
    from .runner import check_tasks, plan, sweep

    from .profiles import MAX_REPS, MAX_WORKERS

    if args.reps is not None and not 1 <= args.reps <= MAX_REPS:
        raise TiltbenchError(f"bad value --reps {args.reps}: must be between 1 and {MAX_REPS}")
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise TiltbenchError(f"bad value --workers {args.workers}: must be between 1 and {MAX_WORKERS}")
    profile = get_profile(args.profile)
    store = _store(args)
    store.check(writable=True)  # an unusable or damaged store stops here, before any work and without a write
    cells = plan(profile, args.track, args.method, args.task, args.reps, store=store, build_tasks=False)
    if not cells:
        missing = sorted(set(profile.tracks) - set(registry.tracks()))
        if missing and not args.track:
            raise unknown(f"track in profile {profile.name!r} (is its plugin installed?)", missing[0], registry.tracks())
        raise TiltbenchError(f"profile {profile.name!r} selects no cells for these filters")
    workers = args.workers or profile.workers
    early = args.executor == "local"  # its forkserver imports the cells' code while this process builds their tasks
    if not early:
        check_tasks(cells)  # a bad value fails here, before anything starts or runs
    executor = make_executor(args.executor, workers, profile.threads_per_worker, address=args.address,
                             gpus=profile.gpus, cells_per_gpu=profile.cells_per_gpu, memory_gb=profile.memory_limit_gb)
    planned = {c.content_key for c in cells}
    try:
        if early:
            if args.force or not planned <= store.ok_keys():
                executor.start(cells)
            check_tasks(cells)
        print(f"{len(cells)} cell(s) in profile {profile.name!r} -> {args.store} "
              f"({executor.name} executor, {executor.workers} worker(s))", file=sys.stderr)
        s = sweep(store, cells, executor, force=args.force, show_progress=not args.no_progress)
        # grids: once a task's tuning cells are stored, the selected point's evaluation cells exist
        tuned = [c for c in plan(profile, args.track, args.method, args.task, args.reps, store=store,
                                 build_tasks=False) if c.content_key not in planned] if not s.interrupted else []
        if tuned:
            check_tasks(tuned)
            print(f"tuning done: {len(tuned)} evaluation cell(s) of the selected grid points", file=sys.stderr)
            s2 = sweep(store, tuned, executor, force=args.force, show_progress=not args.no_progress)
            for name in ("planned", "skipped", "ok", "failed", "by_others", "unsaved"):
                setattr(s, name, getattr(s, name) + getattr(s2, name))
            s.interrupted = s2.interrupted
    finally:  # a forkserver still importing (a bad task, nothing left to run) would outlive this command
        if early:
            executor.stop()
    print(f"planned {s.planned}, already stored {s.skipped}, ok {s.ok}, failed {s.failed}"
          + (f", run by another tiltbench run {s.by_others}" if s.by_others else ""), file=sys.stderr)
    if s.interrupted:
        kept = (f"{s.unsaved} finished cell(s) could not be written yet and are kept in "
                f"{_store(args).spill_path} (the next run or import stores them), " if s.unsaved else
                "finished cells are stored, ")
        print(f"interrupted: {kept}cells in flight were discarded; "
              "run the same command again to finish the rest", file=sys.stderr)
        return 130
    if s.failed:
        print("failed cells are stored with their reason: tiltbench query \"select * from failures\"",
              file=sys.stderr)
    return 1 if (s.failed and args.strict) else 0


def cmd_report(args) -> int:
    from .profiles import get_profile
    from .report import default_out, render_with_notes

    get_profile(args.profile)
    out = Path(args.out) if args.out else default_out(args.profile)
    for track in args.track or []:
        registry.get_track(track)
    store = _store(args)
    if args.profile not in store.profiles():  # never overwrite a published index with an empty one
        raise TiltbenchError(f"no runs of profile {args.profile!r} in {args.store}; nothing rendered "
                             f"(profiles with runs: {', '.join(store.profiles()) or 'none'})")
    written, notes = render_with_notes(store, args.profile, out, args.track)
    for path in written:
        print(path)
    for track, note in notes.items():
        print(f"tiltbench: track {track} not rendered: {note}", file=sys.stderr)
    return 1 if notes else 0


def cmd_query(args) -> int:
    if args.max_rows < 1:
        raise TiltbenchError(f"bad value --max-rows {args.max_rows}: must be >= 1")
    df = _store(args).query(args.sql)
    if args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", indent=1) + "\n")
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", args.max_rows, "display.max_columns", None,
                               "display.width", 200, "display.max_colwidth", 60):
            print(df.to_string(index=False) if len(df) else "(no rows)")
    return 0


def cmd_export(args) -> int:
    store = _store(args)
    if args.profile:
        stored = store.profiles()
        absent = [p for p in args.profile if p not in stored]
        if absent:
            raise TiltbenchError(f"no runs of profile {', '.join(map(repr, absent))} in {store.path}; "
                                 f"profiles with runs: {', '.join(stored) or '(none)'}")
    counts = store.export(args.directory, args.profile, replace=args.replace)
    unreadable = counts.pop("unreadable", [])
    print(f"exported to {args.directory}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if unreadable:
        print(f"tiltbench: error: store {store.path} is damaged: table(s) {', '.join(unreadable)} could not be "
              "read and were exported empty; every other table was exported in full", file=sys.stderr)
        return 1
    return 0


def cmd_import(args) -> int:
    store = _store(args)
    replayed = store.replay_spill()
    if replayed:
        print(f"stored {replayed} finished cell(s) that an earlier run left in {store.spill_path}",
              file=sys.stderr)
    counts = store.import_(args.directory)
    print(f"imported into {args.store}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + " (runs already present were skipped)")
    return 0


def cmd_claims(args) -> int:
    from . import claims
    from .formatting import fmt_est, fmt_p
    from .profiles import get_profile, profile_grids, profile_tasks

    get_profile(args.profile)
    for track in args.track or []:
        registry.get_track(track)
    store = _store(args)
    by_track: dict[str, list] = {}
    for claim in claims.claims():
        if not args.track or claim.track in args.track:
            by_track.setdefault(claim.track, []).append(claim)
    not_judged = 0
    tasks, grids = profile_tasks(args.profile), profile_grids(args.profile)
    with store.reading():  # one connection for every family's reads
        # one Holm family per track, over the tasks the profile runs now (as in its report)
        judged = {track: claims.judge_family(store, args.profile, family, tasks, grids)
                  for track, family in by_track.items()}
    for track, family in by_track.items():
        judgements = judged[track]
        for claim in family:
            print(f"[{track}] {claim.id}: {claims.describe(claim)}")
            print(f"    {claim.statement}")
            for gate in claim.gates:
                print(f"    gate: {claims.describe_gate(claim, gate)}")
            mine = [j for j in judgements if j.claim.id == claim.id]
            if not mine:
                print("    not run under this profile")
            for j in mine:
                not_judged += j.verdict == "not judged"
                print(f"    {j.task:24s} {j.verdict:13s} {fmt_est(j.effect)}  p(Holm) {fmt_p(j.p_adj)}  "
                      f"({j.n_seeds} seeds){'  ' + j.reason if j.reason else ''}"
                      f"{'  (gate not met, withholds only support: ' + j.note + ')' if j.note else ''}")
    if args.strict and not_judged:
        print(f"{not_judged} judgement(s) not judged: a gate failed (--strict)", file=sys.stderr)
        return 1
    return 0


def cmd_reproduce(args) -> int:
    from .reproduce import reproduce

    return reproduce(_store(args), args.run_id)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="tiltbench", description=MAIN_HELP, formatter_class=fmt)
    parser.add_argument("--debug", action="store_true", default=bool(os.environ.get("TILTBENCH_DEBUG")),
                        help="print the full traceback of an error (also: TILTBENCH_DEBUG=1)")
    common = argparse.ArgumentParser(add_help=False)  # so --debug also works after the command
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    class _Sub:
        def add_parser(self, *a, **kw):
            return subparsers.add_parser(*a, parents=[common], **kw)

    sub = _Sub()

    p = sub.add_parser("list", help="print tracks, tasks, metrics, methods, baselines and profiles", formatter_class=fmt,
                       description="Print the registry: what can be run, and under which profiles.\n\n"
                       "examples:\n  tiltbench list --track ot\n"
                       "  tiltbench list --profile cpu --track ot      # the cells and grid points a sweep plans")
    p.add_argument("--track", help="only this track")
    p.add_argument("--profile", help="instead: the cells this profile plans, per track and solver, with every "
                                     "grid point (e.g. --profile smoke)")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("run", help="run a profile's sweep (skips cells already stored)", formatter_class=fmt,
                       description="Expand track x task x method x seed for a profile and run each cell in its\n"
                       "own process.  Cells already stored under the same content key (config, code\n"
                       "version, seed, profile) are skipped, so an interrupted sweep is finished by\n"
                       "running the same command again.  Crashes, timeouts and NaNs are stored as\n"
                       "failed cells with their reason; the sweep goes on.",
                       epilog="examples:\n  tiltbench run --profile smoke\n"
                       "  tiltbench run --profile gpu --executor ray --address auto   # on a Ray cluster's head node\n"
                       "  tiltbench run --profile cpu --track ot --task gaussian-d16-lam4 --method scones\n"
                       "  tiltbench run --profile cpu --force --reps 1")
    p.add_argument("--profile", default="smoke", help="hardware profile (default: %(default)s; see `tiltbench list`)")
    p.add_argument("--track", nargs="+", help="only these tracks")
    p.add_argument("--method", nargs="+", help="only these methods/baselines/reference rows")
    p.add_argument("--task", nargs="+", help="only these tasks (any valid name of the track's task family)")
    p.add_argument("--reps", type=int, help="override the profile's number of seeds (1 to 1000)")
    p.add_argument("--force", action="store_true", help="re-run cells even if already stored")
    p.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="local process pool, or Ray (default: %(default)s)")
    p.add_argument("--address", help="Ray cluster address, e.g. ray://head:10001 or auto (default: a local Ray)")
    p.add_argument("--workers", type=int, help="cells at once, 1 to 1024 (default: the profile's)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any cell failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per cell only)")
    _add_store(p)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("report", help="render markdown leaderboards and plots", formatter_class=fmt,
                       description="Render <out>/<track>.md (+ plots in <out>/<track>/) and <out>/index.md\n"
                       "from the stored runs of one profile.  The published profile (see profiles.toml)\n"
                       "renders into results/, any other into results/<profile>/.\n\n"
                       "examples:\n  tiltbench report --profile smoke              # results/smoke/*.md\n"
                       "  tiltbench report --profile cpu --track ot --out /tmp/ot-report")
    p.add_argument("--profile", default="smoke", help="profile whose runs to report (default: %(default)s)")
    p.add_argument("--track", nargs="+", help="only these tracks")
    p.add_argument("--out", help="output folder (default: see above)")
    _add_store(p)
    p.set_defaults(fn=cmd_report)

    p = sub.add_parser("query", help="run one read-only SQL statement on the store", formatter_class=fmt,
                       description="Run one query over a read-only connection.  Tables: runs, metrics,\n"
                       "curves, environments, claims, schema_version.  Views: latest_runs (newest ok run of each\n"
                       "task/method/rep, among the runs of the newest code version), leaderboard (n_seeds, mean, std, min, max per profile/track/task/method/\n"
                       "metric), failures (failed cells never since run ok).\n\n"
                       "Only SELECT/WITH/FROM/VALUES/DESCRIBE/SHOW/SUMMARIZE, or an EXPLAIN (without ANALYZE)\n"
                       "of one, is run; anything else is refused before it runs.  The connection cannot reach\n"
                       "files, the network or extensions (read_csv, COPY, INSTALL ... fail).",
                       epilog="examples:\n  tiltbench query \"select * from leaderboard where metric = 'bw_uvp'\"\n"
                       "  tiltbench query \"select method, avg(wall_s) from latest_runs group by all\" --format csv\n"
                       "  tiltbench query \"select * from claims\"          # cells running sweeps hold right now")
    p.add_argument("sql")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--max-rows", type=int, default=200, help="rows shown in table format (>= 1)")
    _add_store(p)
    p.set_defaults(fn=cmd_query)

    p = sub.add_parser("export", help="write the store's runs to parquet files (to merge elsewhere)",
                       description="Write runs, metrics, curves, environments and the schema version as\n"
                       "<directory>/*.parquet; `tiltbench import` merges them into another store.\n"
                       "On a damaged store it copies out every table it can still read. An earlier export in\n"
                       "the folder is replaced, but never silently shrunk: if it holds runs this export would\n"
                       "not write again (another profile's, say), nothing is written unless --replace.",
                       epilog="examples:\n  tiltbench export /tmp/gpu-runs --profile gpu\n"
                       "  tiltbench export /tmp/rescue --store damaged.duckdb && tiltbench import /tmp/rescue "
                       "--store new.duckdb",
                       formatter_class=fmt)
    p.add_argument("directory")
    p.add_argument("--profile", nargs="+", help="only runs of these profiles")
    p.add_argument("--replace", action="store_true",
                   help="overwrite an earlier export in the folder even if it holds runs this one drops "
                        "(without it, that is refused and nothing is written)")
    _add_store(p)
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("import", help="merge a parquet export into the store", formatter_class=fmt,
                       description="Merge an export; runs already present (same run_id) are skipped.\n"
                       "Finished cells a sweep left in <store>.pending.jsonl (the store was locked) are\n"
                       "stored first.",
                       epilog="examples:\n  tiltbench import results/runs --store /tmp/s.duckdb\n"
                       "  tiltbench import /tmp/gpu-runs")
    p.add_argument("directory")
    _add_store(p)
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("claims", help="judge each paper's claims from the stored runs", formatter_class=fmt,
                       description="Judge every registered claim per task from the paired seeds: a paired t-test\n"
                       "(less/greater), a one-sided non-inferiority test (noworse) or a TOST equivalence\n"
                       "test (within), Holm-corrected over each\n"
                       "track's claims; supported / contradicted when the adjusted p < 0.05, else\n"
                       "inconclusive (always so with fewer than 3 seeds).  A claim whose gate fails\n"
                       "(comparator not competent, operating points not matched, ...) is 'not judged'.\n\n"
                       "example:\n  tiltbench claims --profile cpu --track ot --strict")
    p.add_argument("--profile", default="smoke", help="profile whose runs to judge (default: %(default)s)")
    p.add_argument("--track", nargs="+", help="only these tracks")
    p.add_argument("--strict", action="store_true", help="exit 1 if any claim is not judged (a gate failed)")
    _add_store(p)
    p.set_defaults(fn=cmd_claims)

    p = sub.add_parser("reproduce", help="re-run a stored cell and print the metric differences",
                       description="Re-run one stored cell (same config, seed and task) in a fresh worker\n"
                       "process and compare its quality metrics with the stored ones.  On CPU the\n"
                       "expected result is bit-identical; timings are not compared.\n\n"
                       "example:\n  tiltbench query \"select run_id, task, method, rep from runs limit 5\"\n"
                       "  tiltbench reproduce 3f2a9c1d                 # a run_id prefix from that list",
                       formatter_class=fmt)
    p.add_argument("run_id", help="a run_id from the runs table (a unique prefix is enough)")
    _add_store(p)
    p.set_defaults(fn=cmd_reproduce)
    return parser


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt  # same clean path as Ctrl-C: kill cells in flight, keep what is stored


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        return args.fn(args)
    except TiltbenchError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"tiltbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tiltbench list | head`: the reader left; stop quietly like other commands
        try:
            sys.stdout = open(os.devnull, "w")  # no second error while Python flushes stdout at exit
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print("tiltbench: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system said no: name the file, not the line of code
        if args.debug:
            traceback.print_exc()
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"tiltbench: error: {exc.strerror or exc}{where}; rerun with --debug for the traceback",
              file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line, the traceback on request
        if args.debug:
            raise
        text = str(exc).splitlines()[0] if str(exc) else ""
        print(f"tiltbench: internal error: {type(exc).__name__}: {text}; rerun with --debug for the traceback",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
