"""Policies as SMT terms: compiled statements, the action-class partition, regexes.

Three layers, each usable on its own (the first two live in :mod:`iamrefine.partition`
and are re-exported here):

1. **Compilation** (pure Python, no solver): :func:`compile_policy` turns a policy
   into :class:`CompiledStatement` records. Action patterns are ASCII-lowercased and
   normalized (``**`` -> ``*``); everything but the action element forms the
   statement's :class:`Frame` (resource element, condition block, principal), whose
   equality is the syntactic identity the decomposition lemma of
   ``proofs/THEOREMS.md`` relies on.
2. **The class partition** (pure Python): :func:`build_partition` groups the catalog
   actions by their *signature*: which statements of each policy match the action by
   their action element (Action: some pattern matches; NotAction: none does), and
   whether it is unused. Matching uses the trusted concrete matcher
   (:mod:`iamrefine.glob`) over a sorted-name index in which the actions of one
   literal prefix (for instance one service) form one contiguous range, so each
   pattern scans only the actions of its own prefix.
3. **Terms** (:class:`Encoder`, inside one ``z3.Context``): the action string, the
   resource string, the class index and the opaque atoms; IAM globs become regexes
   (``*`` -> ``re.all``, ``?`` -> ``re.allchar``, literal runs -> ``str.to_re``),
   with the literal prefixes of a set of patterns factored into a trie, because a
   flat union of many regexes is slow.

Action patterns are lowered to ASCII lowercase. Over the catalog this is exact
because catalog names are lowered the same way. Over all action strings it is exact
although the action variable is left unconstrained: lowered patterns name no ASCII
uppercase letter, so an uppercase letter in a solver model only ever matches a
wildcard, and replacing it by a character that no pattern names changes no
membership (see ``proofs/THEOREMS.md``, Lemma 4).

Condition blocks are opaque Booleans by default (:func:`encode_condition`), keyed by
:func:`iamrefine.reference.condition_key`; the hook is the ``condition_encoder``
argument of :class:`Encoder`, paired with :func:`iamrefine.reference.condition_holds`.
The full semantics is :class:`iamrefine.conditions.smt.FullConditions`, paired with
:func:`iamrefine.conditions.concrete.condition_holds`; :mod:`iamrefine.verify` asks the
opaque query first (its unsat answer settles the full one, Lemma 9 of THEOREMS.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import z3

from iamrefine.glob import (
    WILDCARDS,
    crosses_colons,
)
from iamrefine.model import Condition
from iamrefine.partition import (
    ActionClass,
    CatalogIndex,
    CompiledStatement,
    Frame,
    Partition,
    build_partition,
    catalog_index,
    common_affixes,
    common_prefix,
    compatible,
    compile_policy,
    literal_prefix,
    literal_suffix,
    lower_pattern,
    matches_lowered,
    service_key,
)
from iamrefine.reference import (
    condition_key,
)
from iamrefine.solver import string_value

__all__ = [
    "ActionClass",
    "CatalogIndex",
    "CompiledStatement",
    "Encoder",
    "Frame",
    "Partition",
    "build_partition",
    "catalog_index",
    "common_affixes",
    "compatible",
    "compile_policy",
    "encode_condition",
    "literal_prefix",
    "literal_suffix",
    "lower_pattern",
    "matches_lowered",
    "service_key",
]

# --- terms ------------------------------------------------------------------------------


def encode_condition(condition: Condition, version: str, enc: Encoder) -> z3.BoolRef:
    """The default condition encoding: one opaque Boolean per distinct block (keyed by
    :func:`iamrefine.reference.condition_key`). Sound when both policies share the block;
    paired with :func:`iamrefine.reference.condition_holds`."""
    return enc.atom(condition_key(condition, version), "cond")


ConditionEncoder = Callable[[Condition, str, "Encoder"], z3.BoolRef]


class Encoder:
    """Builds the terms of one query inside one ``z3.Context``.

    The free symbols are ``action`` (a String: the action name without the literal
    ``affixes``, see :meth:`action_regex`), ``resource`` (a String), ``class`` (a
    bit-vector class index, created by :meth:`class_index`) and one Boolean per opaque
    atom. With ``opaque_resources`` every resource element other than ``*`` is an opaque
    Boolean too (a Boolean abstraction of the query: Lemma 5 of THEOREMS.md).
    """

    def __init__(
        self,
        ctx: z3.Context,
        *,
        affixes: tuple[str, str] = ("", ""),
        opaque_resources: bool = False,
        condition_encoder: ConditionEncoder = encode_condition,
    ) -> None:
        self.ctx = ctx
        self.action_prefix, self.action_suffix = affixes
        self.opaque_resources = opaque_resources
        self.condition_encoder = condition_encoder
        self.re_sort = z3.ReSort(z3.StringSort(ctx))
        self.action = z3.String("action", ctx)
        self.resource = z3.String("resource", ctx)
        self.klass: z3.BitVecRef | None = None
        self.fixed_action: str | None = None
        self.atoms: dict[str, z3.BoolRef] = {}
        self.atom_names: dict[str, str] = {}
        self.extra_symbols: list[z3.ExprRef] = []
        self.extra_comments: list[str] = []
        self._all = z3.Full(self.re_sort)
        self._char = z3.AllChar(self.re_sort)
        self._regex_cache: dict[tuple[str, ...], z3.ReRef] = {}
        self._resource_cache: dict[str, z3.ReRef] = {}
        self._frame_cache: dict[Frame, z3.BoolRef] = {}
        self._class_eq: dict[int, z3.BoolRef] = {}
        self._memo: dict[Any, Any] = {}
        self.true = z3.BoolVal(True, ctx)
        self.false = z3.BoolVal(False, ctx)

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per encoder and ``key`` (queries reuse an encoder's terms)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # symbols

    def atom(self, key: str, kind: str) -> z3.BoolRef:
        """The opaque Boolean of atom ``key`` (created on first use, named ``kind_N``)."""
        found = self.atoms.get(key)
        if found is None:
            name = f"{kind}_{len(self.atoms)}"
            found = z3.Bool(name, self.ctx)
            self.atoms[key] = found
            self.atom_names[name] = key
        return found

    def class_index(self, partition: Partition) -> z3.BitVecRef:
        """The class-index symbol for ``partition`` (one per encoder)."""
        if self.klass is None:
            self.klass = z3.BitVec("class", partition.width, self.ctx)
        return self.klass

    def symbols(self) -> list[z3.ExprRef]:
        """Every free symbol a counterexample reads: action, resource, class, atoms, and
        the request-context symbols of a full condition encoder (``extra_symbols``)."""
        out: list[z3.ExprRef] = [self.action, self.resource]
        if self.klass is not None:
            out.append(self.klass)
        out.extend(self.atoms.values())
        out.extend(self.extra_symbols)
        return out

    def comments(self) -> list[str]:
        """SMT-LIB comment lines that say what each atom stands for."""
        lines = []
        if self.action_prefix or self.action_suffix:
            lines.append(
                f"the action is {json.dumps(self.action_prefix)} ++ `action` ++ "
                f"{json.dumps(self.action_suffix)}"
            )
        lines.extend(f"{name} = {json.dumps(key)}" for name, key in self.atom_names.items())
        lines.extend(self.extra_comments)
        return lines

    # regexes

    # Regex terms go through the C API: the trie of a large policy makes tens of
    # thousands of them, and z3's Python wrappers coerce every argument.

    def _lit(self, text: str) -> z3.ReRef:
        seq = string_value(text, self.ctx)
        return z3.ReRef(z3.Z3_mk_seq_to_re(self.ctx.ref(), seq.as_ast()), self.ctx)

    def _concat(self, parts: list[z3.ReRef]) -> z3.ReRef:
        if len(parts) == 1:
            return parts[0]
        arr = (z3.Ast * len(parts))(*(p.as_ast() for p in parts))
        return z3.ReRef(z3.Z3_mk_re_concat(self.ctx.ref(), len(parts), arr), self.ctx)

    def _union(self, alts: list[z3.ReRef]) -> z3.ReRef:
        if len(alts) == 1:
            return alts[0]
        arr = (z3.Ast * len(alts))(*(a.as_ast() for a in alts))
        return z3.ReRef(z3.Z3_mk_re_union(self.ctx.ref(), len(alts), arr), self.ctx)

    def _glob_tail(self, text: str) -> z3.ReRef:
        """Regex of a glob fragment, read character by character."""
        parts: list[z3.ReRef] = []
        run: list[str] = []
        for ch in text:
            if ch in WILDCARDS:
                if run:
                    parts.append(self._lit("".join(run)))
                    run = []
                parts.append(self._all if ch == "*" else self._char)
            else:
                run.append(ch)
        if run or not parts:
            parts.append(self._lit("".join(run)))
        return self._concat(parts)

    def _trie(self, items: list[tuple[str, str]], depth: int) -> z3.ReRef:
        """Regex of (literal prefix, rest) pairs sorted by prefix, all sharing
        ``prefix[:depth]``: one branch per next character, chains compressed."""
        alts: list[z3.ReRef] = []
        deeper: list[tuple[str, str]] = []
        for lp, rest in items:
            if len(lp) == depth:
                if rest == "*":
                    return self._all
                alts.append(self._glob_tail(rest))
            else:
                deeper.append((lp, rest))
        i = 0
        while i < len(deeper):
            ch = deeper[i][0][depth]
            j = i
            while j < len(deeper) and deeper[j][0][depth] == ch:
                j += 1
            group = deeper[i:j]
            label = common_prefix([lp[depth:] for lp, _ in group])
            label_re = self._lit(label)
            if len(group) == 1 and group[0][1] == "":
                alts.append(label_re)
            else:
                alts.append(self._concat([label_re, self._trie(group, depth + len(label))]))
            i = j
        return self._union(alts)

    def glob_union(self, patterns: Iterable[str]) -> z3.ReRef | None:
        """The regex of a union of globs (used as given, no case folding) with literal
        prefixes factored into a trie; None for no patterns."""
        key = tuple(sorted(set(patterns)))
        if not key:
            return None
        found = self._regex_cache.get(key)
        if found is None:
            items = sorted((literal_prefix(p), p[len(literal_prefix(p)) :]) for p in key)
            found = self._trie(items, 0)
            self._regex_cache[key] = found
        return found

    def _middles(self, patterns: Iterable[str]) -> list[str]:
        head, tail = self.action_prefix, self.action_suffix
        middles = []
        for p in patterns:
            lp = literal_prefix(p)
            fits = lp.startswith(head) and literal_suffix(p).endswith(tail)
            if not fits or (lp == p and len(p) < len(head) + len(tail)):
                raise ValueError(f"pattern `{p}` is not `{head}`...`{tail}`")
            middles.append(p[len(head) : len(p) - len(tail)])
        return middles

    def action_regex(self, patterns: Iterable[str]) -> z3.ReRef | None:
        """The regex of lowered action patterns, each with the literal affixes removed
        (every pattern must be ``prefix + middle + suffix`` as in :func:`common_affixes`);
        None for no patterns."""
        return self.glob_union(self._middles(patterns))

    def decode_action(self, middle: str) -> str:
        """The action name of a model's ``action`` value."""
        return self.action_prefix + middle + self.action_suffix

    def action_in(self, patterns: Iterable[str]) -> z3.BoolRef:
        """Does the action match some of the lowered ``patterns``? (False for none; true
        when the union is ``re.all``, which every string is in.)"""
        if self.fixed_action is not None:
            hit = any(matches_lowered(p, self.fixed_action) for p in patterns)
            return self.true if hit else self.false
        rx = self.action_regex(patterns)
        if rx is None:
            return self.false
        if rx is self._all:
            return self.true
        return z3.InRe(self.action, rx)

    @contextmanager
    def fixing_action(self, action: str) -> Iterator[None]:
        """Within the block, action elements are decided by the concrete matcher for the
        action name ``action``, so terms hold no action regex. Only for search queries,
        whose models are replayed through the reference evaluator."""
        previous = self.fixed_action
        self.fixed_action = action
        try:
            yield
        finally:
            self.fixed_action = previous

    def statement_action(
        self, st: CompiledStatement, keep: Callable[[str], bool] | None = None
    ) -> z3.BoolRef:
        """The statement's action element over the action string, restricted to the
        patterns ``keep`` accepts (the caller drops patterns disjoint from the query)."""
        pats = [p for p in st.patterns if keep is None or keep(p)]
        hit = self.action_in(pats)
        return self.not_(hit) if st.not_action else hit

    # frames

    def _resource_element(self, kind: str, text: str) -> z3.BoolRef:
        if kind == "var":
            semantic = getattr(self.condition_encoder, "resource_variable", None)
            if semantic is not None and not self.opaque_resources:
                term: z3.BoolRef = semantic(text, self)
                return term
            return self.atom(text, "var")
        r = self.resource
        if text == "*":
            return self.true
        if self.opaque_resources:
            return self.atom(f"resource-element {text}", "res")
        lp = literal_prefix(text)
        if lp == text:
            return r == string_value(text, self.ctx)
        if text == lp + "*":
            return z3.PrefixOf(string_value(lp, self.ctx), r)
        return z3.InRe(r, self.resource_regex(text))

    def resource_regex(self, text: str) -> z3.ReRef:
        """The regex of a Resource glob under the ARN segment rule
        (:func:`iamrefine.glob.resource_glob_matches`): ``?`` and a ``*`` inside a
        segment never match a colon; a segment-final ``*`` matches any run."""
        found = self._resource_cache.get(text)
        if found is None:
            chars = [(ch, ch in WILDCARDS) for ch in text]
            no_colon = z3.Intersect(self._char, z3.Complement(z3.Re(":", self.ctx)))
            out: list[z3.ReRef] = []
            run = ""
            for i, (ch, wild) in enumerate(chars):
                if not wild:
                    run += ch
                    continue
                if run:
                    out.append(self._lit(run))
                    run = ""
                if ch == "?":
                    out.append(no_colon)
                else:
                    out.append(z3.Star(self._char if crosses_colons(chars, i) else no_colon))
            if run or not out:
                out.append(self._lit(run))
            found = out[0] if len(out) == 1 else z3.Concat(*out)
            self._resource_cache[text] = found
        return found

    def resource_match(self, frame: Frame) -> z3.BoolRef:
        """The statement's resource element over the resource string."""
        if not frame.resource_kind:
            return self.true
        hit = self.or_([self._resource_element(k, t) for k, t in frame.resources])
        return self.not_(hit) if frame.resource_kind == "NotResource" else hit

    def frame(self, st: CompiledStatement) -> z3.BoolRef:
        """Resource element, principal and condition block of ``st``, conjoined."""
        found = self._frame_cache.get(st.frame)
        if found is not None:
            return found
        parts = [self.resource_match(st.frame)]
        if st.frame.principal is not None:
            parts.append(self.atom(st.frame.principal, "principal"))
        if st.condition is not None:
            parts.append(self.condition_encoder(st.condition, st.version, self))
        found = self.and_(parts)
        self._frame_cache[st.frame] = found
        return found

    # policies

    def allowed(
        self,
        statements: Iterable[CompiledStatement],
        action_of: Callable[[CompiledStatement], z3.BoolRef],
    ) -> z3.BoolRef:
        """The policy decision: some Allow statement matches and no Deny statement does,
        with each statement's action element given by ``action_of``."""
        allows: list[z3.BoolRef] = []
        denies: list[z3.BoolRef] = []
        for st in statements:
            act = action_of(st)
            if act is self.false:
                continue
            term = self.and_([act, self.frame(st)])
            (allows if st.allow else denies).append(term)
        return self.and_([self.or_(allows), self.not_(self.or_(denies))])

    # Constant folding recognizes this encoder's own ``true`` and ``false`` objects (every
    # method returns those for constants), which is much cheaper than asking z3.

    def or_(self, terms: Iterable[z3.BoolRef]) -> z3.BoolRef:
        """Disjunction with constant folding (False for no terms)."""
        kept = []
        for t in terms:
            if t is self.true:
                return self.true
            if t is not self.false:
                kept.append(t)
        if not kept:
            return self.false
        return kept[0] if len(kept) == 1 else self._nary(z3.Z3_mk_or, kept)

    def and_(self, terms: Iterable[z3.BoolRef]) -> z3.BoolRef:
        """Conjunction with constant folding (True for no terms)."""
        kept = []
        for t in terms:
            if t is self.false:
                return self.false
            if t is not self.true:
                kept.append(t)
        if not kept:
            return self.true
        return kept[0] if len(kept) == 1 else self._nary(z3.Z3_mk_and, kept)

    def _nary(self, make: Callable[..., Any], terms: list[z3.BoolRef]) -> z3.BoolRef:
        # z3.Or/z3.And coerce every argument in Python; our terms are Booleans of this
        # context already, so the C API is called directly.
        arr = (z3.Ast * len(terms))(*(t.as_ast() for t in terms))
        return z3.BoolRef(make(self.ctx.ref(), len(terms), arr), self.ctx)

    def not_(self, term: z3.BoolRef) -> z3.BoolRef:
        """Negation with constant folding."""
        if term is self.true:
            return self.false
        if term is self.false:
            return self.true
        return z3.Not(term)

    def any_matches(
        self,
        statements: Iterable[CompiledStatement],
        action_of: Callable[[CompiledStatement], z3.BoolRef],
    ) -> z3.BoolRef:
        """Does some statement match (action element, frame), whatever its effect?"""
        terms = []
        for st in statements:
            act = action_of(st)
            if act is not self.false:
                terms.append(self.and_([act, self.frame(st)]))
        return self.or_(terms)

    def in_classes(
        self, partition: Partition, ids: Sequence[int], within: range | None = None
    ) -> z3.BoolRef:
        """Is the class index one of ``ids``? ``within`` (default: every class) is the
        range the index is known to lie in (the query asserts it); ``ids`` outside it
        are dropped, and the test is written over the smaller side of ``within``."""
        k = self.class_index(partition)
        if within is not None and len(within) == len(partition):
            within = None
        universe = within if within is not None else range(len(partition))
        if within is not None:
            ids = [i for i in ids if i in within]
        total = len(universe)
        if not ids:
            return self.false
        if len(ids) == total:
            return self.true
        if 2 * len(ids) > total:
            chosen = set(ids)
            rest = [i for i in universe if i not in chosen]
            return self.not_(self.or_([self._is_class(k, i) for i in rest]))
        return self.or_([self._is_class(k, i) for i in ids])

    def _is_class(self, k: z3.BitVecRef, i: int) -> z3.BoolRef:
        found = self._class_eq.get(i)
        if found is None:
            found = self._class_eq[i] = k == z3.BitVecVal(i, k.size(), self.ctx)
        return found

    def class_action(
        self, partition: Partition, policy: int, within: range | None = None
    ) -> Callable[[CompiledStatement], z3.BoolRef]:
        """The action element of policy ``policy``'s statements over the class index
        (known to lie in ``within``, see :meth:`in_classes`)."""
        members: dict[int, list[int]] = {}
        for c in partition.classes[within.start : within.stop] if within else partition.classes:
            for si in c.matches[policy]:
                members.setdefault(si, []).append(c.index)
        return lambda st: self.in_classes(partition, members.get(st.index, []), within)

    def class_domain(self, partition: Partition, within: range | None = None) -> z3.BoolRef:
        """The class index names an existing class (of ``within``, when given)."""
        k = self.class_index(partition)
        if within is not None and (within.start, within.stop) != (0, len(partition)):
            lo = z3.BitVecVal(within.start, partition.width, self.ctx)
            hi = z3.BitVecVal(within.stop - 1, partition.width, self.ctx)
            return self.and_([z3.ULE(lo, k), z3.ULE(k, hi)])
        if len(partition) == 1 << partition.width:
            return self.true
        return z3.ULT(k, z3.BitVecVal(len(partition), partition.width, self.ctx))

    def unused_class(self, partition: Partition, within: range | None = None) -> z3.BoolRef:
        """The class index names a class of unused actions (known to lie in ``within``)."""
        ids = [c.index for c in partition.classes if c.unused]
        return self.in_classes(partition, ids, within)
