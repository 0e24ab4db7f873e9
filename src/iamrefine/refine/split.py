"""Splitting a refined policy across several managed policies, each within the quota.

Identity policies attached to one principal allow a request iff one of them allows it
and none denies it: exactly what one policy holding all their statements does. So a
policy's statements can be spread over several policies, and an Allow statement with
Action can be cut into several statements with the same other elements whose Action
lists together are the original list (a statement matches iff its action element,
resource element and condition all do, so the cut statements together match exactly
what the whole one does). The checker proves the concatenation of the parts.

The split keeps the statements in order ("next fit"): each policy takes statements
until the next one does not fit; an Allow statement with Action that does not fit is
cut, filling the current policy and continuing in the next one. Other statements
(Deny, NotAction) are never cut.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iamrefine.write import json_text, non_whitespace_length, policy_to_json, statement_to_json

if TYPE_CHECKING:
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


def split_policy(policy: Policy, quota: int, max_parts: int) -> Split | None:
    """Split ``policy``'s statements into at most ``max_parts`` policies of at most
    ``quota`` non-whitespace characters each; None when that is impossible this way."""
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


def _fitting(values: list[str], free: int) -> int:
    """How many of ``values``, from the first, fit in ``free`` characters of an
    Action list (the list's brackets are counted in the skeleton)."""
    total = 0
    for n, v in enumerate(values):
        total += len(json.dumps(v, ensure_ascii=False)) + (1 if n else 0)
        if total > free:
            return n
    return len(values)


def merged(result: RefineResult) -> RefineResult:
    """``result`` as one policy: the pieces of each cut statement (consecutive, with one
    origin) joined back into one statement, and no parts. Its policy allows exactly
    what the parts' concatenation allows (see the module docstring); certificates,
    whose structure check wants one refined statement per origin, record this form."""
    from dataclasses import replace

    if not result.parts or result.policy is None:
        return result
    statements: list[Statement] = []
    origin: list[int] = []
    for st, src in zip(result.policy.statements, result.statement_origin, strict=True):
        if origin and origin[-1] == src:
            prev = statements[-1]
            assert prev.action is not None and st.action is not None
            statements[-1] = prev.with_actions(
                [*prev.action.values, *st.action.values], not_action=False
            )
            continue
        statements.append(st)
        origin.append(src)
    policy = result.policy.model_copy(update={"statements": statements})
    return replace(result, policy=policy, statement_origin=origin, parts=[])
