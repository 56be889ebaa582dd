"""Imported by the local executor's forkserver: the heavy modules every cell would import.

Registering the plugins imports no solver code; the executor adds the sweep's solver and track
modules to the forkserver's preload list after this module (tiltbench.executors.preload_modules),
and names the third-party modules its tracks declare (``Track.preload``) in $TILTBENCH_PRELOAD
(worker.PRELOAD_ENV), which this module imports, each one it can."""

import importlib
import os

from tiltbench.worker import PRELOAD_ENV, eager_torch, quiet_progress_bars

# Thread counts must be fixed before torch/BLAS initialise; cells narrow them further.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
quiet_progress_bars()  # before anything imports tqdm, which reads TQDM_DISABLE at import
eager_torch()  # before torch's compiler config is imported, which reads TORCH_COMPILE_DISABLE then

import numpy  # noqa: E402,F401
import torch  # noqa: E402,F401

from tiltbench import registry  # noqa: E402

registry.load_plugins()

# torch.use_deterministic_algorithms imports torch._inductor (~3 s); pay that once here.
from tiltbench.seeds import seed_everything  # noqa: E402

seed_everything(0)

# The tracks' third-party modules (Track.preload): one that fails to import is left to the cells that need
# it, which then fail with the real reason; an exception here would take the forkserver, and every cell, down.
for _name in filter(None, os.environ.get(PRELOAD_ENV, "").split(",")):
    try:
        importlib.import_module(_name)
    except Exception:  # noqa: BLE001 - see above
        pass
