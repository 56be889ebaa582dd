"""User-facing errors: the CLI prints these as one line and exits with status 2."""


class TiltbenchError(Exception):
    """A mistake the user can fix (bad name, bad config value, unusable store)."""


def unknown(kind: str, value: str, valid, where: str = "") -> TiltbenchError:
    """Build the standard 'unknown X' error that names the bad value, where it was looked up (e.g. "of
    track 'ot'") and the valid ones."""
    valid = sorted(valid)
    listed = ", ".join(valid) if valid else "(none registered)"
    return TiltbenchError(f"unknown {kind} {value!r}{' ' + where if where else ''}; valid: {listed}")
