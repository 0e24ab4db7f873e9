"""The policy AST: pydantic models that keep source positions.

Equality between nodes ignores positions and layout, so ``parse(write(p)) == p``
is the round-trip property. Element names and their order are kept in ``keys``;
whether an element was written as a single string or as a list is kept in
``is_list``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, JsonValue
from pydantic_core import core_schema

from iamrefine.glob import ascii_lower

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
KNOWN_VERSIONS = (VERSION_2012, VERSION_2008)


@dataclass(frozen=True, slots=True)
class Number:
    """A JSON number exactly as written (``1e2``, ``1.00000000000000000001``, ``-0``).

    A refinement never changes a condition, so a number keeps its source text: the
    writer prints :attr:`lexeme`, and ``str()`` of it is the lexeme, which is the text
    the condition semantics compare. Two numbers are equal when their lexemes are."""

    lexeme: str

    def __str__(self) -> str:
        return self.lexeme

    @classmethod
    def of(cls, value: int | float) -> Number:
        """The number that Python's ``json`` would write for ``value``."""
        return cls(json.dumps(value))

    @property
    def finite(self) -> bool:
        """Is the value within the range of a double (``1e400`` is not)?"""
        return math.isfinite(float(self.lexeme))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(cls)


Scalar = str | bool | Number


def value_json(value: Any) -> str:
    """Compact JSON text of a condition value: a :class:`Number` as its lexeme."""
    if isinstance(value, Number):
        return value.lexeme
    return json.dumps(value)


TOP_LEVEL_ELEMENTS = ("Version", "Id", "Statement")
"""The elements of a policy document, in their canonical order."""

STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
"""The elements of a statement, in their canonical order."""

__all__ = [
    "KNOWN_VERSIONS",
    "STATEMENT_ELEMENTS",
    "TOP_LEVEL_ELEMENTS",
    "VERSION_2008",
    "VERSION_2012",
    "Condition",
    "ConditionClause",
    "ConditionEntry",
    "Layout",
    "Node",
    "Number",
    "Policy",
    "Scalar",
    "Span",
    "Statement",
    "ValueList",
    "ascii_lower",
    "value_json",
]


class Span(BaseModel):
    """A 1-based source range; ``end_column`` is one past the last character."""

    model_config = ConfigDict(frozen=True)

    line: int
    column: int
    end_line: int
    end_column: int


class Node(BaseModel):
    """Base of every AST node. Equality compares the dumped content, never spans."""

    model_config = ConfigDict(extra="forbid")

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, Node)
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]


class ValueList(Node):
    """An element that takes a string or a list of strings (Action, Resource, ...)."""

    values: list[str]
    is_list: bool
    span: Span | None = Field(default=None, exclude=True, repr=False)
    spans: list[Span | None] = Field(default_factory=list, exclude=True, repr=False)

    def span_of(self, index: int) -> Span | None:
        """The span of value ``index``, or of the whole element when unknown."""
        if 0 <= index < len(self.spans) and self.spans[index] is not None:
            return self.spans[index]
        return self.span


class ConditionEntry(Node):
    """One condition key with its values, as in ``"aws:SourceVpc": ["vpc-1"]``."""

    key: str
    values: list[Scalar]
    is_list: bool
    span: Span | None = Field(default=None, exclude=True, repr=False)


class ConditionClause(Node):
    """One condition operator with its keys, as in ``"StringEquals": {...}``."""

    operator: str
    entries: list[ConditionEntry]
    span: Span | None = Field(default=None, exclude=True, repr=False)


class Condition(Node):
    """A statement's ``Condition`` block: the AND of its clauses."""

    clauses: list[ConditionClause]
    span: Span | None = Field(default=None, exclude=True, repr=False)

    def to_json(self) -> dict[str, dict[str, Any]]:
        """The block as JSON, in source order and source form."""
        return {
            c.operator: {e.key: (list(e.values) if e.is_list else e.values[0]) for e in c.entries}
            for c in self.clauses
        }

    def canonical(self) -> str:
        """A canonical JSON text of the block, equal exactly for blocks with equal
        semantics up to order and duplication.

        Operators and keys are sorted, condition keys are ASCII-lowercased (AWS reads
        them case-insensitively) and each entry's values are sorted and deduplicated
        (a key holds when any of its values does). Two entries of one operator whose
        keys differ only in case both test the one context key, so both must hold: they
        stay two value lists, written as a sorted list of lists, never merged into one
        (which would turn their AND into an OR).
        """
        out: dict[str, dict[str, list[list[str]]]] = {}
        for clause in self.clauses:
            keys = out.setdefault(clause.operator, {})
            for entry in clause.entries:
                values = sorted({value_json(v) for v in entry.values})
                lists = keys.setdefault(ascii_lower(entry.key), [])
                if values not in lists:
                    lists.append(values)
        flat = {
            op: {k: (lists[0] if len(lists) == 1 else sorted(lists)) for k, lists in keys.items()}
            for op, keys in out.items()
        }
        return json.dumps(flat, sort_keys=True, separators=(",", ":"))


class Statement(Node):
    """One policy statement. ``keys`` lists its element names in source order."""

    sid: str | None = None
    effect: Literal["Allow", "Deny"]
    action: ValueList | None = None
    not_action: ValueList | None = None
    resource: ValueList | None = None
    not_resource: ValueList | None = None
    principal: JsonValue | None = None
    not_principal: JsonValue | None = None
    condition: Condition | None = None
    keys: list[str]
    span: Span | None = Field(default=None, exclude=True, repr=False)

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    @property
    def uses_not_action(self) -> bool:
        return self.not_action is not None

    @property
    def action_element(self) -> ValueList:
        """The Action or NotAction element (exactly one exists in a valid statement)."""
        element = self.action if self.action is not None else self.not_action
        assert element is not None
        return element

    def with_actions(self, values: list[str], *, not_action: bool | None = None) -> Statement:
        """A copy whose Action (or NotAction) values are replaced, keeping the list form
        when the original was a list or when more than one value remains. With
        ``not_action`` of the other form, the copy has that element instead."""
        use_not = self.uses_not_action if not_action is None else not_action
        old = self.action_element
        is_list = old.is_list or len(values) != 1
        new = ValueList(values=list(values), is_list=is_list)
        if use_not == self.uses_not_action:
            return self.model_copy(update={"not_action" if use_not else "action": new})
        # Switching forms: a statement has one action element, written where the other was.
        was, now = ("Action", "NotAction") if use_not else ("NotAction", "Action")
        keys = [now if k == was else k for k in self.keys]
        if use_not:
            return self.model_copy(update={"action": None, "not_action": new, "keys": keys})
        return self.model_copy(update={"not_action": None, "action": new, "keys": keys})


class Layout(BaseModel):
    """How the source was laid out, so that a rewrite keeps the user's style."""

    indent: int | None = 2
    trailing_newline: bool = True


class Policy(Node):
    """An IAM policy document. ``version`` is None when the document has no Version."""

    version: str | None = None
    id: str | None = None
    statements: list[Statement]
    statement_is_list: bool = True
    keys: list[str]
    source: str | None = Field(default=None, exclude=True, repr=False)
    layout: Layout = Field(default_factory=Layout, exclude=True, repr=False)
    source_text: str | None = Field(default=None, exclude=True, repr=False)
    """The text this policy was parsed from (None when it was built otherwise), which a
    diff shows as it was; a policy derived from another one must not keep it."""

    @property
    def effective_version(self) -> str:
        """The version that governs semantics: a missing Version means 2008-10-17."""
        return self.version or VERSION_2008
