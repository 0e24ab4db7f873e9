"""What a query's policies say about condition keys: the slot bound of each key (the
request model of ``proofs/THEOREMS.md`` §11) and every unsupported operator, value or
policy variable (:func:`validate`, which ``iamrefine parse`` runs too)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from iamrefine.conditions.keys import documented_single_valued
from iamrefine.conditions.operators import Operator, clause_diagnostic, parse_operator
from iamrefine.errors import Diagnostic, InputError
from iamrefine.model import VERSION_2012, ConditionClause, Policy

if TYPE_CHECKING:
    pass

from iamrefine.conditions.values import (
    _VAR,
    lower,
    parse_cidr,
    parse_date,
    parse_number,
    scalar_text,
)

# --- the query's keys -----------------------------------------------------------------


def _entries(policies: Iterable[Policy | None]) -> Iterable[tuple[Policy, ConditionClause]]:
    for policy in policies:
        if policy is None:
            continue
        for st in policy.statements:
            if st.condition is not None:
                for clause in st.condition.clauses:
                    yield policy, clause


def variable_keys(policies: Iterable[Policy | None]) -> set[str]:
    """The (lowercased) keys that a policy variable names, in a condition value or a
    Resource element, under Version 2012-10-17. AWS allows only single-valued keys as
    policy variables, so these keys carry at most one value in the request model."""
    out: set[str] = set()
    for policy in policies:
        if policy is None or policy.effective_version != VERSION_2012:
            continue
        texts: list[str] = []
        for st in policy.statements:
            element = st.resource if st.resource is not None else st.not_resource
            if element is not None:
                texts.extend(element.values)
            if st.condition is not None:
                for clause in st.condition.clauses:
                    for e in clause.entries:
                        texts.extend(scalar_text(v) for v in e.values)
        for text in texts:
            for m in _VAR.finditer(text):
                name = m.group(1).strip()
                if name not in ("*", "?", "$") and "," not in name:
                    out.add(lower(name))
    return out


def slot_bounds(policies: Sequence[Policy | None]) -> dict[str, int]:
    """``B_k`` for every key that some entry reads: the number of distinct (operator,
    version, values) entries on the key (Lemma 10), and 1 for keys that a policy
    variable names (AWS allows only single-valued keys as variables) or that AWS
    documents as single-valued (:mod:`iamrefine.conditions.keys`). Any other key may
    carry several values in a request, whatever operator reads it."""
    single = variable_keys(policies)
    terms: dict[str, set[tuple[Any, ...]]] = {}
    for policy, clause in _entries(policies):
        for e in clause.entries:
            k = lower(e.key)
            values = tuple(sorted(scalar_text(v) for v in e.values))
            terms.setdefault(k, set()).add((clause.operator, policy.effective_version, values))
    return {
        k: 1 if k in single or documented_single_valued(k) else max(1, len(t))
        for k, t in sorted(terms.items())
    }


def set_keys(policies: Iterable[Policy | None]) -> set[str]:
    """The keys that a ``ForAllValues:`` or ``ForAnyValue:`` operator reads."""
    out: set[str] = set()
    for _, clause in _entries(policies):
        op = parse_operator(clause.operator)
        if op is not None and op.qualifier:
            out.update(lower(e.key) for e in clause.entries)
    return out


def validate(policies: Sequence[Policy | None]) -> None:
    """Raise one :class:`InputError` listing every unknown operator, malformed value and
    unsupported policy variable in ``policies`` (the checks of :class:`FullConditions`;
    ``iamrefine parse`` runs them too, so that it rejects what every other command does)."""
    found = problems(policies)
    if found:
        raise InputError(found)


def problems(policies: Sequence[Policy | None]) -> list[Diagnostic]:
    """Every unknown operator, malformed condition value and unsupported policy variable
    (with a default value, or naming a multi-valued key) in ``policies``."""
    found: list[Diagnostic] = []
    for policy, clause in _entries(policies):
        op = parse_operator(clause.operator)
        if op is None:
            found.append(
                clause_diagnostic(policy, clause, f"unknown condition operator `{clause.operator}`")
            )
            continue
        for e in clause.entries:
            for v in e.values:
                bad = _value_problem(policy, clause, op, scalar_text(v))
                if bad is not None:
                    found.append(bad)
    multi = set_keys(policies)
    for one in policies:
        if one is None or one.effective_version != VERSION_2012:
            continue
        for st in one.statements:
            element = st.resource if st.resource is not None else st.not_resource
            if element is None:
                continue
            line, column = (
                (element.span.line, element.span.column) if element.span else (None, None)
            )
            for value in element.values:
                for m in _VAR.finditer(value):
                    name = m.group(1).strip()
                    if "," in name:
                        message = "policy variables with default values are not supported"
                    elif lower(name) in multi:
                        message = f"policy variable `${{{name}}}` names a multi-valued key"
                    else:
                        continue
                    found.append(
                        Diagnostic(
                            one.source or "<policy>", line, column, f"resource `{value}`: {message}"
                        )
                    )
    for policy, clause in _entries(policies):
        for e in clause.entries:
            for v in e.values:
                text = scalar_text(v)
                if not _has_variable(text, policy.effective_version):
                    continue
                for m in _VAR.finditer(text):
                    if lower(m.group(1).strip()) in multi:
                        found.append(
                            clause_diagnostic(
                                policy,
                                clause,
                                f"policy variable `${{{m.group(1)}}}` names a multi-valued key",
                            )
                        )
    order: dict[str, int] = {}
    for d in found:
        order.setdefault(d.file, len(order))
    return sorted(dict.fromkeys(found), key=lambda d: (order[d.file], d.line or 0, d.column or 0))


def _has_variable(text: str, version: str) -> bool:
    return version == VERSION_2012 and _VAR.search(text) is not None


def _value_problem(
    policy: Policy, clause: ConditionClause, op: Operator, text: str
) -> Diagnostic | None:
    version = policy.effective_version
    bad = None
    if _has_variable(text, version):
        if op.family not in ("string", "arn", "binary"):
            bad = "policy variables are supported only in String and Arn values"
        elif op.fold_case:
            # AWS substitutes it; deciding it would need case folding of request values.
            bad = (
                "iamrefine does not model a policy variable in a case-insensitive value "
                "(only in case-sensitive String and Arn values)"
            )
        elif any("," in m.group(1) for m in _VAR.finditer(text)):
            bad = "policy variables with default values are not supported"
    elif op.family == "numeric" and parse_number(text) is None:
        bad = "not a number"
    elif op.family == "date" and parse_date(text) is None:
        bad = "not an ISO 8601 date or epoch seconds"
    elif op.family == "ip" and parse_cidr(text) is None:
        bad = "not an IP address or CIDR block"
    elif op.family in ("bool", "null") and lower(text) not in ("true", "false"):
        bad = "expected `true` or `false`"
    if bad is None:
        return None
    return clause_diagnostic(policy, clause, f"condition `{clause.operator}` value `{text}`: {bad}")
