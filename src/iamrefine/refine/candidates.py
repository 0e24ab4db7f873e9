"""Candidate patterns for the size optimizer (:mod:`iamrefine.refine.optimize`).

A candidate is admissible when it matches no unused catalog action and is contained,
over all strings, in one replaced pattern (decided by
:func:`iamrefine.refine.containment.contains`); that pattern is its origin. Candidates
come from the whole wildcard language: exact names, the shortest safe character prefix
``A*`` of each wanted action, ``A*B`` for every word suffix and short character suffix B
of it, ``A*M*`` for every word, pair of consecutive words and substring of one or two
characters M inside it (A always the shortest safe prefix for the shape), ``?`` for
wanted names that differ in one position, and the readable refinement's own patterns.
Catalog sets are bit masks over one service's names.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Collection, Sequence

from iamrefine.glob import ascii_lower, compile_glob, has_wildcard, literal_prefix, normalize
from iamrefine.refine.containment import contains
from iamrefine.refine.split import pattern_cost as pattern_cost
from iamrefine.refine.trie import CatalogIndex
from iamrefine.refine.words import word_boundaries

CHAR_SUFFIXES = 4
"""Character suffixes of each wanted action tried as the tail of ``A*B``."""

SUB_LENGTHS = (1, 2)
"""The lengths of the substrings M tried in ``A*M*`` (besides words)."""

SHORT = 2
"""Substrings up to this length are indexed per service (for ``A*M*``)."""

_SHORT_LENGTHS = tuple(range(1, SHORT + 1))

NARROW_PACKING = 1 << 16
"""A service with fewer names than this, all shorter than it, packs an occurrence
(name, position) into 32 bits; another into 64."""


_LAST_CHAR = chr(0x10FFFF)
"""Greater than any character of an action name: ``[s, s + _LAST_CHAR)`` holds exactly the
strings that start with s."""


class Work:
    """The optimizer's budget, counted in candidates tried (one unit: one shape through
    one wanted action, or one readable pattern, or one ``?`` group) rather than in
    seconds, so that the candidates found, and so the policy written, are the same on
    every machine and under any load."""

    __slots__ = ("left", "spent")

    def __init__(self, units: int) -> None:
        self.left = units
        self.spent = 0

    def spend(self, units: int) -> None:
        self.left -= units
        self.spent += units

    @property
    def exhausted(self) -> bool:
        return self.left <= 0


def matched_positions(index: CatalogIndex, pattern: str) -> list[int]:
    """The catalog positions that an action pattern matches (case-insensitive)."""
    return list(index.matching(ascii_lower(normalize(pattern))))


class Service:
    """Bit masks over one service's catalog names (bit k is position lo + k)."""

    def __init__(
        self,
        index: CatalogIndex,
        service: str,
        good: set[int],
        origins: list[tuple[int, str, list[int]]],
    ) -> None:
        """``good``: the catalog positions candidates may match; ``origins``: (id,
        pattern, the catalog positions of this service it matches) for each replaced
        pattern."""
        self.index = index
        self.lo, self.hi = index.range_of(service + ":")
        self.names = index.names[self.lo : self.hi]
        self.all = (1 << len(self.names)) - 1
        good_mask = 0
        for i in range(self.lo, self.hi):
            if i in good:
                good_mask |= 1 << (i - self.lo)
        self.bad = self.all & ~good_mask
        by_len: dict[int, int] = {}
        for k, x in enumerate(self.names):
            by_len[len(x)] = by_len.get(len(x), 0) | (1 << k)
        self.max_len = max(by_len) if by_len else 0
        # shorter[t]: the names shorter than t characters.
        self.shorter = [0] * (self.max_len + 2)
        acc = 0
        for t in range(self.max_len + 2):
            self.shorter[t] = acc
            acc |= by_len.get(t, 0)
        self._suffix: dict[str, int] = {}
        self._backwards: tuple[list[str], list[int]] | None = None
        self._prefix: dict[str, int] = {}
        self._last: dict[str, tuple[list[int], list[int]]] = {}
        self._occ: dict[str, array[int]] | None = None
        # Bits of a packed occurrence's position: 16 unless a name or the service is
        # longer than that allows.
        self._bits = 16 if max(len(self.names), self.max_len) < NARROW_PACKING else 32
        # The replaced patterns that match some action of this service, with those actions.
        # With the literal L of an origin of the form `L*` (the usual case): a glob is
        # contained in `L*` iff its text before its first wildcard starts with L (fact F1
        # of proofs/REFINEMENT.md), which `contains` would also answer.
        self.origins: list[tuple[int, str, int, str | None]] = []
        for vi, pattern, members in origins:
            mask = 0
            for i in members:
                mask |= 1 << (i - self.lo)
            q = ascii_lower(normalize(pattern))
            head = q[:-1] if q.endswith("*") and not has_wildcard(q[:-1]) else None
            self.origins.append((vi, pattern, mask, head))

    def prefix(self, text: str) -> int:
        found = self._prefix.get(text)
        if found is None:
            lo, hi = self.index.range_of(text)
            found = ((1 << (hi - self.lo)) - 1) ^ ((1 << (lo - self.lo)) - 1)
            self._prefix[text] = found
        return found

    def _occurring(self, m: str) -> Sequence[int]:
        """The names k that contain ``m``, in order, each with the last position of
        ``m`` in it, packed as ``k << self._bits | position``."""
        occ = self._occ
        bits = self._bits
        if occ is None:
            # Every substring of up to SHORT characters, with one array of packed
            # (name, last position) per substring: a dict per substring held about 38
            # MB in a policy of every service, two arrays and a tuple about 23 MB.
            occ = {}
            code = "I" if bits == 16 else "Q"
            for k, x in enumerate(self.names):
                # Each substring once, at its last position (a later one overwrites).
                here = {x[at : at + n]: at for n in _SHORT_LENGTHS for at in range(len(x) - n + 1)}
                for piece, at in here.items():
                    found = occ.get(piece)
                    if found is None:
                        found = occ[piece] = array(code)
                    found.append(k << bits | at)
            self._occ = occ
        if len(m) <= SHORT:
            return occ.get(m, ())
        # A longer m: look only in the names that have its rarest short piece.
        pieces = [occ.get(m[at : at + SHORT], ()) for at in range(len(m) - SHORT + 1)]
        out: list[int] = []
        for v in min(pieces, key=len):
            k = v >> bits
            at = self.names[k].rfind(m)
            if at >= 0:
                out.append(k << bits | at)
        return out

    def suffix(self, text: str) -> int:
        """The names that end with ``text``: a run of the names sorted backwards, found
        by bisection and kept once asked for. (A table of every suffix of every name
        held about 60 MB in a policy of every service, for the few thousand asked.)"""
        found = self._suffix.get(text)
        if found is None:
            if self._backwards is None:
                order = sorted(range(len(self.names)), key=lambda k: self.names[k][::-1])
                self._backwards = ([self.names[k][::-1] for k in order], order)
            keys, order = self._backwards
            head = text[::-1]
            found = 0
            for j in range(bisect_left(keys, head), bisect_left(keys, head + _LAST_CHAR)):
                found |= 1 << order[j]
            self._suffix[text] = found
        return found

    def star(self, a: str, b: str) -> int:
        """The names ``a*b`` matches."""
        t = len(a) + len(b)
        short = self.shorter[t] if t < len(self.shorter) else self.all
        return self.prefix(a) & self.suffix(b) & ~short

    def after_table(self, m: str) -> tuple[list[int], list[int]]:
        """The sorted positions at which ``m`` occurs last in some name, and
        ``masks[j]``, the names in which it occurs at or after ``positions[j]``: the
        names in which ``m`` occurs at some position >= t are
        ``masks[bisect_left(positions, t)]`` (so ``a*m*`` matches ``prefix(a)`` and those
        for t = ``len(a)``). Kept at those positions only: a mask for every position held
        about 45 MB in a policy of every service."""
        found = self._last.get(m)
        if found is None:
            at_position: dict[int, int] = {}
            bits, low = self._bits, (1 << self._bits) - 1
            for v in self._occurring(m):
                at = v & low
                at_position[at] = at_position.get(at, 0) | (1 << (v >> bits))
            positions = sorted(at_position)
            masks = [0] * (len(positions) + 1)
            for j in range(len(positions) - 1, -1, -1):
                masks[j] = masks[j + 1] | at_position[positions[j]]
            found = self._last[m] = (positions, masks)
        return found

    def exact(self, name: str) -> int:
        i = self.index.position.get(name)
        return 0 if i is None or not self.lo <= i < self.hi else 1 << (i - self.lo)

    def glob(self, pattern: str) -> int:
        rx = compile_glob(pattern, fold_case=True)
        lo, hi = self.index.range_of(literal_prefix(ascii_lower(pattern)))
        names = self.index.names
        mask = 0
        for i in range(max(lo, self.lo), min(hi, self.hi)):
            if rx.fullmatch(names[i]):
                mask |= 1 << (i - self.lo)
        return mask


class Candidates:
    """Admissible candidates of one group of statements, deduplicated by text;
    ``origin_of[k]`` is the id of candidate k's origin (an original pattern)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        # Each candidate's wanted catalog positions, ascending (a tuple is a few times
        # smaller than a frozenset of the one or two positions most candidates have).
        self.masks: list[tuple[int, ...]] = []
        self.origin_of: list[int] = []
        self.seen: set[str] = set()

    def add_kept(self, text: str, elements: Collection[int], origin: int) -> None:
        """An original pattern that matches no unused action, as its own candidate."""
        key = ascii_lower(text)
        if key in self.seen:
            return
        self.seen.add(key)
        self.texts.append(text)
        self.masks.append(tuple(sorted(elements)))
        self.origin_of.append(origin)

    def add(self, text: str, service: Service, mask: int, wanted: int) -> None:
        if not mask or mask & service.bad or not mask & wanted:
            return
        key = ascii_lower(text)
        if key in self.seen:
            return
        self.seen.add(key)
        lit = literal_prefix(key)
        for origin, pattern, members, head in service.origins:
            # Over the catalog a contained candidate matches only what its origin does:
            # a cheap necessary condition before the automaton decides.
            if mask & ~members:
                continue
            if lit.startswith(head) if head is not None else contains(pattern, text):
                covered = mask & wanted
                elements = []
                while covered:
                    low = covered & -covered
                    elements.append(low.bit_length() - 1 + service.lo)
                    covered ^= low
                self.texts.append(text)
                self.masks.append(tuple(elements))
                self.origin_of.append(origin)
                return


def _tails(index: CatalogIndex, i: int, *, prefix_only: bool) -> list[str]:
    """The tails B tried for ``A*B`` through action ``i``: "" (a prefix), or its word
    suffixes and its last :data:`CHAR_SUFFIXES` characters."""
    if prefix_only:
        return [""]
    x = index.names[i]
    base = x.index(":") + 1
    tails = {x[c:] for c in word_boundaries(index.canon[i]) if c >= base} | {x[base:]}
    for n in range(1, CHAR_SUFFIXES + 1):
        if base + n < len(x):
            tails.add(x[len(x) - n :])
    return sorted(tails)


def _stars(
    index: CatalogIndex,
    svc: Service,
    wanted: int,
    i: int,
    cands: Candidates,
    tails: list[str],
    work: Work,
) -> None:
    """``A*B`` through wanted action ``i`` for each tail B, with the shortest prefix A
    that keeps it free of bad names."""
    work.spend(len(tails))
    canon = index.canon[i]
    x = index.names[i]
    base = x.index(":") + 1
    for b in tails:
        found = _shortest_free_prefix(svc, x, i - svc.lo, base, b)
        if found is None:
            continue
        text = canon[:found] + "*" + canon[len(canon) - len(b) :]
        cands.add(text, svc, svc.star(x[:found], b), wanted)


def _shortest_free_prefix(svc: Service, x: str, k: int, base: int, b: str) -> int | None:
    """The least n in ``[base, len(x) - len(b)]`` for which ``x[:n]*b`` matches no bad
    name of the service (``x`` is its name k), or None.

    A bad name y is matched for exactly the n up to the lesser of its common prefix
    with x and ``len(y) - len(b)``, so the answers form an upward-closed range: found by
    bisection, and without a bad name that ends with b it is ``base``. For a prefix (b
    empty) the bad names sharing the longest prefix with x are its neighbours in name
    order, so the answer is one more than that prefix."""
    hi = len(x) - len(b)
    if hi < base:
        return None
    if not b:
        longest = 0
        below = svc.bad & ((1 << k) - 1)
        if below:
            longest = _common_prefix(x, svc.names[below.bit_length() - 1])
        above = svc.bad >> (k + 1)
        if above:
            j = k + (above & -above).bit_length()
            longest = max(longest, _common_prefix(x, svc.names[j]))
        found = max(base, longest + 1)
        return found if found <= hi else None
    blocking = svc.suffix(b) & svc.bad
    if not blocking:
        return base
    shorter, prefix, lb = svc.shorter, svc.prefix, len(b)
    if prefix(x[:hi]) & blocking & ~shorter[hi + lb]:
        return None
    lo = base
    while lo < hi:
        mid = (lo + hi) // 2
        if prefix(x[:mid]) & blocking & ~shorter[mid + lb]:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _common_prefix(x: str, y: str) -> int:
    n = min(len(x), len(y))
    for j in range(n):
        if x[j] != y[j]:
            return j
    return n


def _middles(
    index: CatalogIndex,
    svc: Service,
    wanted: int,
    i: int,
    cands: Candidates,
    lengths: tuple[int, ...],
    work: Work,
) -> None:
    """``A*M*`` through wanted action ``i`` with the shortest prefix A that keeps it free
    of bad names: without ``lengths``, for M each word of the action after its first
    and each pair of consecutive words; with them, for M each substring of those
    lengths after the action name's first character. Only M's last occurrence matters:
    A must end before it."""
    canon = index.canon[i]
    x = index.names[i]
    base = x.index(":") + 1
    bad = svc.bad
    cuts = [c for c in word_boundaries(canon) if c > base] + [len(x)]
    last: dict[str, int] = {}
    for k in range(len(cuts) - 1 if not lengths else 0):
        for end in cuts[k + 1 : k + 3]:
            last[x[cuts[k] : end]] = max(last.get(x[cuts[k] : end], -1), cuts[k])
    for at in range(base + 1, len(x)):
        for n in lengths:
            if at + n <= len(x):
                m = x[at : at + n]
                last[m] = max(last.get(m, -1), at)
    work.spend(len(last))
    # hits[n]: the bad names that start with x[:n].
    hits = [0] * base + [svc.prefix(x[:n]) & bad for n in range(base, len(x) + 1)]
    for m, at in last.items():
        positions, masks = svc.after_table(m)
        if hits[at] & masks[bisect_left(positions, at)]:
            continue
        lo, hi = base, at
        while lo < hi:
            mid = (lo + hi) // 2
            if hits[mid] & masks[bisect_left(positions, mid)]:
                lo = mid + 1
            else:
                hi = mid
        text = canon[:lo] + "*" + canon[at : at + len(m)] + "*"
        cands.add(text, svc, svc.prefix(x[:lo]) & masks[bisect_left(positions, lo)], wanted)


def _single_chars(
    index: CatalogIndex,
    svc: Service,
    wanted: int,
    members: list[int],
    cands: Candidates,
    work: Work,
) -> None:
    """``?`` where wanted names of equal length differ in one position."""
    groups: dict[str, list[int]] = {}
    for i in members:
        x = index.names[i]
        start = x.index(":") + 1
        for at in range(start, len(x)):
            groups.setdefault(x[:at] + "?" + x[at + 1 :], []).append(i)
    for key, group in groups.items():
        if len(group) > 1 and not work.exhausted:
            work.spend(1)
            at = key.index("?")
            canon = index.canon[group[0]]
            text = canon[:at] + "?" + canon[at + 1 :]
            cands.add(text, svc, svc.glob(text), wanted)


def generate(
    index: CatalogIndex,
    by_service: dict[str, list[int]],
    services: dict[str, tuple[Service, int]],
    readable: list[str],
    cands: Candidates,
    work: Work,
) -> bool:
    """Add the candidates through each wanted action (``by_service``: the wanted
    positions by service; ``services``: each one's masks and wanted mask), cheap and most
    useful shapes first so that an exhausted budget still leaves a good set: the
    readable patterns, exact names, prefixes, ``A*B``, ``A*M*``, then ``?``. True when
    the budget of work ran out first."""
    for service, members in by_service.items():
        svc, wanted = services[service]
        for i in members:
            cands.add(index.canon[i], svc, 1 << (i - svc.lo), wanted)
    for p in readable:
        if work.exhausted:
            return True
        work.spend(1)
        q = ascii_lower(normalize(p))
        lit = literal_prefix(q)
        if ":" in lit and lit.partition(":")[0] in services:
            svc, wanted = services[lit.partition(":")[0]]
            if q == lit + "*":
                mask = svc.prefix(lit)
            elif q == lit:
                mask = svc.exact(lit)
            else:
                mask = svc.glob(p)
            cands.add(p, svc, mask, wanted)
    phases = (
        lambda svc, w, i: _stars(index, svc, w, i, cands, [""], work),
        lambda svc, w, i: _stars(
            index, svc, w, i, cands, _tails(index, i, prefix_only=False), work
        ),
        lambda svc, w, i: _middles(index, svc, w, i, cands, (), work),
        lambda svc, w, i: _middles(index, svc, w, i, cands, SUB_LENGTHS, work),
    )
    for phase in phases:
        for service, members in by_service.items():
            svc, wanted = services[service]
            for i in members:
                if work.exhausted:
                    return True
                phase(svc, wanted, i)
    for service, members in by_service.items():
        svc, wanted = services[service]
        _single_chars(index, svc, wanted, members, cands, work)
    return False
