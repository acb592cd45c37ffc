"""Pausing Python's cyclic garbage collector for bulk work.

A batch being staged and written (an import) or a large projector batch makes many
short-lived objects while it holds many long-lived ones; the collector then walks the
long-lived ones again at every full collection, a large share of an import's time. What this
code allocates is freed by reference counting (it builds no cycles that must be found while it
works), so bulk sections pause the collector and it resumes when the last one ends. Sections may
overlap across threads: the collector resumes only when none is running, and only if it was
running before the first began. The pause is for the whole process, so only bulk work takes
it: a serving process's small projector batches and its requests never do.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_sections = 0
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _sections, _resume
    with _lock:
        if _sections == 0:
            _resume = gc.isenabled()
            gc.disable()
        _sections += 1
    try:
        yield
    finally:
        with _lock:
            _sections -= 1
            if _sections == 0 and _resume:
                gc.enable()
