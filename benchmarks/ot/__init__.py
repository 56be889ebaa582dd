"""The ot track: entropic optimal transport between distributions with a known plan."""

import os

# POT imports every array backend it finds.  Where JAX is installed (as on the lent GPU machines), its
# import makes XLA reserve 75% of the GPU in every cell process, so a few cells sharing one GPU run
# out of memory before computing anything (seen on an H200, 2026-11-27).  The track computes with
# numpy and torch only; a user who wants POT's JAX backend can set these variables to "".
for _backend in ("JAX", "TENSORFLOW", "CUPY"):
    os.environ.setdefault(f"POT_BACKEND_DISABLE_{_backend}", "1")
