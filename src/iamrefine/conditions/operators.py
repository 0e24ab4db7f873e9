"""Condition operator names: ``[ForAllValues:|ForAnyValue:]<Operator>[IfExists]``."""

from __future__ import annotations

from dataclasses import dataclass

from iamrefine.errors import Diagnostic, InputError
from iamrefine.model import ConditionClause, Policy

#: Operator name (without qualifier and ``IfExists``) -> (family, negated, like, fold case).
OPERATORS: dict[str, tuple[str, bool, bool, bool]] = {
    "StringEquals": ("string", False, False, False),
    "StringNotEquals": ("string", True, False, False),
    "StringEqualsIgnoreCase": ("string", False, False, True),
    "StringNotEqualsIgnoreCase": ("string", True, False, True),
    "StringLike": ("string", False, True, False),
    "StringNotLike": ("string", True, True, False),
    "NumericEquals": ("numeric", False, False, False),
    "NumericNotEquals": ("numeric", True, False, False),
    "NumericLessThan": ("numeric", False, False, False),
    "NumericLessThanEquals": ("numeric", False, False, False),
    "NumericGreaterThan": ("numeric", False, False, False),
    "NumericGreaterThanEquals": ("numeric", False, False, False),
    "DateEquals": ("date", False, False, False),
    "DateNotEquals": ("date", True, False, False),
    "DateLessThan": ("date", False, False, False),
    "DateLessThanEquals": ("date", False, False, False),
    "DateGreaterThan": ("date", False, False, False),
    "DateGreaterThanEquals": ("date", False, False, False),
    "Bool": ("bool", False, False, False),
    "BinaryEquals": ("binary", False, False, False),
    "IpAddress": ("ip", False, False, False),
    "NotIpAddress": ("ip", True, False, False),
    "ArnEquals": ("arn", False, True, False),
    "ArnLike": ("arn", False, True, False),
    "ArnNotEquals": ("arn", True, True, False),
    "ArnNotLike": ("arn", True, True, False),
    "Null": ("null", False, False, False),
}

QUALIFIERS = ("ForAllValues", "ForAnyValue")


@dataclass(frozen=True)
class Operator:
    """A parsed operator name. ``base`` is the name without qualifier and ``IfExists``;
    ``compare`` is ``eq``, ``lt``, ``le``, ``gt`` or ``ge`` for Numeric and Date
    (``eq`` otherwise); ``qualifier`` is ``ForAllValues``, ``ForAnyValue`` or ``""``."""

    name: str
    base: str
    family: str
    negated: bool
    like: bool
    fold_case: bool
    if_exists: bool
    qualifier: str
    compare: str


def _compare(base: str) -> str:
    for suffix, cmp in (
        ("LessThanEquals", "le"),
        ("GreaterThanEquals", "ge"),
        ("LessThan", "lt"),
        ("GreaterThan", "gt"),
    ):
        if base.endswith(suffix):
            return cmp
    return "eq"


def parse_operator(name: str) -> Operator | None:
    """The operator named ``name`` (case-sensitive, as AWS reads it), or None if unknown."""
    qualifier = ""
    rest = name
    head, sep, tail = name.partition(":")
    if sep:
        if head not in QUALIFIERS:
            return None
        qualifier, rest = head, tail
    if_exists = rest.endswith("IfExists")
    base = rest[: -len("IfExists")] if if_exists else rest
    info = OPERATORS.get(base)
    if info is None or (if_exists and base == "Null"):
        return None
    family, negated, like, fold = info
    return Operator(name, base, family, negated, like, fold, if_exists, qualifier, _compare(base))


def clause_diagnostic(policy: Policy | None, clause: ConditionClause, message: str) -> Diagnostic:
    """An error at ``clause``'s position in ``policy``'s source."""
    file = (policy.source if policy is not None else None) or "<policy>"
    span = clause.span
    line, column = (span.line, span.column) if span is not None else (None, None)
    return Diagnostic(file, line, column, message)


def clause_error(policy: Policy | None, clause: ConditionClause, message: str) -> InputError:
    """An :class:`InputError` at ``clause``'s position in ``policy``'s source."""
    return InputError(clause_diagnostic(policy, clause, message))
