"""The refiner's messages about its inputs: unused actions that change nothing, and
patterns that name no catalog action."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from iamrefine.glob import ascii_lower
from iamrefine.refine.trie import CatalogIndex


def ineffective_unused(
    index: CatalogIndex,
    unused_sorted: Sequence[int],
    flags: bytearray,
    allowed: bytearray,
    whole: Collection[str],
) -> list[str]:
    """Warnings about the parts of the unused-actions input that change nothing:
    ``unused_sorted`` are the catalog positions of the unused actions (``flags`` marks
    them), ``allowed`` marks those that some Allow statement allows, ``whole`` the
    services given whole."""
    if not unused_sorted:
        return ["the unused-actions input lists no catalog actions; the policy is unchanged"]
    if allowed == flags:
        return []
    out = []
    names = index.names
    idle = [
        i
        for i in unused_sorted
        if not allowed[i] and (not whole or names[i].partition(":")[0] not in whole)
    ]
    if idle:
        n = len(idle)
        out.append(
            f"{n} unused action{' is' if n == 1 else 's are'} not allowed by the policy "
            f"and change{'s' if n == 1 else ''} nothing: " + listing([index.canon[i] for i in idle])
        )
    services = []
    for service in sorted(whole):
        lo, hi = index.range_of(service + ":")
        if lo < hi and allowed.find(1, lo, hi) < 0:
            services.append(index.canon[lo].partition(":")[0])
    if services:
        n = len(services)
        out.append(
            f"{n} unused service{' given whole has' if n == 1 else 's given whole have'} "
            f"no action that the policy allows and change{'s' if n == 1 else ''} nothing: "
            + listing(services)
        )
    return out


def listing(names: list[str], limit: int = 5) -> str:
    """``names`` in backticks, at most ``limit`` of them, then how many more."""
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    if len(names) > limit:
        shown += f" (and {len(names) - limit:,} more)"
    return shown


def unknown_message(pattern: str, index: CatalogIndex) -> str:
    """The warning for a pattern that names no catalog action."""
    service = ascii_lower(pattern).partition(":")[0]
    if service not in index.services():
        return f"unknown service in `{pattern}` (not in the catalog); kept as written"
    return f"unknown action `{pattern}` (not in the catalog); kept as written"
