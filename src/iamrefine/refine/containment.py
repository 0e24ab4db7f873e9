"""Exact containment of two IAM wildcard patterns, by automaton inclusion.

``L(p)`` is the set of strings the glob p matches (``*`` any run, ``?`` one character,
everything else literal). :func:`contains` decides ``L(inner) ⊆ L(outer)`` over *all*
strings, and :func:`counterexample` returns a shortest string of ``L(inner) \\ L(outer)``
when there is one. The construction (Lemma C in ``proofs/CONTAINMENT.md``):

* each glob is a nondeterministic automaton whose states are the positions between
  its tokens; a star loops on every character and may be skipped;
* the alphabet is finite without loss: every character that occurs in neither pattern
  is treated alike by both automata, so one fresh character stands for all of them;
* a breadth-first search over pairs (a state of ``inner``'s automaton, the *set* of
  states ``outer``'s automaton can be in) finds a string accepted by ``inner`` and
  rejected by ``outer`` iff there is one, and the first such pair found is reached by
  a shortest one.

With ``fold_case`` (action patterns) both patterns are ASCII-lowercased first and the
fresh character is not an uppercase ASCII letter, which decides containment of the
case-insensitive languages ``{w : lower(w) ∈ L(lower(p))}``.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache

from iamrefine.glob import ascii_lower, compile_glob, literal_prefix, normalize
from iamrefine.memo import forgettable

_STAR = "*"
_ONE = "?"


def _fresh(used: set[str]) -> str:
    """A character in neither pattern (and no uppercase ASCII letter)."""
    for code in range(0x21, 0x3000):
        ch = chr(code)
        if ch not in used and ch not in "*?" and not ("A" <= ch <= "Z"):
            return ch
    raise ValueError("no fresh character left")  # pragma: no cover - patterns are short


class _Glob:
    """A normalized glob's automaton with state sets as bit masks: bit i is the position
    before token i, bit ``len`` accepts. Normalized globs have no two adjacent stars, so
    skipping stars is a single shift."""

    __slots__ = ("accept", "literal", "one", "star", "start")

    def __init__(self, tokens: str) -> None:
        self.star = 0
        self.one = 0
        self.literal: dict[str, int] = {}
        for i, t in enumerate(tokens):
            if t == _STAR:
                self.star |= 1 << i
            elif t == _ONE:
                self.one |= 1 << i
            else:
                self.literal[t] = self.literal.get(t, 0) | (1 << i)
        self.accept = 1 << len(tokens)
        self.start = self.close(1)

    def close(self, states: int) -> int:
        return states | ((states & self.star) << 1)

    def step(self, states: int, ch: str) -> int:
        moved = (states & self.star) | ((states & (self.one | self.literal.get(ch, 0))) << 1)
        return self.close(moved)


@forgettable
@lru_cache(maxsize=1 << 16)
def _search(outer: str, inner: str) -> str | None:
    """A shortest string in ``L(inner) \\ L(outer)`` (normalized, already folded), or
    None when ``L(inner) ⊆ L(outer)``."""
    fresh = _fresh(set(outer) | set(inner))
    a, b = _Glob(inner), _Glob(outer)
    # Characters that outer's automaton tells apart, plus one for all the others.
    alphabet = {*b.literal, fresh}
    wild = a.star | a.one
    # Both sides are explored as state *sets* (a DFA for each), so equal sets are one
    # node of the search.
    start = (a.start, b.start)
    parents: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        si, so = node
        if si & a.accept and not so & b.accept:
            chars: list[str] = []
            back = parents[node]
            while back is not None:
                node, ch = back
                chars.append(ch)
                back = parents[node]
            return "".join(reversed(chars))
        # Only symbols on which inner can move: its literals at its current positions
        # and, where it is at a wildcard, every symbol outer tells apart (inner's other
        # literals act there as the fresh character does).
        symbols = {c for c, bits in a.literal.items() if si & bits}
        if si & wild:
            symbols |= alphabet
        for ch in sorted(symbols):
            ni = a.step(si, ch)
            if not ni:
                continue
            key = (ni, b.step(so, ch))
            if key not in parents:
                parents[key] = (node, ch)
                queue.append(key)
    return None


@forgettable
@lru_cache(maxsize=1 << 16)
def _prepare(pattern: str, fold_case: bool) -> str:
    p = normalize(pattern)
    return ascii_lower(p) if fold_case else p


def counterexample(outer: str, inner: str, *, fold_case: bool = True) -> str | None:
    """A shortest string that ``inner`` matches and ``outer`` does not, or None when
    ``inner`` is contained in ``outer`` over all strings."""
    return _search(_prepare(outer, fold_case), _prepare(inner, fold_case))


def contains(outer: str, inner: str, *, fold_case: bool = True) -> bool:
    """Is every string that ``inner`` matches also matched by ``outer``?

    An ``outer`` of the form ``L*`` (one star, at the end) contains exactly the globs
    whose text before their first wildcard starts with L (fact F1 of
    ``proofs/REFINEMENT.md``), and an ``inner`` without wildcard is contained iff
    ``outer`` matches it: these common cases are answered without the search (the
    automaton agrees, see the tests)."""
    o = _prepare(outer, fold_case)
    i = _prepare(inner, fold_case)
    if _STAR not in i and _ONE not in i:
        # One string: contained iff outer matches it.
        return compile_glob(o, fold_case=False).fullmatch(i) is not None
    head = o[:-1]
    if o.endswith(_STAR) and _STAR not in head and _ONE not in head:
        return literal_prefix(i).startswith(head)
    return _search(o, i) is None
