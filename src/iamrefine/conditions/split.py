"""Condition blocks split by condition key (Lemma 12 of ``proofs/THEOREMS.md``).

The full semantics (:mod:`.smt`) gives every condition key its own request symbols (its
value slots and their typed views), and each entry of a block reads only the symbols of
its own key and of the keys its values name as policy variables. So the keys fall into
*components*: two keys are in one component when some entry reads both. A block is the
conjunction of its parts on each component, and parts on different components share no
symbol.
"""

from __future__ import annotations

from collections.abc import Iterable

from iamrefine.conditions.values import _VAR, lower, scalar_text
from iamrefine.model import VERSION_2012, Condition, ConditionClause, ConditionEntry

Component = frozenset[str]


def entry_keys(entry: ConditionEntry, version: str) -> set[str]:
    """The (lowercased) keys whose symbols an entry reads: its own, and under
    2012-10-17 the key of each policy variable in its values."""
    keys = {lower(entry.key)}
    if version == VERSION_2012:
        for value in entry.values:
            for m in _VAR.finditer(scalar_text(value)):
                name = m.group(1).strip()
                if name not in ("*", "?", "$") and "," not in name:
                    keys.add(lower(name))
    return keys


def components(blocks: Iterable[tuple[Condition, str]]) -> dict[str, Component]:
    """Each key of ``blocks`` (a block with its policy version) mapped to its component:
    the keys linked to it by entries that read both."""
    parent: dict[str, str] = {}

    def find(k: str) -> str:
        parent.setdefault(k, k)
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for condition, version in blocks:
        for clause in condition.clauses:
            for entry in clause.entries:
                keys = sorted(entry_keys(entry, version))
                root = find(keys[0])
                for k in keys[1:]:
                    other = find(k)
                    if other != root:
                        parent[other] = root
    groups: dict[str, set[str]] = {}
    for k in parent:
        groups.setdefault(find(k), set()).add(k)
    out: dict[str, Component] = {}
    for members in groups.values():
        frozen = frozenset(members)
        for k in members:
            out[k] = frozen
    return out


def restrict(
    condition: Condition, version: str, component: Component, of: dict[str, Component]
) -> Condition | None:
    """The part of ``condition`` on ``component`` (its entries whose key is in it, in
    source order), or None when it has none (the part is then true)."""
    clauses = []
    for clause in condition.clauses:
        entries = [e for e in clause.entries if of[lower(e.key)] == component]
        if entries:
            clauses.append(ConditionClause(operator=clause.operator, entries=entries))
    return Condition(clauses=clauses) if clauses else None


def parts_by_component(
    condition: Condition, of: dict[str, Component]
) -> dict[Component, Condition]:
    """Every part of ``condition`` (:func:`restrict`), by component, in one pass."""
    grouped: dict[Component, dict[int, list[ConditionEntry]]] = {}
    for ci, clause in enumerate(condition.clauses):
        for e in clause.entries:
            grouped.setdefault(of[lower(e.key)], {}).setdefault(ci, []).append(e)
    return {
        comp: Condition(
            clauses=[
                ConditionClause(operator=condition.clauses[ci].operator, entries=entries)
                for ci, entries in sorted(by_clause.items())
            ]
        )
        for comp, by_clause in grouped.items()
    }


def block_components(condition: Condition, of: dict[str, Component]) -> list[Component]:
    """The components ``condition`` has entries on, in a fixed order."""
    found = {of[lower(e.key)] for c in condition.clauses for e in c.entries}
    return sorted(found, key=lambda comp: sorted(comp))
