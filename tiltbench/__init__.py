"""tiltbench: a reproducible benchmark suite for reward-tilted alignment methods.

The core (this package) knows nothing about any track.  Tracks, methods and baselines are
plugins found through the ``tiltbench.plugins`` entry-point group (see ``registry.py``).
"""

__version__ = "0.1.0"
