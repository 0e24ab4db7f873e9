"""A query with full condition semantics, decided condition key by condition key
(Lemma 12 of ``proofs/THEOREMS.md``), the way the catalog claim is decided class by class.

The query's condition blocks are opaque atoms in its *abstraction*. While the abstraction
is sat, its model's atoms give a *cube*: blocks that hold (``P``) and blocks that fail
(``N``). The request context appears only inside the blocks, and every block is the
conjunction of its parts on the key components of :mod:`iamrefine.conditions.split`,
which share no symbol. So, for a failing block ``n``, ``P and not n`` is unsat iff, on
every component ``K`` that ``n`` has entries on, ``P^K and not n^K`` is unsat (each is a
small query on one component); then the clause ``not (P' and not n)``, with ``P'`` the
blocks of ``P`` that touch those components, holds for every request and is added to
the abstraction. Likewise ``not P^K`` for a component where ``P^K`` is unsat. When the
abstraction with these clauses is unsat, so is the query. When a cube has a model on
every component, the models combine into one request: the query with the request fixed
to it is decided, and its model is the counterexample.

Returns None (the caller then decides the query whole) when the query has a Resource
with policy variables (which ties the resource string to the context), when a cube needs
a joint check of several failing blocks on one component that fails, or when any part
is not decided.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import z3

from iamrefine import solver
from iamrefine.conditions import concrete
from iamrefine.conditions.decode import decode_request
from iamrefine.conditions.operators import parse_operator
from iamrefine.conditions.smt import FullConditions
from iamrefine.conditions.split import (
    Component,
    block_components,
    components,
    parts_by_component,
)
from iamrefine.conditions.values import lower, parse_address, parse_date, parse_number, scalar_text
from iamrefine.encode import Encoder, encode_condition
from iamrefine.model import Condition
from iamrefine.prove.results import Obligation
from iamrefine.solver import SolverStatus

if TYPE_CHECKING:
    from iamrefine.prove.claim import Claim, Query

MAX_ROUNDS = 64
"""Cubes tried before the query is decided whole."""
WITNESS_TRIES = 64
"""Values the evaluator tries on one key before the solver is asked."""
READABLE_BUDGET = 0.5
"""Seconds for each try at a more readable model of a sat part query."""
PREMISE = (
    "each clause over the condition atoms holds for every request, by the unsat condition-"
    "key queries recorded before it (Lemma 12)"
)


@dataclass
class _Block:
    atom: str
    condition: Condition
    version: str


@dataclass
class _State:
    claim: Claim
    query: Query
    opaque: bool
    cond: FullConditions
    blocks: dict[str, _Block]
    of: dict[str, Component]
    enc: Encoder
    deadline: float
    comps: dict[str, list[Component]] = field(default_factory=dict)
    lemmas: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    recorded: set[Any] = field(default_factory=set)
    abstract_atoms: tuple[str, ...] = ()
    restricted: dict[str, dict[Component, Condition]] = field(default_factory=dict)
    canonical: dict[int, str] = field(default_factory=dict)


def decide_by_key(
    claim: Claim, q: Query, *, opaque: bool, cond: FullConditions
) -> tuple[solver.Answer, Encoder] | None:
    """Decide ``q`` with the full condition semantics ``cond`` key by key, recording its
    obligations in ``claim``; None when it is to be decided whole (see the module)."""
    blocks: dict[str, _Block] = {}

    def recording(condition: Condition, version: str, enc: Encoder) -> z3.BoolRef:
        atom = encode_condition(condition, version, enc)
        blocks.setdefault(str(atom), _Block(str(atom), condition, version))
        return atom

    abstract = Encoder(
        solver.new_context(),
        affixes=q.affixes,
        opaque_resources=opaque,
        condition_encoder=recording,
    )
    base = q.build(abstract)
    if any(name.startswith("var_") for name in abstract.atom_names) or not blocks:
        return None
    of = components((b.condition, b.version) for b in blocks.values())
    # The parts' queries read only the request, so every query over these policies
    # builds them in one encoder (each block's terms are made once).
    full = cond.shared.get("by key encoder")
    if full is None:
        full = cond.shared["by key encoder"] = Encoder(solver.new_context(), condition_encoder=cond)
    deadline = claim.deadline
    if q.budget is not None:
        deadline = min(deadline, time.perf_counter() + q.budget)
    st = _State(claim, q, opaque, cond, blocks, of, full, deadline)
    st.comps = {a: block_components(b.condition, of) for a, b in blocks.items()}
    st.abstract_atoms = tuple(abstract.atom_names)
    for _ in range(MAX_ROUNDS):
        clauses = [_clause(abstract, pos, neg) for pos, neg in st.lemmas]
        answer = _solve(st, base + clauses, abstract)
        if answer.status is SolverStatus.UNSAT:
            _record(st, _abstraction_name(st), answer, _rebuild_abstraction(st), proof=True)
            return answer, abstract
        if answer.status is not SolverStatus.SAT:
            return None
        holds = [a for a in blocks if answer.values.get(a, False)]
        fails = [a for a in blocks if not answer.values.get(a, False)]
        found = _refute_cube(st, holds, fails)
        if found is None:
            return None
        if isinstance(found, str):
            continue
        if opaque:
            # A model of an abstraction only steers the caller (Lemma 5): its own.
            return answer, abstract
        return _counterexample(st, answer, found)
    return None


def _clause(enc: Encoder, pos: tuple[str, ...], neg: tuple[str, ...]) -> z3.BoolRef:
    """``not (all of pos and none of neg)`` over the atoms named."""
    atoms = {str(t): t for t in enc.atoms.values()}
    return enc.or_([enc.not_(atoms[a]) for a in pos] + [atoms[a] for a in neg])


def _solve(
    st: _State,
    assertions: list[z3.BoolRef],
    enc: Encoder,
    symbols: list[z3.ExprRef] | None = None,
) -> solver.Answer:
    """Decide within the state's deadline; a sat answer reports ``symbols`` (default:
    every symbol of ``enc``)."""
    claim = st.claim
    left = st.deadline - time.perf_counter()
    if left <= 0:
        return solver.Answer(SolverStatus.UNKNOWN, "none", 0.0, reason="out of time")
    claim.queries += 1
    answer = solver.solve(
        assertions,
        enc.symbols() if symbols is None else symbols,
        timeout=left,
        engine=claim.engine,
        comments=enc.comments(),
    )
    claim.engines.add(answer.engine)
    return answer


def _part_terms(
    cond: FullConditions,
    enc: Encoder,
    parts: list[tuple[Condition, str, bool]],
    component: Component,
) -> list[z3.BoolRef]:
    """The parts on ``component`` (each held or failed), with the axioms of its keys."""
    terms = []
    for condition, version, held in parts:
        term = cond(condition, version, enc)
        terms.append(term if held else enc.not_(term))
    return terms + cond.axioms(enc, component)


def _parts(
    st: _State, holds: list[str], fails: list[str], component: Component
) -> list[tuple[Condition, str, bool]]:
    out = []
    for atoms, held in ((holds, True), (fails, False)):
        for a in atoms:
            b = st.blocks[a]
            if a not in st.restricted:
                st.restricted[a] = parts_by_component(b.condition, st.of)
                for made in st.restricted[a].values():
                    st.canonical[id(made)] = made.canonical()
            found = st.restricted[a].get(component)
            if found is not None:
                out.append((found, b.version, held))
    return out


@dataclass
class _Part:
    """A part query's answer: its status, and for sat its model's values or a concrete
    request (one value per key) on which the evaluator gives every part its polarity."""

    answer: solver.Answer
    request: dict[str, list[str]] | None = None
    opaque: bool = False


def _opaque_enc(st: _State) -> Encoder:
    found: Encoder | None = st.cond.shared.get("by key opaque encoder")
    if found is None:
        found = st.cond.shared["by key opaque encoder"] = Encoder(solver.new_context())
    return found


def _opaque_terms(
    enc: Encoder, parts: list[tuple[Condition, str, bool]], texts: list[str]
) -> list[z3.BoolRef]:
    """The parts as opaque atoms, one per distinct part (its canonical text ``texts[i]``
    and version; Lemma 9: unsat here is unsat with their semantics); a part that both
    holds and fails is unsat at once."""
    terms = []
    for (_, version, held), text in zip(parts, texts, strict=True):
        atom = enc.atom(f"{text} @{version}", "part")
        terms.append(atom if held else enc.not_(atom))
    return terms


def _check(st: _State, holds: list[str], fails: list[str], component: Component) -> _Part:
    """Are the parts on ``component`` of the blocks ``holds`` (holding) and ``fails``
    (failing) satisfiable together? A request of values the policies name is tried
    first by the evaluator (a search: only a sat answer comes of it); then the solver.
    Answers are shared by every query over these policies; an unsat one is recorded as
    a proof obligation of each claim that uses it."""
    parts = _parts(st, holds, fails, component)
    key = tuple((st.canonical[id(p)], v, h) for p, v, h in parts)
    answers: dict[Any, _Part] = st.cond.shared.setdefault("by key parts", {})
    found = answers.get(key)
    if found is None:
        found = _Part(solver.Answer(SolverStatus.UNKNOWN, "none", 0.0))
        held = {(st.canonical[id(p)], v) for p, v, h in parts if h}
        if any((st.canonical[id(p)], v) in held for p, v, h in parts if not h):
            # Only then can the opaque query be unsat (its atoms are otherwise free).
            opaque = _opaque_enc(st)
            texts = [st.canonical[id(p)] for p, _, _ in parts]
            terms = _opaque_terms(opaque, parts, texts)
            found = _Part(_solve(st, terms, opaque, []), opaque=True)
        if found.answer.status is not SolverStatus.UNSAT:
            request = _witness(st, parts, component)
            if request is not None:
                found = _Part(solver.Answer(SolverStatus.SAT, "evaluator", 0.0), request)
            else:
                terms = _part_terms(st.cond, st.enc, parts, component)
                slots = st.cond.symbols(st.enc).slots.values()
                wanted = [sym for sl in slots if sl.key in component for sym in _symbols(sl)]
                answer = _solve(st, terms, st.enc, wanted)
                if answer.status is SolverStatus.SAT:
                    answer = _readable(st, terms, wanted, component, answer)
                found = _Part(answer)
        if found.answer.status is not SolverStatus.UNKNOWN:
            answers[key] = found
    if found.answer.status is SolverStatus.UNSAT and key not in st.recorded:
        st.recorded.add(key)
        cond = st.cond

        texts = [st.canonical[id(p)] for p, _, _ in parts]

        def rebuild(opaque: bool = found.opaque) -> tuple[list[z3.BoolRef], list[str]]:
            if opaque:
                enc = Encoder(solver.new_context())
                return _opaque_terms(enc, parts, texts), enc.comments()
            enc = Encoder(solver.new_context(), condition_encoder=cond)
            return _part_terms(cond, enc, parts, component), enc.comments()

        keys = ", ".join(sorted(component))
        name = f"{st.query.name}: condition keys {{{keys}}}, {_cube_text(parts)}"
        _record(st, name, found.answer, rebuild, proof=True)
    return found


def _readable(
    st: _State,
    terms: list[z3.BoolRef],
    wanted: list[z3.ExprRef],
    component: Component,
    found: solver.Answer,
) -> solver.Answer:
    """A model of the sat part query ``terms`` that reads better than ``found``, by the
    condition encoder's preferences on the keys of ``component`` (one value per key,
    values the policies name, then lowercase words), each try within a small budget. A
    model of these is a model of ``terms``; failing all, ``found``."""
    single = st.cond.single_values(st.enc, component)
    tries = [single + r for r in st.cond.readable_values(st.enc, component)]
    if single:
        tries.append(single)
    for extra in tries:
        left = min(READABLE_BUDGET, (st.deadline - time.perf_counter()) / 4)
        if left <= 0:
            break
        answer = solver.solve(terms + extra, wanted, timeout=left, engine=st.claim.engine)
        if answer.status is SolverStatus.SAT:
            return solver.Answer(SolverStatus.SAT, found.engine, found.seconds, answer.values)
    return found


def _witness(
    st: _State, parts: list[tuple[Condition, str, bool]], component: Component
) -> dict[str, list[str]] | None:
    """A request on the one key of ``component`` (absent, or one value some policy names
    for it, wildcards filled, a CIDR's address) on which the evaluator gives each part
    its polarity; None when none does (or the component has several keys)."""
    if len(component) != 1 or st.cond.folding_matters:
        return None
    (key,) = component
    texts: dict[str, None] = {}
    for condition, _, _ in sorted(parts, key=lambda p: not p[2]):
        for clause in condition.clauses:
            op = parse_operator(clause.operator)
            for e in clause.entries:
                if op is not None and not op.negated:
                    texts.update((_fill(scalar_text(v)), None) for v in e.values)
    spelled = st.cond.spelling.get(key, key)
    candidates = list(texts)[:WITNESS_TRIES]
    for request in [{}, *({spelled: [t]} for t in candidates)]:
        if all(
            concrete.condition_holds(c, v, request, folding=st.cond.folding) == held
            for c, v, held in parts
        ):
            return request
    return None


def _fill(text: str) -> str:
    if "${" in text:
        return text
    head, slash, bits = text.partition("/")
    if slash and bits.isdigit() and parse_address(head) is not None:
        return head
    return text.replace("*", "example").replace("?", "x")


def _cube_text(parts: list[tuple[Condition, str, bool]]) -> str:
    held = sum(1 for *_, h in parts if h)
    return f"{held} block part(s) holding, {len(parts) - held} failing"


def _refute_cube(
    st: _State, holds: list[str], fails: list[str]
) -> str | dict[Component, _Part] | None:
    """A clause that excludes the cube (``"excluded"``; the clause is in ``st.lemmas``),
    or the models of its parts on every component (the cube is a real request), or None
    (undecided)."""
    witness: dict[str, Component] = {}
    for n in fails:
        comps = st.comps[n]
        sat_on = None
        for comp in comps:
            touching = [a for a in holds if comp in st.comps[a]]
            answer = _check(st, touching, [n], comp).answer
            if answer.status is SolverStatus.SAT:
                sat_on = comp
                break
            if answer.status is not SolverStatus.UNSAT:
                return None
        if sat_on is None:
            wide = set(comps)
            pos = tuple(a for a in holds if wide & set(st.comps[a]))
            st.lemmas.append((pos, (n,)))
            return "excluded"
        witness[n] = sat_on
    used = {c for a in holds for c in st.comps[a]}
    used |= set(witness.values())
    models: dict[Component, _Part] = {}
    for comp in sorted(used, key=lambda c: sorted(c)):
        touching = [a for a in holds if comp in st.comps[a]]
        failing = [n for n, c in witness.items() if c == comp]
        part = _check(st, touching, failing, comp)
        if part.answer.status is SolverStatus.UNSAT:
            if failing:
                return None
            st.lemmas.append((tuple(touching), ()))
            return "excluded"
        if part.answer.status is not SolverStatus.SAT:
            return None
        models[comp] = part
    return models


def _counterexample(
    st: _State, abstract: solver.Answer, models: dict[Component, _Part]
) -> tuple[solver.Answer, Encoder] | None:
    """The abstraction's model (action, resource, class) with the request that the
    parts' models describe (a key of no part absent), once the evaluator confirms that
    the request gives every block its value in the cube: then the abstraction's
    assignment is the blocks' real values, and the model is one of the query. It is
    replayed through the evaluator like any other counterexample."""
    enc = Encoder(solver.new_context(), affixes=st.query.affixes, condition_encoder=st.cond)
    if any(not a.startswith("cond_") for a in st.abstract_atoms):
        return None  # principal or resource atoms: decided whole
    req = st.cond.symbols(enc)
    solved = st.cond.symbols(st.enc)
    request: dict[str, list[str]] = {}
    for comp, part in models.items():
        if part.request is not None:
            found = {lower(k): list(v) for k, v in part.request.items()}
        else:
            values = dict(part.answer.values)
            for slot in solved.slots.values():
                if slot.key in comp:
                    for sym, default in _defaults(slot):
                        values.setdefault(str(sym), default)
            found = {k: v for k, v in decode_request(solved, values).items() if k in comp}
        request.update(found)
    spelled = {st.cond.spelling.get(k, k): v for k, v in request.items()}
    for atom, b in st.blocks.items():
        held = concrete.condition_holds(b.condition, b.version, spelled, folding=st.cond.folding)
        if held != bool(abstract.values.get(atom, False)):
            return None
    for key, texts in request.items():
        for i in range(len(texts)):
            req.view(key, i, "str")  # the slot and the view the request is read from
    values = {k: v for k, v in abstract.values.items() if not k.startswith("cond_")}
    for (key, i), slot in req.slots.items():
        texts = request.get(key, [])
        values.update(_slot_values(slot, texts[i] if i < len(texts) else None))
    answer = solver.Answer(SolverStatus.SAT, abstract.engine, abstract.seconds, values)
    return answer, enc


def _symbols(slot: Any) -> list[z3.ExprRef]:
    return [slot.present, *(sym for sym, _ in _defaults(slot))]


def _defaults(slot: Any) -> list[tuple[z3.ExprRef, Any]]:
    out: list[tuple[z3.ExprRef, Any]] = []
    for family, view in slot.views.items():
        if family == "str":
            out.append((view, ""))
        else:
            value, ok = view
            out.append((ok, False))
            if isinstance(value, tuple):
                out += [(value[0], 0), (value[1], False)]
            else:
                out.append((value, False if family == "bool" else Fraction(0)))
    return out


def _slot_values(slot: Any, text: str | None) -> dict[str, Any]:
    """The values of a slot's symbols that say it holds ``text`` (None: absent), each
    typed view read as :mod:`iamrefine.conditions.values` parses it."""
    out: dict[str, Any] = {str(slot.present): text is not None}
    if text is None:
        return out
    for family, view in slot.views.items():
        if family == "str":
            out[str(view)] = text
            continue
        value, ok = view
        if family == "bool":
            out[str(ok)] = lower(text) in ("true", "false")
            out[str(value)] = lower(text) == "true"
        elif family == "ip":
            parsed = parse_address(text)
            out[str(ok)] = parsed is not None
            out[str(value[0])] = parsed[1] if parsed is not None else 0
            out[str(value[1])] = parsed is not None and parsed[0] == 4
        else:
            number = (parse_number if family == "num" else parse_date)(text)
            out[str(ok)] = number is not None
            out[str(value)] = number if number is not None else Fraction(0)
    return out


def _abstraction_name(st: _State) -> str:
    return (
        f"{st.query.name}, condition blocks opaque, with {len(st.lemmas)} clause(s) from "
        "condition-key queries"
    )


def _rebuild_abstraction(st: _State) -> Any:
    q, opaque, lemmas = st.query, st.opaque, list(st.lemmas)
    blocks = dict(st.blocks)

    def rebuild() -> tuple[list[z3.BoolRef], list[str]]:
        enc = Encoder(solver.new_context(), affixes=q.affixes, opaque_resources=opaque)
        base = q.build(enc)
        names = {a: str(encode_condition(b.condition, b.version, enc)) for a, b in blocks.items()}
        clauses = [
            _clause(enc, tuple(names[a] for a in pos), tuple(names[a] for a in neg))
            for pos, neg in lemmas
        ]
        return base + clauses, enc.comments()

    return rebuild


def _record(st: _State, name: str, answer: solver.Answer, rebuild: Any, *, proof: bool) -> None:
    q = st.query
    premise = PREMISE if proof and st.lemmas and "opaque" in name else q.premise
    st.claim.sink.append(
        Obligation(
            name,
            st.claim.name,
            q.kind,
            "proof" if proof else "search",
            answer.status,
            premise,
            q.partition,
            answer.seconds,
            answer.engine,
            rebuild,
        )
    )
