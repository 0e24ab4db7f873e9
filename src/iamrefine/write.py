"""Write a :class:`~iamrefine.model.Policy` back to JSON text.

The writer keeps what the parser recorded: element order (``keys``), whether each
element was a single string or a list (``is_list``), Condition and Principal blocks
as written (including the JSON types of condition values, and each number's source
text), and the source layout (indent width, single line, trailing newline).
``parse_policy(dump_policy(p)) == p``.
"""

from __future__ import annotations

import json
from typing import Any

from iamrefine.model import (
    STATEMENT_ELEMENTS,
    TOP_LEVEL_ELEMENTS,
    Layout,
    Number,
    Policy,
    Statement,
    ValueList,
)


class _HasNumber(Exception):
    pass


def _refuse(value: Any) -> Any:
    if isinstance(value, Number):
        raise _HasNumber
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_text(value: Any, *, indent: int | None = None, compact: bool = False) -> str:
    """``json.dumps(value, indent=indent, ensure_ascii=False)`` (with ``compact``: sorted
    keys and no spaces), except that a :class:`~iamrefine.model.Number` is written as
    its lexeme. Values without numbers take the C encoder."""
    try:
        if compact:
            return json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_refuse
            )
        return json.dumps(value, indent=indent, ensure_ascii=False, default=_refuse)
    except _HasNumber:
        pass
    out: list[str] = []
    _emit(value, out, indent=None if compact else indent, compact=compact, level=0)
    return "".join(out)


def _emit(value: Any, out: list[str], *, indent: int | None, compact: bool, level: int) -> None:
    # The layout of json.dumps: ", " and ": " on one line, "," and ": " with an indent.
    if isinstance(value, Number):
        out.append(value.lexeme)
        return
    if not isinstance(value, dict | list | tuple):
        out.append(json.dumps(value, ensure_ascii=False, default=_refuse))
        return
    items: list[tuple[str | None, Any]]
    if isinstance(value, dict):
        keys = sorted(value) if compact else list(value)
        items = [(k, value[k]) for k in keys]
        opening, closing = "{", "}"
    else:
        items = [(None, v) for v in value]
        opening, closing = "[", "]"
    if not items:
        out.append(opening + closing)
        return
    if indent is None:
        inner, outer, comma = "", "", "," if compact else ", "
    else:
        inner = "\n" + " " * (indent * (level + 1))
        outer = "\n" + " " * (indent * level)
        comma = ","
    colon = ":" if compact else ": "
    out.append(opening)
    for i, (key, item) in enumerate(items):
        out.append((comma if i else "") + inner)
        if key is not None:
            out.append(json.dumps(key, ensure_ascii=False) + colon)
        _emit(item, out, indent=indent, compact=compact, level=level + 1)
    out.append(outer + closing)


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
    text = json_text(policy_to_json(policy), indent=lay.indent)
    return text + "\n" if lay.trailing_newline else text


def non_whitespace_length(text: str) -> int:
    """The number of characters in ``text`` other than ASCII whitespace (space, tab,
    LF, CR, FF, VT), as AWS counts policy size against its quotas.

    Unicode spaces such as U+00A0 count, as they can only occur inside strings."""
    return len(text) - sum(text.count(ch) for ch in " \t\n\r\f\v")
