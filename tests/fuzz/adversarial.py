"""Adversarial condition blocks and request pools for the condition differential test.

Blocks share keys (so their entries interact), spell keys in several cases, read any key
with any operator family (so values can be malformed for it), add ``IfExists`` and set
qualifiers, and write numbers and dates in several lexical forms. The request pool gives
each key: no value, a value no block names, every named value and its other spellings,
neighbours of named numbers, dates and addresses, a malformed value, and (for keys that
may hold several values) two values at once; and every key once more under another
spelling. Every request in the pool is a real request of the model of
``proofs/THEOREMS.md`` §11, so a claim the checker PROVED must hold on all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from fuzz.strategies import MALFORMED, number_spellings
from iamrefine.conditions.keys import documented_single_valued
from iamrefine.glob import ascii_lower

KEYS = ("k:n", "aws:PrincipalTag/t", "aws:TagKeys", "aws:SourceIp", "aws:CurrentTime")
"""Two keys that may hold several values, three that AWS documents single-valued."""

_MAX_CORE = 3000

FAMILY_VALUES: dict[str, tuple[str, ...]] = {
    "String": ("a", "b", "A", "a*", "?"),
    "Numeric": ("5", "5.0", "05", "-1", "2.50"),
    "Date": ("2026-01-01T00:00:00Z", "1767225600", "2026-01-01", "2026-01-01T00:00:01Z"),
    "Bool": ("true", "false", "TRUE"),
    "IpAddress": ("10.0.0.0/8", "0.0.0.0/0", "::/0", "10.1.2.3"),
    "Null": ("true", "false"),
}

OPERATORS: dict[str, tuple[str, ...]] = {
    "String": (
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
    ),
    "Numeric": (
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
    ),
    "Date": ("DateEquals", "DateNotEquals", "DateLessThan", "DateGreaterThanEquals"),
    "Bool": ("Bool",),
    "IpAddress": ("IpAddress", "NotIpAddress"),
    "Null": ("Null",),
}


def spell(key: str, mask: int) -> str:
    """``key`` with the case of some letters swapped (bit ``i`` of ``mask``: letter ``i``)."""
    return "".join(c.swapcase() if mask >> i & 1 else c for i, c in enumerate(key))


@st.composite
def operator_names(draw: st.DrawFn) -> tuple[str, str]:
    family = draw(st.sampled_from(sorted(OPERATORS)))
    name = draw(st.sampled_from(OPERATORS[family]))
    if family != "Null":
        qualifier = draw(st.sampled_from(("", "", "", "ForAllValues:", "ForAnyValue:")))
        suffix = draw(st.sampled_from(("", "", "IfExists")))
        name = f"{qualifier}{name}{suffix}"
    return family, name


@st.composite
def blocks(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """One condition block: 1 to 3 operators, each with 1 or 2 (possibly re-spelled) keys."""
    out: dict[str, dict[str, Any]] = {}
    for _ in range(draw(st.integers(1, 3))):
        family, name = draw(operator_names())
        entries = out.setdefault(name, {})
        for _ in range(draw(st.integers(1, 2))):
            key = spell(draw(st.sampled_from(KEYS)), draw(st.integers(0, 7)))
            values = draw(st.lists(st.sampled_from(FAMILY_VALUES[family]), min_size=1, max_size=2))
            entries[key] = values if len(values) > 1 or draw(st.booleans()) else values[0]
    return out


def _neighbours(text: str) -> list[str]:
    out: list[str] = []
    try:
        d = Decimal(text)
        if d.is_finite() and "e" not in text.lower():
            out += [str(d + Decimal("0.5")), str(d - Decimal("0.5"))]
    except ArithmeticError:
        pass
    if text.startswith("2026-01-01"):
        out += ["2025-12-31T23:59:59Z", "2026-01-01T00:00:00.5Z", "1767225601"]
    if ("." in text and "/" in text) or (":" in text and "/" in text):
        out += ["10.0.0.1", "11.0.0.1", "::1", "::ffff:10.0.0.1"]
    return out


def request_pool(blocks_: Iterable[dict[str, dict[str, Any]]]) -> list[dict[str, list[str]]]:
    """The adversarial requests for the keys of ``blocks_`` (see the module docstring)."""
    named: dict[str, dict[str, None]] = {}
    spellings: dict[str, set[str]] = {}
    for block in blocks_:
        for entries in block.values():
            for key, values in entries.items():
                low = ascii_lower(key)
                spellings.setdefault(low, set()).add(key)
                slot = named.setdefault(low, {})
                for v in values if isinstance(values, list) else [values]:
                    slot[v] = None
    keys = sorted(named)
    core: list[list[list[str]]] = []
    wide: list[list[list[str]]] = []
    for k in keys:
        values = list(named[k])
        one = [*values, *(n for v in values for n in number_spellings(v))]
        one += [n for v in values for n in _neighbours(v)]
        one += ["zz", MALFORMED, "a", "A"]
        one = list(dict.fromkeys(one))
        pairs: list[list[str]] = []
        if not documented_single_valued(k):
            pairs = [[a, b] for a, b in itertools.combinations([*values, "zz"], 2)]
        core.append([[], *([v] for v in values), [MALFORMED], *pairs[:3]])
        wide.append([[], *([v] for v in one), *pairs])
    # Every combination of each key's core values (absent, named, malformed, pairs of
    # named), capped; then each key's wider values against a few of those combinations.
    combos = list(itertools.islice(itertools.product(*core), _MAX_CORE))
    pool = [{k: v for k, v in zip(keys, combo, strict=True) if v} for combo in combos]
    for i, k in enumerate(keys):
        for base in combos[:: max(1, len(combos) // 8)]:
            for option in wide[i]:
                request = {kk: v for kk, v in zip(keys, base, strict=True) if v}
                request.pop(k, None)
                if option:
                    request[k] = option
                pool.append(request)
    for k in keys:
        for spelled in sorted(spellings[k]):
            for v in list(named[k])[:1]:
                pool.append({spelled.swapcase(): [v]})
    return pool
