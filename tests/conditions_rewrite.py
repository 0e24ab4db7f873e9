"""A semantics-preserving rewrite of condition blocks, for the corpus equivalence tests."""

from __future__ import annotations

import copy
import random
from typing import Any

_SAME = {
    "StringEquals": "StringLike",
    "StringEqualsIfExists": "StringLikeIfExists",
    "StringNotEquals": "StringNotLike",
    "StringNotEqualsIfExists": "StringNotLikeIfExists",
    "ArnEquals": "ArnLike",
    "ArnLike": "ArnEquals",
    "ArnNotEquals": "ArnNotLike",
    "ArnNotLike": "ArnNotEquals",
    "ArnEqualsIfExists": "ArnLikeIfExists",
    "ArnLikeIfExists": "ArnEqualsIfExists",
}


def _swap(operator: str, values: list[Any]) -> str | None:
    """The operator with the same meaning on ``values``: StringEquals is StringLike on
    values without ``*``/``?`` (and no ``$``, so no escape or variable changes role);
    ArnEquals and ArnLike mean the same."""
    qualifier, sep, base = operator.rpartition(":")
    other = _SAME.get(base)
    if other is None:
        return None
    if base.startswith("String") and any(
        not isinstance(v, str) or set(v) & set("*?$") for v in values
    ):
        return None
    return f"{qualifier}{sep}{other}"


def rewrite_condition(block: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Reverse the operators, keys and values, turn single values into lists of one, and
    move each entry whose operator has a same-meaning twin on its values to the twin."""
    out: dict[str, dict[str, Any]] = {}
    for operator in reversed(list(block)):
        entries = block[operator]
        for key in reversed(list(entries)):
            raw = entries[key]
            values = list(raw) if isinstance(raw, list) else [raw]
            values.reverse()
            target = operator
            twin = _swap(operator, values)
            if twin is not None and rng.random() < 0.8:
                target = twin
            if rng.random() < 0.5:
                key = key.upper() if rng.random() < 0.5 else key.lower()
            existing = out.setdefault(target, {})
            if key in existing:
                target, key = operator, key
                existing = out.setdefault(target, {})
            existing[key] = copy.deepcopy(values)
    return out


def rewrite_document(doc: dict[str, Any], seed: int) -> dict[str, Any]:
    """The document with every statement's Condition rewritten (other parts unchanged)."""
    rng = random.Random(seed)
    new = copy.deepcopy(doc)
    statements = new["Statement"] if isinstance(new["Statement"], list) else [new["Statement"]]
    for st in statements:
        if isinstance(st, dict) and isinstance(st.get("Condition"), dict):
            st["Condition"] = rewrite_condition(st["Condition"], rng)
    return new
