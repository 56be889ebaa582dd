"""The on-disk cache of things a sweep builds once and shares between cells (models, sample pools).

It lives in ``$TILTBENCH_CACHE`` (default ``~/.cache/tiltbench``), never in git.  Two workers that want
the same entry at once take ``file_lock`` on it: the first builds, the second waits and then reads.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """$TILTBENCH_CACHE/<parts...>, created if missing."""
    path = Path(os.environ.get("TILTBENCH_CACHE", Path.home() / ".cache" / "tiltbench")).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def file_lock(path: Path):
    """Exclusive lock across processes, held for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
