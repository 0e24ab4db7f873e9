"""Decoding a solver's model of the condition terms (:mod:`.smt`) into the request it
describes: each key with the text of each of its present value slots. The replay
through the concrete evaluator then decides whether that request is a real
counterexample."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from iamrefine.conditions.values import (
    lower,
    parse_address,
    parse_date,
    parse_number,
    render_address,
    render_date,
    render_number,
)

if TYPE_CHECKING:
    from iamrefine.conditions.smt import RequestSymbols, Slot

_VIEW_ORDER = ("str", "ip", "num", "date", "bool")


MALFORMED = "not-a-typed-value"
"""The value a counterexample shows for a slot that is well formed for none of the
typed views its query reads (no Boolean, number, date or address)."""


def _candidates(s: Slot, values: dict[str, Any]) -> list[str]:
    out: list[str] = []
    view = s.views.get("str")
    if view is not None:
        out.append(values[str(view)])
    for family in _VIEW_ORDER[1:]:
        typed = s.views.get(family)
        if typed is None or not values.get(str(typed[1]), False):
            continue
        value = typed[0]
        if family == "ip":
            out.append(render_address(int(values[str(value[0])]), bool(values[str(value[1])])))
        elif family == "num":
            out.append(render_number(Fraction(values[str(value)])))
        elif family == "date":
            out.append(render_date(Fraction(values[str(value)])))
        else:
            out.append("true" if values[str(value)] else "false")
    out.append(MALFORMED)
    return out


def _fits(s: Slot, values: dict[str, Any], text: str) -> bool:
    """Does ``text`` read, in every typed view of ``s``, as the model says?"""
    for family, view in s.views.items():
        if family == "str":
            if values[str(view)] != text:
                return False
            continue
        value, ok = view
        want_ok = bool(values.get(str(ok), False))
        if family == "bool":
            got_ok = lower(text) in ("true", "false")
            if got_ok != want_ok or (
                got_ok and (lower(text) == "true") != bool(values[str(value)])
            ):
                return False
        elif family == "ip":
            parsed = parse_address(text)
            if (parsed is not None) != want_ok:
                return False
            if parsed is not None and parsed != (
                4 if values[str(value[1])] else 6,
                int(values[str(value[0])])
                & (0xFFFFFFFF if values[str(value[1])] else (1 << 128) - 1),
            ):
                return False
        else:
            number = (parse_number if family == "num" else parse_date)(text)
            if (number is not None) != want_ok:
                return False
            if number is not None and number != Fraction(values[str(value)]):
                return False
    return True


def decode_request(req: RequestSymbols, values: dict[str, Any]) -> dict[str, list[str]]:
    """The request a model describes: each key with the values of its present slots, in
    slot order. A slot's value is the first text (its string view, then a rendering of
    each well-formed typed view, then :data:`MALFORMED`) that reads as the model says in
    every view the query reads; failing that, the first candidate (the replay through
    the evaluator then decides whether the model is a real request). Absent keys are
    left out."""
    out: dict[str, list[str]] = {}
    for (key, _), s in sorted(req.slots.items()):
        if not values.get(str(s.present), False):
            continue
        options = _candidates(s, values)
        text = next((t for t in options if _fits(s, values, t)), options[0])
        out.setdefault(key, []).append(text)
    return out
