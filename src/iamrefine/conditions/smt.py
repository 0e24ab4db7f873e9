"""Condition blocks as Z3 terms over a typed request context.

Each condition key ``k`` (ASCII-lowercased) has ``B_k`` value *slots*; slot ``i`` has a
presence Boolean and one typed view per family that reads the key: a String (String,
Binary and Arn operators), and for Numeric, Date, Bool and IpAddress a value with a
well-formedness flag. The key is absent when no slot is present. ``B_k`` is 1 for keys
AWS documents as single-valued or that a policy variable names, and otherwise the
number of distinct (operator, key, values) entries on ``k`` in the query (Lemma 10 of
THEOREMS.md shows that this many values are enough; :mod:`.query`).

Policy values are parsed by :mod:`.values`, independently of
:mod:`iamrefine.conditions.concrete`; an unknown operator or a malformed value is an
:class:`~iamrefine.errors.InputError` at the clause's position (:func:`.query.validate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import z3

from iamrefine.conditions.decode import decode_request
from iamrefine.conditions.folding import Folding, fold_class, folds_differ
from iamrefine.conditions.operators import Operator, parse_operator
from iamrefine.conditions.query import _entries, _has_variable, slot_bounds
from iamrefine.conditions.query import validate as validate
from iamrefine.conditions.values import (
    _VAR,
    lower,
    parse_cidr,
    parse_date,
    parse_number,
    scalar_text,
)
from iamrefine.glob import crosses_colons
from iamrefine.model import VERSION_2012, Condition, Policy, Scalar
from iamrefine.solver import string_value

if TYPE_CHECKING:
    from iamrefine.encode import Encoder


# --- terms ----------------------------------------------------------------------------


@dataclass
class Slot:
    """One value slot of a key: presence and the typed views created so far."""

    key: str
    index: int
    present: z3.BoolRef
    views: dict[str, Any]


class RequestSymbols:
    """The request context's symbols inside one encoder."""

    def __init__(self, enc: Encoder, bounds: dict[str, int]) -> None:
        self.enc = enc
        self.ctx = enc.ctx
        self.bounds = bounds
        self.slots: dict[tuple[str, int], Slot] = {}
        self.key_ids: dict[str, int] = {}
        self.fold_cache: dict[str, z3.ReRef] = {}
        self.regex_cache: dict[tuple[bool, str, str], z3.ReRef] = {}
        self.entry_cache: dict[tuple[str, str, tuple[str, ...], str], z3.BoolRef] = {}

    def count(self, key: str) -> int:
        return self.bounds.get(key, 1)

    def slot(self, key: str, i: int) -> Slot:
        found = self.slots.get((key, i))
        if found is None:
            kid = self.key_ids.setdefault(key, len(self.key_ids))
            present = z3.Bool(f"ctx{kid}_{i}_has", self.ctx)
            found = self.slots[(key, i)] = Slot(key, i, present, {})
            self.enc.extra_symbols.append(present)
            if i == 0:
                self.enc.extra_comments.append(f"ctx{kid} = condition key {key}")
        return found

    def view(self, key: str, i: int, family: str) -> Any:
        """The typed view ``family`` of slot ``i``. ``str`` is a String; every other view
        is a pair ``(value, ok)`` where ``ok`` says that the slot's value is well formed
        for the family (a value such as ``yes`` or ``n/a`` is no Boolean, number, date
        or address: every comparison of that family is then false). The IP value is
        itself a pair ``(address, is_v4)``."""
        s = self.slot(key, i)
        found = s.views.get(family)
        if found is None:
            kid = self.key_ids[key]
            name = f"ctx{kid}_{i}_{family}"
            if family == "str":
                found = z3.String(name, self.ctx)
                self.enc.extra_symbols.append(found)
            else:
                ok = z3.Bool(f"{name}_ok", self.ctx)
                value: Any
                if family in ("num", "date"):
                    value = z3.Real(name, self.ctx)
                    self.enc.extra_symbols.extend([value, ok])
                elif family == "bool":
                    value = z3.Bool(name, self.ctx)
                    self.enc.extra_symbols.extend([value, ok])
                else:
                    addr = z3.BitVec(name, 128, self.ctx)
                    v4 = z3.Bool(f"{name}v4", self.ctx)
                    self.enc.extra_symbols.extend([addr, v4, ok])
                    value = (addr, v4)
                found = (value, ok)
            s.views[family] = found
        return found

    def _word_re(self, words: tuple[str, ...]) -> z3.ReRef:
        """The words in any ASCII case."""
        out = []
        for word in words:
            chars = [z3.Union(z3.Re(c, self.ctx), z3.Re(c.upper(), self.ctx)) for c in word]
            out.append(z3.Concat(*chars))
        return out[0] if len(out) == 1 else z3.Union(*out)

    def axioms(self, keys: frozenset[str] | None = None) -> list[z3.BoolRef]:
        """What one value can be at once, for the typed views created so far (of the
        slots of ``keys`` only, when given: each axiom reads one slot): a Boolean
        (``true``/``false``) is no number, date or address; an address is no number or
        date; a value that is both a number and a date is an integer (epoch seconds)
        and both views agree. These only remove models that no request has."""
        out: list[z3.BoolRef] = []
        for s in self.slots.values():
            if keys is not None and s.key not in keys:
                continue
            ok = {f: v[1] for f, v in s.views.items() if f != "str"}
            value = {f: v[0] for f, v in s.views.items() if f != "str"}
            for a, b in (
                ("bool", "num"),
                ("bool", "date"),
                ("bool", "ip"),
                ("ip", "num"),
                ("ip", "date"),
            ):
                if a in ok and b in ok:
                    out.append(z3.Not(z3.And(ok[a], ok[b])))
            if "num" in ok and "date" in ok:
                both = z3.And(ok["num"], ok["date"])
                out.append(z3.Implies(both, value["num"] == value["date"]))
                out.append(z3.Implies(both, z3.IsInt(value["num"])))
            text = s.views.get("str")
            if text is not None and "bool" in ok:
                # A Boolean view is exactly the string's reading: `true`/`false` in any case.
                out.append(ok["bool"] == z3.InRe(text, self._word_re(("true", "false"))))
                out.append(
                    z3.Implies(ok["bool"], value["bool"] == z3.InRe(text, self._word_re(("true",))))
                )
            if "date" in ok:
                # A date is whole seconds plus at most nine decimal places of a second.
                scaled = value["date"] * 10**9
                out.append(z3.Implies(ok["date"], z3.IsInt(scaled)))
        return out


class FullConditions:
    """A condition encoder (for :class:`iamrefine.encode.Encoder`) with the full
    semantics, for the queries over ``policies`` (which fix the slot bounds)."""

    def __init__(
        self, policies: Sequence[Policy | None], *, folding: Folding = Folding.ASCII
    ) -> None:
        self.policies = list(policies)
        self.folding = folding
        validate(policies)
        self.bounds = slot_bounds(policies)
        self.spelling: dict[str, str] = {}
        self.shared: dict[Any, Any] = {}
        """Encoders that several queries over these policies build their parts in
        (:mod:`iamrefine.prove.by_key`); the terms of one block are then made once."""
        for _, clause in _entries(policies):
            for e in clause.entries:
                self.spelling.setdefault(lower(e.key), e.key)

    @cached_property
    def folding_matters(self) -> bool:
        """Does some ``*IgnoreCase`` value have a character that the two readings of
        :mod:`iamrefine.conditions.folding` fold differently?"""
        for _, clause in _entries(self.policies):
            op = parse_operator(clause.operator)
            if op is not None and op.fold_case:
                for e in clause.entries:
                    if any(folds_differ(scalar_text(v)) for v in e.values):
                        return True
        return False

    def with_folding(self, folding: Folding) -> FullConditions:
        """The same semantics with ``*IgnoreCase`` read under ``folding``."""
        return FullConditions(self.policies, folding=folding)

    def resource_variable(self, atom_key: str, enc: Encoder) -> z3.BoolRef:
        """A Resource element with policy variables (2012-10-17), given by its atom key
        (:func:`iamrefine.reference.resource_variable_key`): the resource is in the glob
        with each variable replaced by its key's value (taken literally) and each escape
        by its character; false when a variable's key is absent."""
        element = atom_key.split(" ", 2)[2]
        req = self.symbols(enc)
        parts, needs = self._parts(element, VERSION_2012, req)
        term = z3.InRe(enc.resource, self._resource_regex(parts, req))
        return enc.and_([*needs, term])

    def _resource_regex(self, parts: list[tuple[str, str]], req: RequestSymbols) -> z3.ReRef:
        """A Resource element's regex under the ARN segment rule
        (:func:`iamrefine.glob.resource_glob_matches`): a variable's value and an escape
        are literal and no segment boundary; ``?`` and a ``*`` inside a segment never
        match a colon; a segment-final ``*`` matches any run."""
        ctx = req.ctx
        allc = z3.AllChar(z3.ReSort(z3.StringSort(ctx)))
        no_colon = z3.Intersect(allc, z3.Complement(z3.Re(":", ctx)))
        chars: list[tuple[str, bool | None]] = []
        for kind, text in parts:
            if kind == "glob":
                chars.extend((ch, ch in "*?") for ch in text)
            else:
                chars.append((kind + ":" + text, None))
        out: list[z3.ReRef] = []
        run = ""
        for i, (ch, wild) in enumerate(chars):
            if wild is False:
                run += ch
                continue
            if run:
                out.append(z3.Re(string_value(run, ctx)))
                run = ""
            if wild is None:
                kind, _, text = ch.partition(":")
                out.append(z3.Re(self._piece(kind, text, req)))
            elif ch == "?":
                out.append(no_colon)
            else:
                out.append(z3.Star(allc if crosses_colons(chars, i) else no_colon))
        if run or not out:
            out.append(z3.Re(string_value(run, ctx)))
        return out[0] if len(out) == 1 else z3.Concat(*out)

    def request(self, enc: Encoder, values: dict[str, Any]) -> dict[str, list[str]]:
        """The concrete request of a model of a query built in ``enc``."""
        return decode_request(self.symbols(enc), values)

    def axioms(self, enc: Encoder, keys: frozenset[str] | None = None) -> list[z3.BoolRef]:
        """The view-consistency axioms of the request symbols built in ``enc`` (call after
        the query's terms are built), of the slots of ``keys`` only when given."""
        return self.symbols(enc).axioms(keys)

    def readable_values(
        self, enc: Encoder, keys: frozenset[str] | None = None
    ) -> list[list[z3.BoolRef]]:
        """Preferences for readable counterexamples, never part of an obligation, from
        the most to the least readable: every string value one the policies name for its
        key (a pattern's wildcards filled with ``example`` and ``x``); then a lowercase
        word of letters and digits joined by single ``-._:/@`` (``eu-west-1``, not
        ``eu-weST-1`` or ``s3..amazonaws.com``). Over the slots of ``keys`` only, when
        given."""
        req = self.symbols(enc)
        ctx = req.ctx
        named: dict[str, set[str]] = {}
        for policy, clause in _entries(self.policies):
            for e in clause.entries:
                for v in e.values:
                    text = scalar_text(v)
                    if not _has_variable(text, policy.effective_version):
                        named.setdefault(lower(e.key), set()).add(
                            text.replace("*", "example").replace("?", "x")
                        )
        first = z3.Union(z3.Range("a", "z", ctx), z3.Range("0", "9", ctx))
        sep = z3.Union(*[z3.Re(c, ctx) for c in "-._:/@"])
        word = z3.Concat(z3.Plus(first), z3.Star(z3.Concat(sep, z3.Plus(first))))
        views = [
            (key, s.views["str"])
            for (key, _), s in req.slots.items()
            if "str" in s.views and (keys is None or key in keys)
        ]
        if not views:
            return []
        names = [
            z3.Or(*[v == string_value(t, ctx) for t in sorted(named.get(key, ()))])
            for key, v in views
            if named.get(key)
        ]
        words = [z3.InRe(v, word) for _, v in views]
        return [t for t in (names, words) if t]

    def single_values(self, enc: Encoder, keys: frozenset[str] | None = None) -> list[z3.BoolRef]:
        """Constraints that leave each key (of ``keys``, when given) at most one value
        (its first slot): a preference for readable counterexamples, never part of an
        obligation."""
        return [
            z3.Not(s.present)
            for (key, i), s in self.symbols(enc).slots.items()
            if i > 0 and (keys is None or key in keys)
        ]

    def symbols(self, enc: Encoder) -> RequestSymbols:
        found: RequestSymbols = enc.memo(
            ("request", id(self)), lambda: RequestSymbols(enc, self.bounds)
        )
        return found

    def __call__(self, condition: Condition, version: str, enc: Encoder) -> z3.BoolRef:
        return enc.memo(
            ("condition", id(self), condition.canonical(), version),
            lambda: self._block(condition, version, enc),
        )

    def _block(self, condition: Condition, version: str, enc: Encoder) -> z3.BoolRef:
        req = self.symbols(enc)
        parts = []
        for clause in condition.clauses:
            op = parse_operator(clause.operator)
            if op is None:
                raise ValueError(f"unknown condition operator `{clause.operator}`")
            for e in clause.entries:
                # Entries recur: in both policies, and in a block's parts by key.
                texts = tuple(scalar_text(v) for v in e.values)
                memo = (op.name, lower(e.key), texts, version)
                term = req.entry_cache.get(memo)
                if term is None:
                    term = self._entry(op, lower(e.key), e.values, version, req)
                    req.entry_cache[memo] = term
                parts.append(term)
        return enc.and_(parts)

    def _entry(
        self, op: Operator, key: str, values: Sequence[Scalar], version: str, req: RequestSymbols
    ) -> z3.BoolRef:
        enc = req.enc
        slots = [req.slot(key, i) for i in range(req.count(key))]
        present = enc.or_([s.present for s in slots])
        if op.family == "null":
            wants = {lower(scalar_text(v)) == "true" for v in values}
            return enc.or_([enc.not_(present) if w else present for w in sorted(wants)])

        def test(i: int) -> z3.BoolRef:
            hit = enc.or_([self._match(op, key, i, scalar_text(v), version, req) for v in values])
            return enc.not_(hit) if op.negated else hit

        if op.qualifier == "ForAllValues":
            return enc.and_([z3.Implies(s.present, test(s.index)) for s in slots])
        some = enc.or_([enc.and_([s.present, test(s.index)]) for s in slots])
        absent_ok = op.if_exists or (op.negated and not op.qualifier)
        return enc.or_([some, enc.not_(present)]) if absent_ok else some

    def _match(
        self, op: Operator, key: str, i: int, text: str, version: str, req: RequestSymbols
    ) -> z3.BoolRef:
        ctx = req.ctx
        if op.family in ("numeric", "date"):
            x, ok = req.view(key, i, "num" if op.family == "numeric" else "date")
            value = (parse_number if op.family == "numeric" else parse_date)(text)
            assert value is not None
            c = z3.RealVal(f"{value.numerator}/{value.denominator}", ctx)
            compare = {
                "eq": lambda: x == c,
                "lt": lambda: x < c,
                "le": lambda: x <= c,
                "gt": lambda: x > c,
                "ge": lambda: x >= c,
            }[op.compare]
            return req.enc.and_([ok, compare()])
        if op.family == "bool":
            b, ok = req.view(key, i, "bool")
            return req.enc.and_([ok, b if lower(text) == "true" else z3.Not(b)])
        if op.family == "ip":
            (addr, v4), ok = req.view(key, i, "ip")
            parsed = parse_cidr(text)
            assert parsed is not None
            version_ip, net, n = parsed
            if version_ip == 4:
                low = z3.Extract(31, 0, addr)
                if n == 0:
                    return z3.And(ok, v4)
                top = z3.Extract(31, 32 - n, low)
                return z3.And(ok, v4, top == z3.BitVecVal(net >> (32 - n), n, ctx))
            if n == 0:
                return z3.And(ok, z3.Not(v4))
            top = z3.Extract(127, 128 - n, addr)
            return z3.And(ok, z3.Not(v4), top == z3.BitVecVal(net >> (128 - n), n, ctx))
        s = req.view(key, i, "str")
        parts, needs = self._parts(text, version, req)
        if op.family == "arn" or op.like:
            # One regex per value text and encoder: a key's slots all test it.
            found = req.regex_cache.get((op.family == "arn", text, version))
            if found is None:
                found = (
                    self._arn_regex(parts, req)
                    if op.family == "arn"
                    else self._regex(parts, req, any_char=True)
                )
                req.regex_cache[(op.family == "arn", text, version)] = found
            term = z3.InRe(s, found)
        elif op.fold_case:
            term = z3.InRe(s, self._folded("".join(t for _, t in parts), req))
        elif all(kind != "var" for kind, _ in parts):
            term = s == string_value("".join(t for _, t in parts), ctx)
        else:
            pieces = [self._piece(kind, t, req) for kind, t in parts]
            term = s == (pieces[0] if len(pieces) == 1 else z3.Concat(*pieces))
        return req.enc.and_([*needs, term])

    # values with variables

    def _parts(
        self, text: str, version: str, req: RequestSymbols
    ) -> tuple[list[tuple[str, str]], list[z3.BoolRef]]:
        """The value as ``("glob", text)`` (wildcards active), ``("lit", text)`` and
        ``("var", key)`` pieces, with the presence of each variable's key."""
        if version != VERSION_2012:
            return [("glob", text)], []
        parts: list[tuple[str, str]] = []
        needs: list[z3.BoolRef] = []
        pos = 0
        for m in _VAR.finditer(text):
            if m.start() > pos:
                parts.append(("glob", text[pos : m.start()]))
            name = m.group(1).strip()
            if name in ("*", "?", "$"):
                parts.append(("lit", name))
            else:
                key = lower(name)
                parts.append(("var", key))
                needs.append(req.slot(key, 0).present)
            pos = m.end()
        if pos < len(text) or not parts:
            parts.append(("glob", text[pos:]))
        return parts, needs

    def _piece(self, kind: str, text: str, req: RequestSymbols) -> z3.SeqRef:
        if kind == "var":
            return req.view(text, 0, "str")
        return string_value(text, req.ctx)

    def _glob_re(self, text: str, req: RequestSymbols, any_char: bool) -> z3.ReRef:
        ctx = req.ctx
        allc = z3.AllChar(z3.ReSort(z3.StringSort(ctx)))
        char = allc if any_char else z3.Intersect(allc, z3.Complement(z3.Re(":", ctx)))
        out: list[z3.ReRef] = []
        run = ""
        for ch in text:
            if ch in "*?":
                if run:
                    out.append(z3.Re(string_value(run, ctx)))
                    run = ""
                out.append(z3.Star(char) if ch == "*" else char)
            else:
                run += ch
        if run or not out:
            out.append(z3.Re(string_value(run, ctx)))
        return out[0] if len(out) == 1 else z3.Concat(*out)

    def _regex(
        self, parts: list[tuple[str, str]], req: RequestSymbols, *, any_char: bool
    ) -> z3.ReRef:
        pieces = []
        for kind, text in parts:
            if kind == "glob":
                pieces.append(self._glob_re(text, req, any_char))
            else:
                pieces.append(z3.Re(self._piece(kind, text, req)))
        return pieces[0] if len(pieces) == 1 else z3.Concat(*pieces)

    def _arn_regex(self, parts: list[tuple[str, str]], req: RequestSymbols) -> z3.ReRef:
        """ArnEquals/ArnLike: the value split at its first five colons into components
        (variable values and escapes never split), each a glob whose wildcards stay
        inside the component; the last of six components may contain colons."""
        comps: list[list[tuple[str, str]]] = [[]]
        for kind, text in parts:
            if kind != "glob":
                comps[-1].append((kind, text))
                continue
            chunks = text.split(":")
            for j, chunk in enumerate(chunks):
                if j > 0:
                    if len(comps) < 6:
                        comps.append([])
                    else:
                        comps[-1].append(("lit", ":"))
                if chunk:
                    comps[-1].append((kind, chunk))
        ctx = req.ctx
        out: list[z3.ReRef] = []
        colon = z3.Re(":", ctx)
        for j, comp in enumerate(comps):
            if j > 0:
                out.append(colon)
            last = j == len(comps) - 1 and len(comps) == 6
            pieces = [
                self._glob_re(t, req, last)
                if kind == "glob"
                else self._no_colon(z3.Re(self._piece(kind, t, req)), req, last)
                for kind, t in comp
            ] or [z3.Re(string_value("", ctx))]
            out.extend(pieces)
        return out[0] if len(out) == 1 else z3.Concat(*out)

    def _no_colon(self, rx: z3.ReRef, req: RequestSymbols, last: bool) -> z3.ReRef:
        if last:
            return rx
        allc = z3.AllChar(z3.ReSort(z3.StringSort(req.ctx)))
        no_colon = z3.Star(z3.Intersect(allc, z3.Complement(z3.Re(":", req.ctx))))
        return z3.Intersect(rx, no_colon)

    def _folded(self, text: str, req: RequestSymbols) -> z3.ReRef:
        """The strings equal to ``text`` up to case under this encoder's folding: each
        character one of its class (:func:`iamrefine.conditions.folding.fold_class`)."""
        found = req.fold_cache.get(text)
        if found is None:
            ctx = req.ctx
            out: list[z3.ReRef] = []
            run = ""
            for ch in text:
                same = fold_class(ch, self.folding)
                if len(same) == 1:
                    run += ch
                    continue
                if run:
                    out.append(z3.Re(string_value(run, ctx)))
                    run = ""
                out.append(z3.Union(*[z3.Re(string_value(c, ctx)) for c in same]))
            if run or not out:
                out.append(z3.Re(string_value(run, ctx)))
            found = req.fold_cache[text] = out[0] if len(out) == 1 else z3.Concat(*out)
        return found
