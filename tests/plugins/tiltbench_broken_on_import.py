"""A module whose import fails with something other than ImportError (as a broken install's can)."""

raise RuntimeError("deliberately broken at import")
