"""Splitting a refined policy across several managed policies, each within the quota.

Identity policies attached to one principal allow a request iff one of them allows it
and none denies it: exactly what one policy holding all their statements does. So a
policy's statements can be spread over several policies, and an Allow statement with
Action can be cut into several statements with the same other elements whose Action
lists together are the original list (a statement matches iff its action element,
resource element and condition all do, so the cut statements together match exactly
what the whole one does). The checker proves the concatenation of the parts.

An Allow statement with NotAction is cut by service instead: piece k keeps the
statement's other elements, and its NotAction list names every catalog service
outside a run of services S_k (as prefix patterns ``p*:*`` over the service names,
which match no action of S_k), plus the values that may match an action of S_k.
Over the catalog, piece k allows exactly what the statement allows of S_k, and the
runs cover every service. A value left out of piece k names a service outside S_k
literally (``svc:...``), so the piece's prefix patterns match every string it does:
no piece allows a string that the statement does not, known action or not.

The split keeps the statements in order ("next fit"): each policy takes statements
until the next one does not fit; an Allow statement with Action or NotAction that
does not fit is cut, filling the current policy and continuing in the next ones.
Deny statements are never cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iamrefine.glob import ascii_lower, literal_prefix
from iamrefine.write import json_text, non_whitespace_length, policy_to_json, statement_to_json

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.model import Policy, Statement
    from iamrefine.refine.engine import RefineResult


def compact_size(data: object) -> int:
    """Non-whitespace characters of a JSON value, as AWS counts them."""
    return non_whitespace_length(json_text(data, compact=True))


def policy_size(policy: Policy) -> int:
    """Non-whitespace characters of a policy document."""
    return compact_size(policy_to_json(policy))


@dataclass(frozen=True)
class Split:
    """The statements of each part (in order) and where each came from.

    ``statements`` is the concatenation of the parts; ``parts[k]`` lists the indices
    into it of part k's statements; ``origin[j]`` is the index of the unsplit policy's
    statement that statement j is (a piece of)."""

    statements: list[Statement]
    parts: list[list[int]]
    origin: list[int]
    sizes: list[int]


def envelope_size(policy: Policy) -> int:
    """The characters of the policy with no statement (``"Statement":[]``)."""
    return policy_size(policy.model_copy(update={"statements": []}))


def split_policy(
    policy: Policy, quota: int, max_parts: int, catalog: Catalog | None = None
) -> Split | None:
    """Split ``policy``'s statements into at most ``max_parts`` policies of at most
    ``quota`` non-whitespace characters each; None when that is impossible this way.
    NotAction statements are cut only with the ``catalog`` whose services they split."""
    base = envelope_size(policy)
    room = quota - base
    statements: list[Statement] = []
    parts: list[list[int]] = [[]]
    origin: list[int] = []
    used = [0]

    def place(st: Statement, size: int, src: int) -> None:
        # A comma separates statements after the first.
        used[-1] += size + (1 if parts[-1] else 0)
        parts[-1].append(len(statements))
        statements.append(st)
        origin.append(src)

    def open_part() -> bool:
        if len(parts) >= max_parts:
            return False
        parts.append([])
        used.append(0)
        return True

    for j, st in enumerate(policy.statements):
        size = compact_size(statement_to_json(st))
        gap = 1 if parts[-1] else 0
        if used[-1] + gap + size <= room:
            place(st, size, j)
            continue
        if catalog is not None and st.is_allow and st.not_action is not None and size > room:
            pieces = None
            if parts[-1] and room - used[-1] - gap >= _MIN_PIECE:
                pieces = _service_pieces(st, catalog, room - used[-1] - gap, room)
            if pieces is None:
                if parts[-1] and not open_part():
                    return None
                pieces = _service_pieces(st, catalog, room, room)
            if pieces is None:
                return None
            for k, piece in enumerate(pieces):
                if k and not open_part():
                    return None
                place(piece, compact_size(statement_to_json(piece)), j)
            continue
        cuttable = st.is_allow and st.action is not None and len(st.action.values) > 1
        if not cuttable:
            if size > room or not open_part():
                return None
            place(st, size, j)
            continue
        assert st.action is not None
        values = list(st.action.values)
        skeleton = compact_size(statement_to_json(st.with_actions([], not_action=False)))
        while values:
            gap = 1 if parts[-1] else 0
            free = room - used[-1] - gap - skeleton
            take = _fitting(values, free)
            if take == len(values):
                piece = st.with_actions(values, not_action=False)
            elif take == 0:
                if not parts[-1] or not open_part():
                    return None
                continue
            else:
                piece = st.with_actions(values[:take], not_action=False)
            place(piece, compact_size(statement_to_json(piece)), j)
            values = values[take:]
            if values and not open_part():
                return None
    sizes = [
        envelope_size(policy)
        + sum(compact_size(statement_to_json(statements[k])) for k in part)
        + max(len(part) - 1, 0)
        for part in parts
    ]
    if any(s > quota for s in sizes):
        return None
    return Split(statements, parts, origin, sizes)


_ESCAPED = re.compile(r'[\x00-\x1f\\"]')
"""The characters that ``json.dumps`` escapes in a string (with ``ensure_ascii=False``)."""

_MIN_PIECE = 512
"""Room below which a cut NotAction statement starts in a new policy instead."""


def outside_services(services: Sequence[str], inside: set[str]) -> list[str]:
    """Patterns that match every action of the ``services`` not in ``inside`` and no
    action of those in it: ``p*:*`` for each shortest prefix p under which the sorted
    service names hold no service of ``inside`` (``svc:*`` when p is a whole name)."""
    out: list[str] = []

    def walk(keys: list[tuple[str, bool]], depth: int) -> None:
        if all(kept for _, kept in keys):
            return
        if not any(kept for _, kept in keys):
            prefix = keys[0][0][:depth]
            out.append(prefix + "*" if prefix.endswith(":") else prefix + "*:*")
            return
        # Both kinds below: every key is longer than depth (a key ends with its only
        # colon, so no key is a prefix of another).
        start = 0
        for end in range(1, len(keys) + 1):
            if end == len(keys) or keys[end][0][depth] != keys[start][0][depth]:
                walk(keys[start:end], depth + 1)
                start = end

    walk(sorted((s + ":", s in inside) for s in services), 0)
    return out


def _service_of(value: str) -> str | None:
    """The service a NotAction value names literally (``svc:...``), or None."""
    head = ascii_lower(literal_prefix(value))
    service, colon, _ = head.partition(":")
    return service if colon else None


def _service_pieces(
    st: Statement, catalog: Catalog, first_room: int, room: int
) -> list[Statement] | None:
    """``st`` (Allow with NotAction) cut by runs of services (module docstring), the
    first piece within ``first_room`` characters and the others within ``room``; None
    when a piece of one service does not fit."""
    assert st.not_action is not None
    values = list(st.not_action.values)
    services = sorted(catalog.services)
    named: dict[str, int] = {}
    everywhere = 0
    service_of = [_service_of(v) for v in values]
    for v, service in zip(values, service_of, strict=True):
        cost = pattern_cost(v)
        if service is not None and service in catalog.services:
            named[service] = named.get(service, 0) + cost
        else:
            everywhere += cost
    skeleton = compact_size(statement_to_json(st.with_actions([], not_action=True)))

    def size(run: list[str]) -> int:
        # Each value costs its JSON string and a comma; the list has one comma fewer.
        inside = set(run)
        outside = sum(pattern_cost(p) for p in outside_services(services, inside))
        return skeleton + outside + everywhere + sum(named.get(s, 0) for s in run) - 1

    def piece(run: list[str]) -> Statement:
        inside = set(run)
        kept = [
            v
            for v, service in zip(values, service_of, strict=True)
            if service is None or service not in catalog.services or service in inside
        ]
        return st.with_actions(kept + outside_services(services, inside), not_action=True)

    runs: list[list[str]] = []
    run: list[str] = []
    free = first_room
    for service in services:
        if size([*run, service]) <= free:
            run.append(service)
            continue
        if not run or size([service]) > room:
            return None
        runs.append(run)
        run, free = [service], room
    runs.append(run)
    return [piece(r) for r in runs]


def cuts_by_service(st: Statement, catalog: Catalog, room: int) -> bool:
    """Can Allow-with-NotAction ``st`` be cut by service into pieces of ``room``
    characters each?"""
    return _service_pieces(st, catalog, room, room) is not None


def pattern_cost(pattern: str) -> int:
    """The non-whitespace characters a pattern adds to an Action or NotAction list: its
    JSON string and one comma."""
    return _json_string_length(pattern) + 1


def _json_string_length(text: str) -> int:
    """``len(json.dumps(text, ensure_ascii=False))``, without building the string when
    nothing in it is escaped (every action name): the optimizer prices hundreds of
    thousands of candidates."""
    if _ESCAPED.search(text) is None:
        return len(text) + 2
    return len(json.dumps(text, ensure_ascii=False))


def _fitting(values: list[str], free: int) -> int:
    """How many of ``values``, from the first, fit in ``free`` characters of an
    Action list (the list's brackets are counted in the skeleton)."""
    total = 0
    for n, v in enumerate(values):
        total += _json_string_length(v) + (1 if n else 0)
        if total > free:
            return n
    return len(values)


def merged(result: RefineResult) -> RefineResult:
    """``result`` as one policy: the policy before its split, with no parts. It allows
    exactly what the parts' concatenation allows over the catalog (see the module
    docstring); certificates, whose structure check wants one refined statement per
    origin, record this form."""
    from dataclasses import replace

    if not result.parts or result.policy is None:
        return result
    assert result.unsplit is not None, "a split result keeps the policy it was split from"
    policy, origin = result.unsplit
    return replace(result, policy=policy, statement_origin=list(origin), parts=[], unsplit=None)
