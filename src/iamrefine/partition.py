"""Policies compiled for the prover, and the action-class partition (pure Python, no
solver): layers 1 and 2 of :mod:`iamrefine.encode`, which builds the SMT terms on them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from iamrefine.catalog import Catalog
from iamrefine.glob import (
    WILDCARDS,
    action_matches,
    ascii_lower,
    compile_glob,
    normalize,
)
from iamrefine.glob import literal_prefix as _glob_literal_prefix
from iamrefine.memo import forgettable, on_forget
from iamrefine.model import Condition, Policy
from iamrefine.reference import (
    condition_key,
    is_variable_element,
    principal_key,
    resource_variable_key,
)

# --- compilation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """Everything in a statement but its effect and action element.

    ``resource_kind`` is ``Resource``, ``NotResource`` or ``""`` (no resource element:
    every resource). ``resources`` is the sorted set of elements, each ``("glob", text)``
    or ``("var", atom key)`` for an element with a policy variable under 2012-10-17.
    ``condition`` and ``principal`` are atom keys or None.
    """

    resource_kind: str
    resources: tuple[tuple[str, str], ...]
    condition: str | None
    principal: str | None


@dataclass(frozen=True)
class CompiledStatement:
    """One statement, ready for encoding. ``index`` is its 0-based position in the policy;
    ``patterns`` is the sorted set of normalized, ASCII-lowercased action patterns."""

    index: int
    allow: bool
    not_action: bool
    patterns: tuple[str, ...]
    frame: Frame
    condition: Condition | None = field(default=None, compare=False, repr=False)
    version: str = field(default="", compare=False, repr=False)

    @property
    def key(self) -> tuple[bool, bool, tuple[str, ...], Frame]:
        """The statement's meaning up to pattern case and order: equal keys, equal semantics."""
        return (self.allow, self.not_action, self.patterns, self.frame)


@forgettable
@lru_cache(maxsize=1 << 16)
def lower_pattern(pattern: str) -> str:
    """The normalized, ASCII-lowercased form of an action pattern."""
    return normalize(ascii_lower(pattern))


@forgettable
@lru_cache(maxsize=1 << 16)
def literal_prefix(pattern: str) -> str:
    """:func:`iamrefine.glob.literal_prefix`, memoized (patterns recur across queries)."""
    return _glob_literal_prefix(pattern)


def compile_policy(policy: Policy | None) -> tuple[CompiledStatement, ...]:
    """Compile every statement of ``policy`` (None, a detached policy, has none)."""
    if policy is None:
        return ()
    version = policy.effective_version
    out = []
    for i, st in enumerate(policy.statements):
        patterns = tuple(sorted({lower_pattern(p) for p in st.action_element.values}))
        if st.resource is not None:
            kind, element = "Resource", st.resource.values
        elif st.not_resource is not None:
            kind, element = "NotResource", st.not_resource.values
        else:
            kind, element = "", []
        resources = tuple(
            sorted(
                {
                    ("var", resource_variable_key(v, version))
                    if is_variable_element(v, version)
                    else ("glob", normalize(v))
                    for v in element
                }
            )
        )
        cond = condition_key(st.condition, version) if st.condition is not None else None
        frame = Frame(kind, resources, cond, principal_key(st))
        out.append(
            CompiledStatement(
                i, st.is_allow, st.uses_not_action, patterns, frame, st.condition, version
            )
        )
    return tuple(out)


def service_key(pattern: str) -> str:
    """The literal text a pattern's matches all start with, up to and including the first
    colon (``s3:get*`` -> ``s3:``); the whole literal prefix when it has no colon."""
    lp = literal_prefix(pattern)
    colon = lp.find(":")
    return lp[: colon + 1] if colon >= 0 else lp


def compatible(prefix_a: str, prefix_b: str) -> bool:
    """Can strings starting with ``prefix_a`` also start with ``prefix_b``? (One is a prefix
    of the other.) When not, the two literal prefixes' patterns match disjoint sets."""
    n = min(len(prefix_a), len(prefix_b))
    return prefix_a[:n] == prefix_b[:n]


def common_prefix(texts: Sequence[str]) -> str:
    """The longest text that every one of ``texts`` starts with ("" for none)."""
    if not texts:
        return ""
    lo, hi = min(texts), max(texts)
    n = 0
    while n < len(lo) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


def matches_lowered(pattern: str, action: str) -> bool:
    """:func:`iamrefine.glob.action_matches` for a lowered pattern and a lowercase action,
    without compiling the pattern when its literal prefix already decides."""
    lp = literal_prefix(pattern)
    if not action.startswith(lp):
        return False
    return lp == action if lp == pattern else action_matches(pattern, action)


def literal_suffix(pattern: str) -> str:
    """The pattern's text after its last wildcard (the whole pattern when it has none)."""
    for i in range(len(pattern) - 1, -1, -1):
        if pattern[i] in WILDCARDS:
            return pattern[i + 1 :]
    return pattern


def common_affixes(patterns: Iterable[str]) -> tuple[str, str]:
    """The longest literal texts ``(prefix, suffix)`` such that every pattern is
    ``prefix + middle + suffix`` with a glob ``middle``: the prefix lies in every literal
    prefix, the suffix in every literal suffix, and they never overlap. Then the
    pattern's language is ``prefix . L(middle) . suffix`` (Lemma 3 of THEOREMS.md).
    ``("", "")`` for no patterns."""
    pats = list(patterns)
    if not pats:
        return "", ""
    prefix = common_prefix([literal_prefix(p) for p in pats])
    reversed_suffixes = [literal_suffix(p)[::-1] for p in pats]
    suffix = common_prefix(reversed_suffixes)[::-1]
    room = min((len(p) - len(prefix) for p in pats if literal_prefix(p) == p), default=None)
    if room is not None and len(suffix) > room:
        suffix = suffix[len(suffix) - room :]
    return prefix, suffix


# --- the class partition ------------------------------------------------------------


@dataclass(frozen=True)
class ActionClass:
    """Catalog actions with one signature. ``matches[i]`` holds the indices of the
    statements of policy ``i`` whose action element matches every member."""

    index: int
    members: tuple[str, ...]
    matches: tuple[frozenset[int], ...]
    unused: bool


@dataclass(frozen=True)
class Partition:
    """The catalog split into classes of actions that no policy statement tells apart."""

    classes: tuple[ActionClass, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def width(self) -> int:
        """Bits of the class index."""
        return max(1, (len(self.classes) - 1).bit_length())

    def to_json(self, catalog: Catalog) -> list[dict[str, Any]]:
        """Each class's members (catalog spelling) and signature, for certificates."""
        out = []
        for c in self.classes:
            sig: dict[str, Any] = {
                label: sorted(m) for label, m in zip(self.labels, c.matches, strict=True)
            }
            sig["unused"] = c.unused
            out.append(
                {
                    "index": c.index,
                    "members": [catalog.by_lower.get(m, m) for m in c.members],
                    "signature": sig,
                }
            )
        return out


class CatalogIndex:
    """Sorted lowercase catalog names; the names under a literal prefix are one range."""

    def __init__(self, catalog: Catalog) -> None:
        self.names: tuple[str, ...] = catalog.lower_names
        self.position = {n: i for i, n in enumerate(self.names)}
        self._cache: dict[str, list[int]] = {}
        self._cache_limit = 1 << 16

    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """The half-open index range of the names that start with ``prefix``."""
        lo = bisect_left(self.names, prefix)
        hi = bisect_left(self.names, prefix + "\U0010ffff", lo)
        return lo, hi

    def matching(self, pattern: str) -> list[int]:
        """Indices of the names that the lowered pattern matches."""
        hit = self._cache.get(pattern)
        if hit is not None:
            return hit
        lp = literal_prefix(pattern)
        if lp == pattern:
            i = self.position.get(pattern)
            hit = [] if i is None else [i]
        else:
            lo, hi = self.prefix_range(lp)
            if pattern == lp + "*":
                hit = list(range(lo, hi))
            else:
                rx = compile_glob(pattern, fold_case=False)
                names = self.names
                hit = [i for i in range(lo, hi) if rx.fullmatch(names[i])]
        if len(self._cache) >= self._cache_limit:
            self._cache.clear()
        self._cache[pattern] = hit
        return hit

    def forget_matches(self) -> None:
        """Empty the memo of :meth:`matching`."""
        self._cache.clear()


_INDEXES: dict[str, CatalogIndex] = {}
_INDEX_LIMIT = 4


@on_forget
def _forget_matches() -> None:
    for index in _INDEXES.values():
        index.forget_matches()


def catalog_index(catalog: Catalog) -> CatalogIndex:
    """The (cached) index of ``catalog``, keyed by its digest."""
    found = _INDEXES.get(catalog.digest)
    if found is None:
        if len(_INDEXES) >= _INDEX_LIMIT:
            _INDEXES.pop(next(iter(_INDEXES)))
        found = _INDEXES[catalog.digest] = CatalogIndex(catalog)
    return found


def build_partition(
    catalog: Catalog,
    policies: Sequence[Sequence[CompiledStatement]],
    labels: Sequence[str],
    unused: frozenset[str] = frozenset(),
    *,
    index: CatalogIndex | None = None,
) -> Partition:
    """Group the catalog's actions by signature (statements matched per policy, unused).

    Every catalog action belongs to exactly one class, the actions that no statement
    matches included. Classes are numbered in catalog order of their first member.
    """
    index = index or catalog_index(catalog)
    names = index.names
    # Each action's signature is the increasing list of its statement numbers (the
    # unused mark last). Only the actions that some statement names, or that are
    # unused, get a list of their own: every other action has the signature ``base``,
    # the NotAction statements so far, so a policy costs its matches, not the catalog.
    base: list[int] = []
    sig: dict[int, list[int]] = {}
    bits: list[tuple[int, int]] = []
    for pi, stmts in enumerate(policies):
        for st in stmts:
            b = len(bits)
            bits.append((pi, st.index))
            hit: set[int] = set()
            for p in st.patterns:
                hit.update(index.matching(p))
            if st.not_action:
                for i, named in sig.items():
                    if i not in hit:
                        named.append(b)
                for i in hit:
                    if i not in sig:
                        sig[i] = base.copy()
                base.append(b)
            else:
                for i in hit:
                    found = sig.get(i)
                    if found is None:
                        found = sig[i] = base.copy()
                    found.append(b)
    unused_bit = len(bits)
    for name in unused:
        pos = index.position.get(name)
        if pos is not None:
            sig.setdefault(pos, base.copy()).append(unused_bit)
    # A named action's signature always differs from ``base`` (it has a statement or
    # the unused mark that ``base`` lacks, or lacks a NotAction statement that ``base``
    # has), so the unnamed actions form one class of their own.
    # Classes are numbered by first member: the unnamed class comes after the named
    # classes that begin before its first member (``unnamed_at`` of them).
    groups: dict[tuple[int, ...], list[str]] = {}
    gap = 0
    unnamed: list[str] = []
    unnamed_at = 0
    for i in sorted(sig):
        if i > gap:
            if not unnamed:
                unnamed_at = len(groups)
            unnamed.extend(names[gap:i])
        gap = i + 1
        groups.setdefault(tuple(sig[i]), []).append(names[i])
    if gap < len(names):
        if not unnamed:
            unnamed_at = len(groups)
        unnamed.extend(names[gap:])
    ordered = list(groups.items())
    if unnamed:
        ordered.insert(unnamed_at, (tuple(base), unnamed))
    classes = []
    for ci, (key, members) in enumerate(ordered):
        matches: list[set[int]] = [set() for _ in policies]
        is_unused = bool(key) and key[-1] == unused_bit
        for bi in key[:-1] if is_unused else key:
            pi, si = bits[bi]
            matches[pi].add(si)
        classes.append(
            ActionClass(ci, tuple(members), tuple(frozenset(m) for m in matches), is_unused)
        )
    return Partition(tuple(classes), tuple(labels))
