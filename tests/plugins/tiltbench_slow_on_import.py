"""A module whose import takes seconds: a stand-in for a track's heavy preloads (torch, transformers, ...)."""

import time

time.sleep(8)
