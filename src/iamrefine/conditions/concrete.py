"""Plain-Python evaluation of condition blocks on a concrete request (trusted base).

Written independently of :mod:`iamrefine.conditions.smt`: values are parsed with the
standard library (:mod:`decimal`, :mod:`datetime`, :mod:`ipaddress`) and globs are
matched by a direct backtracking matcher. A request maps condition keys (matched
ASCII-case-insensitively) to their values (a list of strings; a key that is missing or
has no value is absent). The semantics are those of ``proofs/THEOREMS.md``, "Condition semantics".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from iamrefine.conditions.folding import Folding, equal_ignoring_case
from iamrefine.conditions.operators import Operator, parse_operator
from iamrefine.glob import resource_glob_matches
from iamrefine.model import VERSION_2012, Condition, Scalar

Request = Mapping[str, Sequence[str]]


def _lookup(request: Request, key: str) -> list[str]:
    want = _lower(key)
    for k, v in request.items():
        if _lower(k) == want:
            return list(v)
    return []


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _glob(pattern: list[tuple[str, bool | None]], text: str) -> bool:
    """Match ``text`` against pattern characters ``(char, is_wildcard)``: a wildcard
    ``*`` matches any run, ``?`` one character, everything else itself. (``None``
    marks a character substituted from a variable or escape: never a wildcard.)"""
    p, t, star, mark = 0, 0, -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p][1] and pattern[p][0] == "*":
            star, mark, p = p, t, p + 1
        elif p < len(pattern) and (
            (pattern[p][1] and pattern[p][0] == "?")
            or (not pattern[p][1] and pattern[p][0] == text[t])
        ):
            p, t = p + 1, t + 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == ("*", True):
        p += 1
    return p == len(pattern)


def _expand(
    value: str, version: str, request: Request, *, like: bool
) -> list[tuple[str, bool | None]] | None:
    """The policy value as characters ``(char, is_wildcard)`` after substituting policy
    variables (2012-10-17 only; substituted characters are ``(char, None)``); None when
    a variable's key is absent."""
    out: list[tuple[str, bool | None]] = []

    def plain(text: str) -> None:
        out.extend((c, like and c in "*?") for c in text)

    if version != VERSION_2012:
        plain(value)
        return out
    pos = 0
    for m in _VARIABLE.finditer(value):
        plain(value[pos : m.start()])
        name = m.group(1).strip()
        if name in ("*", "?", "$"):
            out.append((name, None))
        else:
            found = _lookup(request, name)
            if not found:
                return None
            out.extend((c, None) for c in found[0])
        pos = m.end()
    plain(value[pos:])
    return out


def _number(text: str) -> Fraction | None:
    if "e" in text.lower() or text.strip() != text:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return Fraction(d) if d.is_finite() else None


def _date(text: str) -> Fraction | None:
    if re.fullmatch(r"-?\d+", text):
        return Fraction(int(text))
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    delta = stamp - datetime(1970, 1, 1, tzinfo=UTC)
    return Fraction(delta.days * 86400 + delta.seconds) + Fraction(delta.microseconds, 10**6)


def _compare(op: Operator, left: Fraction, right: Fraction) -> bool:
    return {
        "eq": left == right,
        "lt": left < right,
        "le": left <= right,
        "gt": left > right,
        "ge": left >= right,
    }[op.compare]


def _matches(
    op: Operator, actual: str, value: str, version: str, request: Request, folding: Folding
) -> bool:
    """Does one request value match one policy value (before negation)?"""
    if op.family in ("numeric", "date"):
        parse = _number if op.family == "numeric" else _date
        a, b = parse(actual), parse(value)
        return a is not None and b is not None and _compare(op, a, b)
    if op.family == "bool":
        return _lower(actual) in ("true", "false") and _lower(actual) == _lower(value)
    if op.family == "ip":
        try:
            address = ipaddress.ip_address(actual)
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return address.version == network.version and address in network
    chars = _expand(value, version, request, like=op.like)
    if chars is None:
        return False
    if op.family == "arn":
        got = actual.split(":", 5)
        want: list[list[tuple[str, bool | None]]] = [[]]
        for ch in chars:
            if ch == (":", False) and len(want) < 6:
                want.append([])
            else:
                want[-1].append(ch)
        return len(got) == len(want) and all(_glob(w, g) for w, g in zip(want, got, strict=True))
    if op.like:
        return _glob(chars, actual)
    literal = "".join(c for c, _ in chars)
    if op.fold_case:
        return equal_ignoring_case(literal, actual, folding)
    return literal == actual


def entry_holds(
    op: Operator,
    key: str,
    values: Sequence[Scalar],
    version: str,
    request: Request,
    *,
    folding: Folding = Folding.ASCII,
) -> bool:
    """Does ``op`` hold for condition key ``key`` with policy ``values``?"""
    actual = _lookup(request, key)
    if op.family == "null":
        return any((_lower(_text(v)) == "true") == (not actual) for v in values)
    if not actual:
        if op.qualifier == "ForAllValues":
            return True
        return op.if_exists or (op.negated and not op.qualifier)

    def test(a: str) -> bool:
        hit = any(_matches(op, a, _text(v), version, request, folding) for v in values)
        return not hit if op.negated else hit

    if op.qualifier == "ForAllValues":
        return all(test(a) for a in actual)
    return any(test(a) for a in actual)


def condition_holds(
    condition: Condition, version: str, request: Request, *, folding: Folding = Folding.ASCII
) -> bool:
    """Does the block hold on ``request``? The AND of its operators and keys. An unknown
    operator raises :class:`ValueError` (the encoder reports it as an input error)."""
    for clause in condition.clauses:
        op = parse_operator(clause.operator)
        if op is None:
            raise ValueError(f"unknown condition operator `{clause.operator}`")
        for entry in clause.entries:
            if not entry_holds(op, entry.key, entry.values, version, request, folding=folding):
                return False
    return True


def resource_holds(element: str, resource: str, request: Request) -> bool:
    """Does a Resource element with policy variables (2012-10-17) match ``resource``?
    Variables are replaced by their key's value, taken literally (no wildcard, no
    segment boundary), escapes by their character; false when a variable's key is
    absent. Wildcards follow the ARN segment rule of
    :func:`iamrefine.glob.resource_glob_matches`."""
    return resource_chars_match(resource_element_chars(element, request), resource)


ResourceChars = list[tuple[str, bool | None]] | None
"""A Resource element after variable substitution (see :func:`resource_holds`)."""


def resource_element_chars(element: str, request: Request) -> ResourceChars:
    """The first half of :func:`resource_holds`, which does not depend on the resource:
    the element with its variables replaced from ``request``; None when a key is absent."""
    return _expand(element, VERSION_2012, request, like=True)


def resource_chars_match(chars: ResourceChars, resource: str) -> bool:
    """The second half of :func:`resource_holds`."""
    return chars is not None and resource_glob_matches(chars, resource)
