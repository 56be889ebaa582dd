"""User-facing errors: the CLI prints these as one line and exits with status 2."""


class TiltbenchError(Exception):
    """A mistake the user can fix (bad name, bad config value, unusable store)."""


def unknown(kind: str, value: str, valid) -> TiltbenchError:
    """Build the standard 'unknown X' error that names the bad value and the valid ones."""
    valid = sorted(valid)
    listed = ", ".join(valid) if valid else "(none registered)"
    return TiltbenchError(f"unknown {kind} {value!r}; valid: {listed}")
