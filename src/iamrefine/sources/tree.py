"""Turn a decoded YAML or CloudFormation value into the parser's positioned tree.

cfn-lint's decoder keeps each mapping, list and string's start and end marks; they
become the tree's 1-based spans, so that the policy validator reports positions in
the original file. Intrinsic functions (``Ref``, ``Fn::*``) become *opaque* strings
in ``Resource``, ``NotResource`` and condition values, and errors elsewhere.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from iamrefine.errors import Diagnostic, PolicyError
from iamrefine.model import Number
from iamrefine.parse import PositionedMember, PositionedNode

OPAQUE_ELEMENTS = ("Resource", "NotResource")
"""Statement elements whose values may be opaque (one unknown string each)."""

MAX_NODES = 100_000
"""Most values read for one policy document: far above any policy AWS accepts (10,240
non-whitespace characters), and a bound on what YAML aliases can expand to."""

LIST_FUNCTIONS = ("Fn::Split", "Fn::GetAZs", "Fn::Cidr", "Fn::Transform")
"""Intrinsic functions that return a list, which no single opaque string stands for."""


@dataclass(frozen=True)
class Opaque:
    """A value iamrefine cannot know: a CloudFormation intrinsic function or a
    Terraform value computed at apply time.

    ``token`` is the literal string the checker sees in its place (free of ``*`` and
    ``?``, so it matches only itself); ``text`` is how the value is written in the
    source, ``value`` its decoded form (None for a Terraform value), ``where`` its
    position (``(line, column, end_line, end_column)``, 1-based, or None)."""

    token: str
    text: str
    value: Any
    where: tuple[int, int, int, int] | None


def intrinsic_name(value: Any) -> str | None:
    """The function name when ``value`` is an intrinsic function call, else None."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if isinstance(key, str) and (key == "Ref" or key.startswith("Fn::")):
            return key
    return None


def plain(value: Any) -> Any:
    """A decoded value as plain JSON data (dicts, lists, strings, numbers, booleans)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    return value


def opaque_token(label: str, detail: Any) -> str:
    """The literal the checker sees for an opaque value: readable, deterministic (the
    same function call gives the same token in two files), and wildcard-free."""
    text = json.dumps(plain(detail), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(f"{label}\0{text}".encode()).hexdigest()[:12]
    if isinstance(detail, str) and detail.isascii() and detail.isprintable():
        text = detail
    elif isinstance(detail, list) and all(isinstance(d, str) for d in detail):
        text = ".".join(detail) if label == "Fn::GetAtt" else text
    readable = text if len(text) <= 60 else text[:57] + "..."
    readable = readable.replace("%", "%25").replace("*", "%2A").replace("?", "%3F")
    return "{{" + f"{label}:{readable}#{digest}" + "}}"


def _span(value: Any) -> tuple[int, int, int, int] | None:
    start = getattr(value, "start_mark", None)
    end = getattr(value, "end_mark", None)
    if start is None or end is None:
        return None
    return (start.line + 1, start.column + 1, end.line + 1, end.column + 1)


@dataclass
class TreeBuilder:
    """Builds a :data:`PositionedNode` tree from one decoded policy document."""

    source: str
    text: str | None = None
    lines: list[int] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    notes: list[Diagnostic] = field(default_factory=list)
    opaque: dict[str, Opaque] = field(default_factory=dict)
    count: int = 0

    def __post_init__(self) -> None:
        if self.text is not None and not self.lines:
            starts = [0]
            starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
            self.lines = starts

    def slice(self, where: tuple[int, int, int, int] | None) -> str | None:
        """The source text of a span, when the text is known."""
        if where is None or self.text is None:
            return None
        line, column, end_line, end_column = where
        if end_line > len(self.lines):
            return None
        start = self.lines[line - 1] + column - 1
        end = self.lines[end_line - 1] + end_column - 1
        return self.text[start:end]

    def error(self, where: tuple[int, int, int, int] | None, message: str) -> None:
        line, column = (where[0], where[1]) if where else (None, None)
        self.errors.append(Diagnostic(self.source, line, column, message))

    def node(self, value: Any, path: tuple[str | int, ...], anchor: Any = None) -> PositionedNode:
        """The tree of ``value`` found at ``path`` inside the policy document."""
        where = _span(value) or _span(anchor)
        self.count += 1
        if self.count > MAX_NODES:
            raise PolicyError.at(
                self.source,
                f"the policy document holds more than {MAX_NODES:,} values once YAML "
                "aliases are expanded",
            )
        name = intrinsic_name(value)
        if name is not None:
            return self.intrinsic(value, name, path, where)
        line, column, end_line, end_column = where or (None, None, None, None)

        def made(kind: str, content: Any) -> PositionedNode:
            return PositionedNode(kind, content, line, column, end_line, end_column)

        if isinstance(value, dict):
            members = []
            for key, item in value.items():
                key_where = _span(key) or where
                child = self.node(item, (*path, str(key)), anchor=key)
                members.append(
                    PositionedMember(
                        str(key),
                        child,
                        key_where[0] if key_where else None,
                        key_where[1] if key_where else None,
                    )
                )
            return made("object", members)
        if isinstance(value, list):
            return made(
                "array", [self.node(v, (*path, i), anchor=value) for i, v in enumerate(value)]
            )
        if isinstance(value, bool):
            return made("boolean", value)
        if isinstance(value, int | float):
            # The decoder has already read the number: its text is Python's.
            return made("number", Number.of(value))
        if value is None:
            return made("null", None)
        if isinstance(value, datetime.date):
            # YAML reads an unquoted `Version: 2012-10-17` as a date; CloudFormation
            # reads it as the string it is written as.
            return made("string", value.isoformat())
        text = str(value)
        node = made("string", text)
        node.escaped = True  # checks the characters, which YAML escapes may have produced
        return node

    def intrinsic(
        self,
        value: Any,
        name: str,
        path: tuple[str | int, ...],
        where: tuple[int, int, int, int] | None,
    ) -> PositionedNode:
        """An opaque string for an intrinsic function where one string is expected in
        ``Resource``, ``NotResource`` or a condition value; an error anywhere else."""
        where_text = _describe_path(path)
        rest = _statement_part(path)
        element = rest[0] if rest else None
        listy = name in LIST_FUNCTIONS
        if element in ("Action", "NotAction"):
            self.error(
                where,
                f"intrinsic function `{name}` in `{element}` cannot be analysed; "
                "actions must be literal strings",
            )
        elif not listy and (
            (element in OPAQUE_ELEMENTS and len(rest) in (1, 2))
            or (element == "Condition" and len(rest) in (3, 4))
        ):
            return self.make_opaque(value, name, where, where_text)
        elif listy and element in (*OPAQUE_ELEMENTS, "Condition"):
            self.error(
                where,
                f"intrinsic function `{name}` in {where_text} returns a list of unknown "
                "length, which cannot be analysed",
            )
        else:
            self.error(where, f"intrinsic function `{name}` in {where_text} cannot be analysed")
        line, column, end_line, end_column = where or (None, None, None, None)
        return PositionedNode("null", None, line, column, end_line, end_column)

    def make_opaque(
        self, value: Any, name: str, where: tuple[int, int, int, int] | None, where_text: str
    ) -> PositionedNode:
        detail = plain(value)
        token = opaque_token(name, detail[name])
        written = self.slice(where) or json.dumps(detail)
        self.opaque[token] = Opaque(token, written, detail, where)
        shown = written if len(written) <= 60 and "\n" not in written else name
        line, column, end_line, end_column = where or (None, None, None, None)
        self.notes.append(
            Diagnostic(
                self.source,
                line,
                column,
                f"{where_text} is `{shown}`, known only at deployment; the checker treats it "
                f"as an unknown string equal only to the same expression (`{token}`)",
                severity="note",
            )
        )
        node = PositionedNode("string", token, line, column, end_line, end_column)
        return node


def _statement_part(path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The path below the statement (``("Resource", 0)``...), or ``()`` outside one."""
    if len(path) < 2 or path[0] != "Statement":
        return ()
    rest = path[1:]
    if isinstance(rest[0], int):
        rest = rest[1:]
    return rest


def _describe_path(path: tuple[str | int, ...]) -> str:
    if not path:
        return "the policy document"
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return f"`{out}`"
