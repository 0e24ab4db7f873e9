"""The catalog-level index that every refinement walks: a prefix trie kept implicit.

The catalog's lowercase names are kept sorted, so the actions under a prefix form a
contiguous range (found by bisection) and a trie node is just ``(prefix length,
range)``. The node set is global to the catalog: with word granularity it holds
every lowercase prefix that ends at a word boundary of some catalog action (see
:mod:`iamrefine.refine.words`); with character granularity it holds every proper
prefix of every action. A node's actions are *all* catalog actions that start with
its prefix, whether or not the prefix ends at a word boundary of each of them, so
the node's pattern ``prefix*`` matches exactly the node's actions within the
catalog.

Each action additionally has an "exact" leaf below its deepest node: an action
such as ``s3:GetObject`` that is itself a node (a word prefix of
``s3:GetObjectAcl``) is written by its exact name when only it is kept.

Indexes are built once per catalog digest and granularity and cached in memory.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Literal

from iamrefine.catalog import Catalog
from iamrefine.glob import compile_glob, has_wildcard, literal_prefix
from iamrefine.refine.words import word_boundaries

Granularity = Literal["word", "char"]

_CACHE: dict[tuple[str, str], CatalogIndex] = {}
_CACHE_LIMIT = 8


Child = tuple[int | None, int, int]
"""A child of a trie node: ``(cut, lo, hi)``. ``cut`` is the child's prefix length, or
None for the exact leaf of the single action ``lo``; its actions are ``[lo, hi)``."""


class CatalogIndex:
    """Sorted lowercase names, canonical names and the trie's node cuts of a catalog."""

    def __init__(self, catalog: Catalog, granularity: Granularity) -> None:
        if granularity not in ("word", "char"):
            raise ValueError(f"unknown granularity `{granularity}`")
        self.catalog = catalog
        self.granularity: Granularity = granularity
        # A catalog keeps its names sorted by lowercase name; only case duplicates (two
        # spellings of one name) need the canonical spelling as a tie-breaker.
        self.names: list[str] = list(catalog.lower_names)
        self.canon: list[str] = list(catalog.actions)
        self.position: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        if len(self.position) != len(self.names):
            pairs = sorted(zip(self.names, self.canon, strict=True))
            self.names = [p[0] for p in pairs]
            self.canon = [p[1] for p in pairs]
            self.position = {n: i for i, n in enumerate(self.names)}
        self.size = len(self.names)
        self._services: dict[str, tuple[int, int]] | None = None
        # Word cuts are filled one service at a time, on first use: every node holds its
        # action's `service:` word, so an action's cuts depend on its own service only,
        # and a CLI run that touches two services need not split 20,000 names.
        self._cuts: list[list[int] | None] = [None] * self.size
        if granularity == "char":
            self._cuts = []
            self._prefix_of_next = [
                i + 1 < self.size and self.names[i + 1].startswith(self.names[i])
                for i in range(self.size)
            ]

    def _word_cuts(self, i: int) -> list[int]:
        """The lengths of the word nodes that are prefixes of action ``i``, computed (with
        those of every action of the same service) on first use.

        One sweep over the service's nodes and names merged in sorted order: a node
        sorts before every name it prefixes, so the stack holds exactly the nodes that
        prefix the current item, shortest first.
        """
        cached = self._cuts[i]
        if cached is not None:
            return cached
        lo, hi = self.range_of(self.names[i].partition(":")[0] + ":")
        nodes: set[str] = set()
        for k in range(lo, hi):
            lower = self.names[k]
            for cut in word_boundaries(self.canon[k]):
                nodes.add(lower[:cut])
        items = sorted([(n, -1) for n in nodes] + [(self.names[k], k) for k in range(lo, hi)])
        stack: list[str] = []
        for text, k in items:
            while stack and not text.startswith(stack[-1]):
                stack.pop()
            if k < 0:
                stack.append(text)
            else:
                self._cuts[k] = [len(node) for node in stack]
        result = self._cuts[i]
        assert result is not None
        return result

    def range_of(self, prefix: str) -> tuple[int, int]:
        """The index range of the actions whose lowercase name starts with ``prefix``
        (which must already be lowercase)."""
        lo = bisect_left(self.names, prefix)
        if not prefix:
            return lo, self.size
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return lo, bisect_left(self.names, upper, lo)

    def matching(self, q: str) -> range | list[int]:
        """The positions of the actions that ``q`` (a normalized, lowercase action
        pattern) matches: a range when ``q`` is a literal followed by one ``*``."""
        if not has_wildcard(q):
            i = self.position.get(q)
            return [] if i is None else [i]
        lit = literal_prefix(q)
        lo, hi = self.range_of(lit)
        if q == lit + "*":
            return range(lo, hi)
        rx = compile_glob(q, fold_case=True)
        names = self.names
        return [i for i in range(lo, hi) if rx.fullmatch(names[i])]

    def next_cut(self, i: int, plen: int) -> int | None:
        """The length of the shortest node longer than ``plen`` that is a prefix of
        action ``i``, or None when the action's exact leaf comes next."""
        if self.granularity == "char":
            n = len(self.names[i])
            if plen + 1 < n or (plen + 1 == n and self._prefix_of_next[i]):
                return plen + 1
            return None
        cuts = self._word_cuts(i)
        j = bisect_right(cuts, plen)
        return cuts[j] if j < len(cuts) else None

    def children(self, lo: int, hi: int, plen: int) -> list[Child]:
        """The children of the node of length ``plen`` whose actions are ``[lo, hi)``.

        Every action in the range must start with the node's prefix. Children come
        in name order and partition the range.
        """
        names = self.names
        out: list[Child] = []
        i = lo
        if self.granularity == "word":
            cuts = self._cuts
            while i < hi:
                mine = cuts[i]
                if mine is None:
                    mine = self._word_cuts(i)
                j = bisect_right(mine, plen)
                if j == len(mine):
                    out.append((None, i, i + 1))
                    i += 1
                    continue
                cut = mine[j]
                prefix = names[i][:cut]
                end = bisect_left(names, prefix[:-1] + chr(ord(prefix[-1]) + 1), i, hi)
                out.append((cut, i, end))
                i = end
            return out
        while i < hi:
            next_cut = self.next_cut(i, plen)
            if next_cut is None:
                out.append((None, i, i + 1))
                i += 1
                continue
            prefix = names[i][:next_cut]
            end = bisect_left(names, prefix[:-1] + chr(ord(prefix[-1]) + 1), i, hi)
            out.append((next_cut, i, end))
            i = end
        return out

    def services(self) -> dict[str, tuple[int, int]]:
        """Lowercase service prefix to its index range."""
        if self._services is None:
            out: dict[str, tuple[int, int]] = {}
            i = 0
            while i < self.size:
                service = self.names[i].partition(":")[0]
                out[service] = self.range_of(service + ":")
                i = out[service][1]
            self._services = out
        return self._services


def catalog_index(catalog: Catalog, granularity: Granularity = "word") -> CatalogIndex:
    """The index of ``catalog`` at ``granularity``, built once and cached by digest."""
    key = (catalog.digest, granularity)
    index = _CACHE.get(key)
    if index is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.pop(next(iter(_CACHE)))
        index = CatalogIndex(catalog, granularity)
        _CACHE[key] = index
    return index
