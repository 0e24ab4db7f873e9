"""Write a :class:`~iamrefine.model.Policy` back to JSON text.

The writer keeps what the parser recorded: element order (``keys``), whether each
element was a single string or a list (``is_list``), Condition and Principal blocks
as written (including the JSON types of condition values), and the source layout
(indent width, single line, trailing newline). ``parse_policy(dump_policy(p)) == p``.
"""

from __future__ import annotations

import json
from typing import Any

from iamrefine.model import (
    STATEMENT_ELEMENTS,
    TOP_LEVEL_ELEMENTS,
    Layout,
    Policy,
    Statement,
    ValueList,
)


def _values(element: ValueList) -> str | list[str]:
    if element.is_list or len(element.values) != 1:
        return list(element.values)
    return element.values[0]


def _statement_elements(statement: Statement) -> dict[str, Any]:
    present: dict[str, Any] = {}
    if statement.sid is not None:
        present["Sid"] = statement.sid
    present["Effect"] = statement.effect
    if statement.principal is not None:
        present["Principal"] = statement.principal
    if statement.not_principal is not None:
        present["NotPrincipal"] = statement.not_principal
    for name, element in (
        ("Action", statement.action),
        ("NotAction", statement.not_action),
        ("Resource", statement.resource),
        ("NotResource", statement.not_resource),
    ):
        if element is not None:
            present[name] = _values(element)
    if statement.condition is not None:
        present["Condition"] = statement.condition.to_json()
    return present


def _ordered(present: dict[str, Any], keys: list[str], default: tuple[str, ...]) -> dict[str, Any]:
    """``present`` in the order of ``keys``; elements not listed follow in ``default`` order."""
    out = {k: present[k] for k in keys if k in present}
    for k in default:
        if k in present and k not in out:
            out[k] = present[k]
    return out


def statement_to_json(statement: Statement) -> dict[str, Any]:
    """One statement as an ordered JSON object."""
    return _ordered(_statement_elements(statement), statement.keys, STATEMENT_ELEMENTS)


def policy_to_json(policy: Policy) -> dict[str, Any]:
    """The policy as an ordered JSON object, in source element order and form."""
    statements = [statement_to_json(s) for s in policy.statements]
    present: dict[str, Any] = {}
    if policy.version is not None:
        present["Version"] = policy.version
    if policy.id is not None:
        present["Id"] = policy.id
    if policy.statement_is_list or len(statements) != 1:
        present["Statement"] = statements
    else:
        present["Statement"] = statements[0]
    return _ordered(present, policy.keys, TOP_LEVEL_ELEMENTS)


def dump_policy(policy: Policy, layout: Layout | None = None) -> str:
    """The policy as JSON text, laid out like ``json.dumps(indent=N)`` per ``layout``.

    ``layout`` defaults to ``policy.layout`` (the layout detected when parsing).
    Characters are written as themselves (``ensure_ascii=False``), since policies may
    contain U+0080..U+00FF.
    """
    lay = layout if layout is not None else policy.layout
    text = json.dumps(policy_to_json(policy), indent=lay.indent, ensure_ascii=False)
    return text + "\n" if lay.trailing_newline else text


def non_whitespace_length(text: str) -> int:
    """The number of characters in ``text`` other than ASCII whitespace (space, tab,
    LF, CR, FF, VT), as AWS counts policy size against its quotas.

    Unicode spaces such as U+00A0 count, as they can only occur inside strings."""
    return len(text) - sum(text.count(ch) for ch in " \t\n\r\f\v")
