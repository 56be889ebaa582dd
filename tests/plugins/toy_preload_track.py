"""Two toy tracks that differ only in ``Track.preload``: their solver reports whether a module that
nothing else imports was already imported when the cell started (by the executor's forkserver)."""

import sys

from tiltbench.registry import Metric, Track, register_solver, register_track

PROBE = "tabnanny"  # a standard-library module no other code here imports


def make_task(name, config, seed):
    return 0.0


def evaluate(task, output):
    return {"value": output["value"]}


# besides the probe: a module that is not installed, and one whose import raises (neither may stop the sweep)
for name, preload in (("toyp", ("tiltbench_absent_optional_package", "tiltbench_broken_on_import", PROBE)),
                      ("toyq", ())):
    register_track(Track(name=name, description="preload probe", task_pattern="c", metrics=[Metric("value", "", True)],
                         primary="value", make_task=make_task, evaluate=evaluate, preload=preload))

    @register_solver(name, "probe", "method", citation="-", defaults={"toy": {}})
    def probe(task, config, seed):
        """1 when the probe module was imported before the cell ran, else 0."""
        return {"value": float(PROBE in sys.modules)}
