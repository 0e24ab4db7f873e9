"""The class partition, checked independently of the encoder that built it.

:class:`Signatures` computes each catalog action's signature with the concrete matcher
(:meth:`iamrefine.catalog.Catalog.expand`, which is :mod:`iamrefine.glob`) rather than
:func:`iamrefine.encode.build_partition`: the checker keeps this second, deliberately
independent implementation so that a fault in the encoder's partition cannot confirm
itself. The partition is also compared with the re-derived one (:func:`rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from iamrefine.certificate.report import examples
from iamrefine.certificate.schema import LABELS, PartitionRecord
from iamrefine.glob import ascii_lower

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
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


def check_partition(
    pi: int, record: PartitionRecord, catalog: Catalog, signatures: Signatures
) -> list[str]:
    """Problems with partition ``pi`` (none: every catalog action is in exactly one
    class, and every member has its class's signature)."""
    problems: list[str] = []
    where = f"partition {pi}"
    seen: dict[str, int] = {}
    covered = 0
    for k, cls in enumerate(record.classes):
        if cls.index != k:
            problems.append(f"{where}: class {k} is numbered {cls.index}")
        if not cls.members:
            problems.append(f"{where}: class {k} is empty")
        want = (tuple(cls.signature.original), tuple(cls.signature.refined), cls.signature.unused)
        wrong = []
        for m in cls.members:
            low = m.lower() if m.isascii() else ascii_lower(m)
            if low in seen:
                problems.append(f"{where}: `{m}` is in class {seen[low]} and class {k}")
                continue
            seen[low] = k
            sig = signatures.get(low)
            if sig is None:
                problems.append(f"{where}: class {k} member `{m}` is not a catalog action")
                continue
            covered += 1
            if sig != want:
                wrong.append((m, sig))
        if wrong:
            m, sig = wrong[0]
            problems.append(
                f"{where}: {len(wrong)} member(s) of class {k} do not have its signature "
                f"(original {list(want[0])}, refined {list(want[1])}, unused {want[2]}); "
                f"e.g. `{m}` has original {list(sig[0])}, refined {list(sig[1])}, "
                f"unused {sig[2]}"
            )
    if covered != len(catalog):
        missing = [catalog.by_lower[n] for n in catalog.lower_names if n not in seen]
        problems.append(
            f"{where}: {len(missing)} catalog action(s) are in no class: {examples(missing)}"
        )
    return problems


def rows(record: PartitionRecord) -> list[dict[str, Any]]:
    """The partition in the layout of :meth:`iamrefine.encode.Partition.to_json`."""
    return [
        {
            "index": c.index,
            "members": list(c.members),
            "signature": {
                LABELS[0]: list(c.signature.original),
                LABELS[1]: list(c.signature.refined),
                "unused": c.signature.unused,
            },
        }
        for c in record.classes
    ]
