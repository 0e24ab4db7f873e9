"""Worker functions for the pool tests, in a module of their own so that a spawned
worker imports nothing else (it starts in well under a second)."""

from __future__ import annotations

import os
import signal


def die_on_two(item: int) -> int:
    """``item * 10``, except that item 2 kills its own process with SIGKILL."""
    if item == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return item * 10


def no_setup() -> None:
    return None


def die_at_start() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
