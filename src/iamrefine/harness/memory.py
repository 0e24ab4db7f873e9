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

:func:`keep_freed_memory` is the opposite setting between two releases: every Z3
context allocates about 16 MB, which glibc would otherwise unmap or trim as soon as
the context is deleted, so that the next context faulted all of its pages in again
(6 ms per context instead of 1.3 ms, measured in a process whose glibc had stopped
adapting its mmap threshold; a case makes one or two). Dask's workers, where glibc
still adapted, measured the same CPU time with or without it.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

from iamrefine.memo import forget_all

RELEASE_EVERY = 20
"""Cases between two releases of a worker's free memory."""

KEPT_FREE_BYTES = 32 << 20
"""Allocations below this size come from the heap, and free memory up to this size
stays at its top (glibc's largest mmap threshold on 64-bit systems)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def _libc() -> ctypes.CDLL | None:
    # The process's own symbols hold libc's; find_library("c") would run ldconfig.
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):  # Windows
        return None


def _glibc_function(name: str) -> Callable[..., int] | None:
    """``name`` from glibc, or None where libc is another (musl, macOS, Windows)."""
    libc = _libc()
    return getattr(libc, name, None) if libc is not None else None


def keep_freed_memory(size: int = KEPT_FREE_BYTES) -> bool:
    """Have glibc keep up to ``size`` bytes of freed memory for reuse instead of
    returning it at once (see the module docstring); False where there is no glibc
    or it refused."""
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, size)) and bool(mallopt(_M_TRIM_THRESHOLD, size))


def release_free_memory() -> bool:
    """Return glibc's free heap pages to the system; False where there is no glibc."""
    trim = _glibc_function("malloc_trim")
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
