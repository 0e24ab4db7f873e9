"""The class partition, checked independently of the encoder that built it.

:class:`Signatures` computes each catalog action's signature with the concrete matcher
(:meth:`iamrefine.catalog.Catalog.expand`, which is :mod:`iamrefine.glob`) rather than
:func:`iamrefine.encode.build_partition`: the checker keeps this second, deliberately
independent implementation so that a fault in the encoder's partition cannot confirm
itself. The partition is also compared with the re-derived one
(:func:`partition_record`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from iamrefine.certificate.report import examples
from iamrefine.certificate.schema import LABELS, ClassRecord, PartitionRecord, Signature

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.encode import Partition
    from iamrefine.model import Policy

Sig = tuple[tuple[int, ...], tuple[int, ...], bool]


class Signatures:
    """Each catalog action's signature, computed with the concrete matcher: for each
    policy, the statements whose action element matches the action, and whether it is
    unused. Actions that no pattern matches and that are not unused all share one
    signature (the NotAction statements), so only the others are stored."""

    def __init__(
        self, catalog: Catalog, policies: Sequence[Policy | None], unused: frozenset[str]
    ) -> None:
        self.catalog = catalog
        hits: list[list[tuple[int, set[str], bool]]] = []
        touched: set[str] = set(unused)
        for policy in policies:
            rows = []
            for si, st in enumerate(policy.statements if policy is not None else []):
                hit: set[str] = set()
                for p in st.action_element.values:
                    hit.update(catalog.expand(p))
                touched |= hit
                rows.append((si, hit, st.uses_not_action))
            hits.append(rows)
        self._hits = hits
        self.default: Sig = (
            tuple(si for si, _, neg in hits[0] if neg),
            tuple(si for si, _, neg in hits[1] if neg),
            False,
        )
        self.touched = {name: self._compute(name, unused) for name in touched}

    def _compute(self, name: str, unused: frozenset[str]) -> Sig:
        a, b = (tuple(si for si, hit, neg in rows if (name in hit) != neg) for rows in self._hits)
        return (a, b, name in unused)

    def get(self, name: str) -> Sig | None:
        """The signature of lowercase ``name``, None when it is not a catalog action."""
        if name not in self.catalog.by_lower:
            return None
        return self.touched.get(name, self.default)


def _runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted positions as half-open ranges, increasing and not touching."""
    out: list[tuple[int, int]] = []
    for pos in sorted(positions):
        if out and out[-1][1] == pos:
            out[-1] = (out[-1][0], pos + 1)
        else:
            out.append((pos, pos + 1))
    return out


def partition_record(partition: Partition, catalog: Catalog) -> PartitionRecord:
    """The partition as a certificate records it: each class's members as ranges of
    positions in ``catalog`` (sorted by lowercase name), and its signature."""
    position = {name: i for i, name in enumerate(catalog.lower_names)}
    classes = []
    for c in partition.classes:
        sig = {label: sorted(m) for label, m in zip(partition.labels, c.matches, strict=True)}
        classes.append(
            ClassRecord(
                index=c.index,
                ranges=_runs(position[m] for m in c.members),
                signature=Signature(
                    original=sig.get(LABELS[0], []),
                    refined=sig.get(LABELS[1], []),
                    unused=bool(c.unused),
                ),
            )
        )
    return PartitionRecord(classes=classes)


def check_partition(
    pi: int, record: PartitionRecord, catalog: Catalog, signatures: Signatures
) -> list[str]:
    """Problems with partition ``pi`` (none: the classes' ranges cover the catalog's
    positions exactly once, and every member has its class's signature)."""
    problems: list[str] = []
    where = f"partition {pi}"
    names = catalog.lower_names
    size = len(names)
    owner = [-1] * size
    overlaps: list[tuple[int, int, int]] = []
    visited = 0
    for k, cls in enumerate(record.classes):
        if cls.index != k:
            problems.append(f"{where}: class {k} is numbered {cls.index}")
        if not cls.ranges:
            problems.append(f"{where}: class {k} is empty")
        want = (tuple(cls.signature.original), tuple(cls.signature.refined), cls.signature.unused)
        wrong = []
        last = -1
        for start, stop in cls.ranges:
            if not start < stop <= size:
                problems.append(
                    f"{where}: class {k} has the range [{start}, {stop}), which is not a "
                    f"non-empty range of the catalog's positions 0 to {size - 1}"
                )
                continue
            if start <= last:
                problems.append(
                    f"{where}: class {k}'s ranges are not increasing and apart at [{start}, {stop})"
                )
            last = stop
            # A forged partition may repeat ranges; once more positions have been visited
            # than the catalog has, the overlaps found already make it invalid.
            if visited > size:
                continue
            visited += stop - start
            for pos in range(start, stop):
                if owner[pos] >= 0:
                    overlaps.append((pos, owner[pos], k))
                    continue
                owner[pos] = k
                sig = signatures.get(names[pos])
                if sig != want:
                    wrong.append((pos, sig))
        if wrong:
            pos, sig = wrong[0]
            assert sig is not None
            problems.append(
                f"{where}: {len(wrong)} member(s) of class {k} do not have its signature "
                f"(original {list(want[0])}, refined {list(want[1])}, unused {want[2]}); "
                f"e.g. `{catalog.actions[pos]}` has original {list(sig[0])}, refined "
                f"{list(sig[1])}, unused {sig[2]}"
            )
    if overlaps:
        pos, first, second = overlaps[0]
        problems.append(
            f"{where}: {len(overlaps)} position(s) are in more than one class; e.g. "
            f"`{catalog.actions[pos]}` (position {pos}) is in class {first} and class {second}"
        )
    missing = [catalog.actions[pos] for pos in range(size) if owner[pos] < 0]
    if missing:
        problems.append(
            f"{where}: {len(missing)} catalog action(s) are in no class: {examples(missing)}"
        )
    return problems
