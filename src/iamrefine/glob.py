"""The concrete IAM glob matcher: part of the trusted base, kept deliberately small.

IAM globs have two wildcards: ``*`` matches any run of characters (the empty run
included) and ``?`` matches exactly one character. In action patterns both match any
character; in Resource ARNs they stay inside a colon-separated segment, except a ``*``
that ends its segment (:func:`resource_glob_matches`).
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
from collections.abc import Sequence
from functools import lru_cache

from iamrefine.memo import forgettable

WILDCARDS = frozenset("*?")
_FIRST_WILDCARD = re.compile(r"[*?]")

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def ascii_lower(text: str) -> str:
    """Lowercase ASCII letters only. ``str.lower`` also folds e.g. the Kelvin sign
    U+212A to ``k``, which IAM does not; ASCII folding is what the matcher and
    the encoder both use."""
    if text.isascii():
        return text.lower()
    return text.translate(_ASCII_LOWER)


def ascii_lower_all(texts: Sequence[str]) -> list[str]:
    """:func:`ascii_lower` of each of ``texts``; all-ASCII names (a whole catalog) are
    lowered in one call on their concatenation."""
    joined = "\n".join(texts)
    if texts and joined.isascii() and joined.count("\n") == len(texts) - 1:
        return joined.lower().split("\n")
    return [ascii_lower(t) for t in texts]


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


@forgettable
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
    """Does the Resource glob match the resource (case-sensitive), with the ARN rule of
    :func:`resource_glob_matches`?"""
    return resource_glob_matches([(ch, ch in WILDCARDS) for ch in pattern], resource)


def crosses_colons(pattern: Sequence[tuple[str, bool | None]], index: int) -> bool:
    """Is the ``*`` at ``index`` the last character of its ARN segment: followed by a
    literal ``:`` of the policy text, or by nothing?"""
    nxt = index + 1
    return nxt == len(pattern) or pattern[nxt] == (":", False)


def resource_glob_matches(pattern: Sequence[tuple[str, bool | None]], resource: str) -> bool:
    """Match ``resource`` against a Resource glob given as characters ``(char,
    is_wildcard)`` (``None`` marks a character substituted from a policy variable:
    literal, and no segment boundary).

    IAM's rule for resource ARNs (IAM User Guide, "IAM JSON policy elements: Resource",
    "Using wildcards in resource ARNs"): wildcards stand inside one colon-separated
    segment, ``?`` for one character and ``*`` for any run, and a ``*`` that is the last
    character of a segment can expand past colon boundaries. So here ``?`` and a ``*``
    inside a segment never match a colon; a segment-final ``*`` matches any run.
    Decided by dynamic programming over (pattern, resource) positions: linear in each.
    """
    n = len(resource)
    # reach[j]: the pattern prefix read so far can match resource[:j].
    reach = [False] * (n + 1)
    reach[0] = True
    for i, (ch, wild) in enumerate(pattern):
        nxt = [False] * (n + 1)
        if wild and ch == "*":
            free = crosses_colons(pattern, i)
            run = False
            for j in range(n + 1):
                if reach[j]:
                    run = True
                elif j > 0 and resource[j - 1] == ":" and not free:
                    run = False
                nxt[j] = run
        else:
            for j in range(n):
                if reach[j] and (resource[j] == ch if not wild else resource[j] != ":"):
                    nxt[j + 1] = True
        reach = nxt
        if not any(reach):
            return False
    return reach[n]


def literal_prefix(pattern: str) -> str:
    """The pattern's text before its first wildcard."""
    found = _FIRST_WILDCARD.search(pattern)
    return pattern if found is None else pattern[: found.start()]


def has_wildcard(pattern: str) -> bool:
    """Does the pattern contain ``*`` or ``?``?"""
    return "*" in pattern or "?" in pattern
