"""The concrete IAM glob matcher: part of the trusted base, kept deliberately small.

IAM globs have two wildcards: ``*`` matches any run of characters (the empty run
included, colons and slashes included) and ``?`` matches exactly one character.
Every other character, ``[`` and ``]`` included, is literal. Action patterns are
matched case-insensitively with ASCII folding (:func:`ascii_lower`);
resources are matched case-sensitively.

A glob is compiled into a Python regular expression whose segments between stars
are wrapped in atomic groups ``(?>.*?SEG)``. Placing each middle segment at its
leftmost occurrence is complete for globs, so the atomic groups change no answer
but rule out the exponential backtracking that ``*?*?*?...`` would cause.
"""

from __future__ import annotations

import re
from functools import lru_cache

WILDCARDS = frozenset("*?")

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def ascii_lower(text: str) -> str:
    """Lowercase ASCII letters only. ``str.lower`` also folds e.g. the Kelvin sign
    U+212A to ``k``, which IAM does not; ASCII folding is what the matcher and
    the encoder both use."""
    if text.isascii():
        return text.lower()
    return text.translate(_ASCII_LOWER)


def normalize(pattern: str) -> str:
    """An equivalent glob in which each run of ``*`` and ``?`` is written as its
    ``?``s followed by at most one ``*``."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch not in WILDCARDS:
            out.append(ch)
            i += 1
            continue
        j = i
        while j < n and pattern[j] in WILDCARDS:
            j += 1
        run = pattern[i:j]
        out.append("?" * run.count("?"))
        if "*" in run:
            out.append("*")
        i = j
    return "".join(out)


def _segment(text: str) -> str:
    return "".join("." if ch == "?" else re.escape(ch) for ch in text)


def glob_to_regex(pattern: str) -> str:
    """The Python regex (for ``fullmatch`` with DOTALL) of an IAM glob."""
    parts = normalize(pattern).split("*")
    if len(parts) == 1:
        return _segment(parts[0])
    middle = "".join(f"(?>.*?{_segment(p)})" for p in parts[1:-1])
    return _segment(parts[0]) + middle + ".*" + _segment(parts[-1])


@lru_cache(maxsize=65536)
def compile_glob(pattern: str, *, fold_case: bool) -> re.Pattern[str]:
    """Compile an IAM glob. With ``fold_case`` the pattern is ASCII-lowercased and
    the caller must lowercase the subject the same way."""
    if fold_case:
        pattern = ascii_lower(pattern)
    return re.compile(glob_to_regex(pattern), re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """Does the action pattern match the action name (case-insensitive)?"""
    return compile_glob(pattern, fold_case=True).fullmatch(ascii_lower(action)) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    """Does the resource glob match the resource (case-sensitive)?"""
    return compile_glob(pattern, fold_case=False).fullmatch(resource) is not None


def literal_prefix(pattern: str) -> str:
    """The pattern's text before its first wildcard."""
    for i, ch in enumerate(pattern):
        if ch in WILDCARDS:
            return pattern[:i]
    return pattern


def has_wildcard(pattern: str) -> bool:
    """Does the pattern contain ``*`` or ``?``?"""
    return any(ch in WILDCARDS for ch in pattern)
