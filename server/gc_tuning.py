"""The garbage collector's pace for a serving process: the live fan-out allocates a small
frame per subscriber per change, and at Python's default threshold the cyclic collector's full
passes stalled every subscriber at once (docs/performance.md, "The garbage collector's pace").
Nearly nothing the server allocates forms reference cycles, so collecting rarely costs no
memory worth speaking of.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)
"""Allocations before a young collection, and young (then middle) collections before an older
one; Python's defaults are (700, 10, 10)."""


def tune_for_serving() -> None:
    """Call once start-up is done: what exists then (modules, the app) lives for the whole run,
    so it is frozen out of every later collection."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
