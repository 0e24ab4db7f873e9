"""Memo caches that a long-running process can empty.

The pattern caches (compiled globs, lowered patterns, literal prefixes, the names a
pattern matches, containment searches) pay off within one policy, where patterns
recur, and hold little across policies. A batch worker that refines tens of
thousands of cases would otherwise keep them as full as their bounds allow for its
whole life; it calls :func:`forget_all` every few cases instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class Clearable(Protocol):
    def cache_clear(self) -> None: ...


C = TypeVar("C", bound=Clearable)
F = TypeVar("F", bound=Callable[[], None])

_FORGETS: list[Callable[[], None]] = []


def forgettable(memo: C) -> C:
    """Register an ``lru_cache``-wrapped function with :func:`forget_all`; returns it
    unchanged."""
    _FORGETS.append(memo.cache_clear)
    return memo


def on_forget(forget: F) -> F:
    """Register a function that empties a cache of some other kind; returns it."""
    _FORGETS.append(forget)
    return forget


def forget_all() -> int:
    """Empty every registered cache; returns how many there are."""
    for forget in _FORGETS:
        forget()
    return len(_FORGETS)
