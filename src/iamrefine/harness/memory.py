"""Keeping a long-running worker's memory from growing with the number of cases it
has run.

A worker refines and proves thousands of cases in one process. Two things grow with
the number of cases: the pattern memo caches (:mod:`iamrefine.memo`), and the free
memory glibc keeps in its heaps after the solvers' C++ allocations.
:class:`PeriodicRelease` empties the memo caches and asks glibc to return every free
page (``malloc_trim(0)``) every few cases: about 2 ms each time (measured), where
trimming after every case would make the next case fault its pages back in.
Elsewhere than glibc only the caches are emptied. What still grows is the
interpreter's own small-object arenas, which one live object keeps whole.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

from iamrefine.memo import forget_all

RELEASE_EVERY = 20
"""Cases between two releases of a worker's free memory."""


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # The process's own symbols hold libc's; find_library("c") would run ldconfig.
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return None
    return trim


def release_free_memory() -> bool:
    """Return glibc's free heap pages to the system; False where there is no glibc."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class PeriodicRelease:
    """Counts the cases a process has run; every ``every`` of them, empties the memo
    caches and releases the process's free memory. Not thread-safe: its caller runs
    one case at a time (see ``harness.executors``)."""

    def __init__(self, every: int = RELEASE_EVERY) -> None:
        self.every = every
        self.count = 0

    def case_done(self) -> bool:
        """Count one case; True when memory was released after it."""
        self.count += 1
        if self.count % self.every:
            return False
        forget_all()
        return release_free_memory()
