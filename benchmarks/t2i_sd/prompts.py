"""Prompt sets for the `t2i-sd` track, read from local files in the layouts the usual benchmarks ship.

- ``.txt``: one prompt per line (blank lines skipped).
- ``.csv`` (DrawBench's layout): a ``Prompts`` column (``Category`` and others ignored); a file without it is
  refused with the columns it has.
- ``.json``: HPDv2 / HPSv2 benchmark layout: a list of prompt strings (one style's file, e.g. ``anime.json``),
  or a list of objects with a ``prompt`` key (HPDv2's ``test.json``).
- a folder: every ``.json`` / ``.txt`` / ``.csv`` file in it, in name order (HPSv2's four style files).

``"tiny"`` is the eight prompts below, shipped with the package, for tests and smoke runs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

TINY = ("a red apple on a table", "a blue car in the rain", "a cat sleeping on a sofa", "a lighthouse at sunset",
        "a bowl of green soup", "an astronaut riding a horse", "a snowy mountain village", "a yellow umbrella")
SUFFIXES = (".txt", ".csv", ".json")


def _from_file(path: Path) -> list[str]:
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".csv":
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if "Prompts" not in (reader.fieldnames or []):
                raise ValueError(f"prompt file {str(path)!r} has no 'Prompts' column (DrawBench layout); its columns: "
                                 f"{', '.join(reader.fieldnames or []) or '(none)'}")
            return [row["Prompts"].strip() for row in reader if (row["Prompts"] or "").strip()]
    if path.suffix == ".json":
        items = json.loads(path.read_text())
        if not isinstance(items, list):
            raise ValueError(f"prompt file {str(path)!r}: a JSON list of prompts (HPDv2 layout), got a "
                             f"{type(items).__name__}")
        out = []
        for item in items:
            text = item.get("prompt") if isinstance(item, dict) else item
            if not isinstance(text, str):
                raise ValueError(f"prompt file {str(path)!r}: every entry must be a string or an object with a "
                                 f"'prompt' string; got {str(item)[:60]!r}")
            out.append(text.strip())
        return [p for p in out if p]
    raise ValueError(f"prompt file {str(path)!r}: unknown format; valid: {', '.join(SUFFIXES)}, or a folder of them")


def load_prompts(source: str, limit: int = 0) -> list[str]:
    """The prompts of ``source`` ("tiny", a file or a folder), the first ``limit`` of them when limit > 0."""
    if source == "tiny":
        prompts = list(TINY)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES)
            if not files:
                raise ValueError(f"prompt folder {str(path)!r} holds no {', '.join(SUFFIXES)} files")
            prompts = [p for f in files for p in _from_file(f)]
        elif path.is_file():
            prompts = _from_file(path)
        else:
            raise ValueError(f"prompt source {source!r} is neither 'tiny' nor an existing file or folder")
    if not prompts:
        raise ValueError(f"prompt source {source!r} holds no prompts")
    return prompts[:limit] if limit > 0 else prompts
