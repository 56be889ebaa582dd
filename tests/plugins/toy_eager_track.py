"""A toy track whose solver reports whether torch.compile compiled a function inside the cell."""

from tiltbench.registry import Metric, Track, register_solver, register_track


def make_task(name, config, seed):
    return 0.0


def evaluate(task, output):
    return {"compiled": output["compiled"]}


register_track(Track(name="toye", description="torch.compile probe", task_pattern="c",
                     metrics=[Metric("compiled", "", True)], primary="compiled", make_task=make_task,
                     evaluate=evaluate))


@register_solver("toye", "probe", "method", citation="-", defaults={"toy": {}})
def probe(task, config, seed):
    """1 when torch.compile traced the function (inside a trace ``is_compiling()`` is True), 0 when it ran as given."""
    import torch

    traced = torch.compile(lambda x: x + float(torch.compiler.is_compiling()), backend="eager")
    return {"compiled": float(traced(torch.zeros(1)).item())}
