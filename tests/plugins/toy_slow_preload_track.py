"""A toy track whose forkserver preload takes seconds (tiltbench_slow_on_import), and whose only task is "c"."""

from tiltbench.registry import Metric, Track, register_solver, register_track


def make_task(name, config, seed):
    if name != "c":
        raise ValueError("the only task is c")
    return 0.0


def evaluate(task, output):
    return {"value": output["value"]}


register_track(Track(name="toys", description="slow preload", task_pattern="c", metrics=[Metric("value", "", True)],
                     primary="value", make_task=make_task, evaluate=evaluate, preload=("tiltbench_slow_on_import",)))


@register_solver("toys", "probe", "method", citation="-", defaults={"toy": {}})
def probe(task, config, seed):
    """Returns 1."""
    return {"value": 1.0}
