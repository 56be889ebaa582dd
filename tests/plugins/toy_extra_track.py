"""A toy track whose report section needs an optional package that is not installed."""

from tiltbench.registry import Metric, Track, register_solver, register_track


def make_task(name, config, seed):
    return 1.0


def evaluate(task, output):
    return {"value": output["value"]}


def section(data, plot_dir, prefix):
    import tiltbench_absent_optional_package  # noqa: F401  (never installed: the point of this track)

    return []


register_track(Track(name="toyx", description="track whose report needs a missing extra", task_pattern="c",
                     metrics=[Metric("value", "", True)], primary="value", make_task=make_task, evaluate=evaluate,
                     report_extras="toy_extra_track:section"))


@register_solver("toyx", "one", "method", citation="-", defaults={"toy": {}})
def one(task, config, seed):
    """Returns 1."""
    return {"value": 1.0}
