"""tiltbench: a reproducible benchmark suite for reward-tilted alignment methods.

The core (this package) knows nothing about any track.  Tracks, methods and baselines are
plugins found through the ``tiltbench.plugins`` entry-point group (see ``registry.py``).
"""

__version__ = "0.1.0"

# Installed, the track and solver folders are subpackages (tiltbench/benchmarks, ...; pyproject maps
# them).  In a source checkout they sit beside this folder, and `python -m tiltbench.cli` run from
# the checkout's root imports this folder rather than the installed copy; let the subpackages be
# found there too.  Only a checkout (pyproject.toml and benchmarks/ beside us) is extended.
import os as _os

_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if (not _os.path.isdir(_os.path.join(__path__[0], "benchmarks"))
        and _os.path.isfile(_os.path.join(_root, "pyproject.toml"))
        and _os.path.isdir(_os.path.join(_root, "benchmarks"))):
    __path__.append(_root)
del _os, _root
