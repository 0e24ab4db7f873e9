"""Verdicts: does a refined policy do what the refinement promises, and are two policies
equivalent? Each property is split into SMT queries, each *unsat iff its part of the
property holds*; a property is PROVED only when every one of its queries is unsat.

Stages, kept apart:

1. **compile**: :func:`iamrefine.encode.compile_policy` and the class partition;
2. **encode**: each query is a builder that writes its assertions into a fresh
   :class:`~iamrefine.encode.Encoder` (so it can be rebuilt for SMT-LIB export);
3. **verify**: :func:`iamrefine.solver.solve` decides it;
4. **decode**: a ``sat`` model becomes a :class:`Counterexample`, which is replayed
   through :mod:`iamrefine.reference` before anyone sees it. A counterexample that the
   reference evaluator does not confirm raises :class:`~iamrefine.errors.InternalError`.

The claims (see ``proofs/THEOREMS.md``):

- *exact over the catalog*: for every catalog action ``a``, resource ``r`` and context
  ``c``, ``refined(a,r,c) <=> original(a,r,c) and a not in unused``; decided over the
  class partition in two directional queries (``over``: the refined policy allows too
  much; ``under``: it allows too little), each split into chunks of at most
  :data:`CLASS_CHUNK` classes;
- *no escalation for any action string*: ``refined(a,r,c) => original(a,r,c)`` for every
  string ``a``. For a structure-preserving refinement it follows from per-pattern
  containment queries (Theorem 2); otherwise, and whenever a containment query is not
  unsat, one query per refined Allow statement and literal service prefix decides it.

Every time budget is per claim: each query gets what its claim has left.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import z3

from iamrefine import reference, solver
from iamrefine.catalog import Catalog
from iamrefine.conditions import concrete
from iamrefine.conditions.folding import Folding
from iamrefine.conditions.smt import FullConditions
from iamrefine.encode import (
    CompiledStatement,
    Encoder,
    Frame,
    Partition,
    build_partition,
    common_affixes,
    compatible,
    compile_policy,
    encode_condition,
    literal_prefix,
    lower_pattern,
    matches_lowered,
    service_key,
)
from iamrefine.errors import InternalError
from iamrefine.model import Policy, Statement
from iamrefine.reference import Decision
from iamrefine.unused import UnusedSet

if TYPE_CHECKING:
    from iamrefine.refine import RefineResult

CATALOG_CLAIM = "exact over the catalog"
STRINGS_CLAIM = "no escalation for any action string"


class Verdict(StrEnum):
    """PROVED: every query unsat. REFUTED: a replayed counterexample. UNKNOWN: otherwise."""

    PROVED = "PROVED"
    REFUTED = "REFUTED"
    UNKNOWN = "UNKNOWN"


@dataclass
class Counterexample:
    """A request on which a claim fails, confirmed by the reference evaluator.

    ``action`` is a catalog action (for catalog claims: the first member of the class
    the solver chose, all of which behave alike; ``action_class`` lists them) or any
    string; ``context`` gives the opaque atoms' values (condition blocks keyed by their
    canonical text); ``relevant`` lists the atoms of the statements whose action and
    resource elements match the request (the ones the message names); ``decisions`` maps
    each policy's label to its decision on the request. ``request`` holds the condition
    keys' values (ASCII-lowercased key -> values) when the condition blocks were decided
    by their full semantics; the blocks' truth values in ``context`` then come from
    :func:`iamrefine.conditions.concrete.condition_holds` on it.
    """

    claim: str
    action: str
    resource: str
    context: dict[str, bool]
    decisions: dict[str, Decision]
    message: str
    in_catalog: bool
    action_class: list[str] = field(default_factory=list)
    relevant: list[str] = field(default_factory=list)
    request: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (statement indices are 0-based)."""
        return {
            "claim": self.claim,
            "message": self.message,
            "action": self.action,
            "in_catalog": self.in_catalog,
            "action_class": self.action_class,
            "resource": self.resource,
            "context": {k: self.context[k] for k in self.relevant},
            "request": self.request,
            "decisions": {
                label: {
                    "allowed": d.allowed,
                    "matched_allow": d.matched_allow,
                    "matched_deny": d.matched_deny,
                }
                for label, d in self.decisions.items()
            },
        }


@dataclass
class ClaimResult:
    """The verdict on one claim with the time it took and solver statistics
    (``classes``, ``queries``, ``syntactic``, ``solver``)."""

    name: str
    verdict: Verdict
    counterexample: Counterexample | None
    reason: str | None
    seconds: float
    stats: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "seconds": round(self.seconds, 6),
            "reason": self.reason,
            "stats": self.stats,
            "counterexample": None
            if self.counterexample is None
            else self.counterexample.to_json(),
        }


@dataclass
class Obligation:
    """One solver query as asked: its name, claim, kind (``classes``, ``containment`` or
    ``statement``), role, the solver's status, the premise it relies on (for
    containment queries: the syntactic facts of Theorem 2; for abstractions and class
    exclusions: Lemmas 5 and 6), for class queries the partition, and the solving time
    and engine.

    ``role`` is ``proof`` when the query's unsat answer is part of a claim's proof, and
    ``search`` when the query only restricts another one to find a model sooner (its
    models are models of that query; its unsat answer proves nothing). A PROVED claim
    rests on its ``proof`` obligations whose status is ``unsat``: those not superseded by
    a fallback (a containment query that is not unsat is followed by a statement query
    for the same patterns)."""

    name: str
    claim: str
    kind: str
    role: str
    status: str
    premise: str | None
    partition: Partition | None
    seconds: float
    engine: str
    _build: Callable[[], tuple[list[z3.BoolRef], list[str]]] = field(repr=False)

    def smtlib(self) -> str:
        """The query as complete SMT-LIB 2 text (rebuilt in a fresh context)."""
        assertions, comments = self._build()
        head = [f"iamrefine obligation: {self.name}", f"claim: {self.claim}"]
        if self.premise:
            head.append(f"premise: {self.premise}")
        head.append("unsat iff this part of the claim holds")
        return solver.smtlib(assertions, [*head, *comments])


@dataclass
class CheckReport:
    """Every claim's result. ``verdict`` is PROVED only if every claim is PROVED,
    REFUTED if any is REFUTED, and UNKNOWN otherwise."""

    claims: list[ClaimResult]
    obligations: list[Obligation] = field(default_factory=list, repr=False)
    catalog: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        verdicts = {c.verdict for c in self.claims}
        if verdicts <= {Verdict.PROVED}:
            return Verdict.PROVED
        if Verdict.REFUTED in verdicts:
            return Verdict.REFUTED
        return Verdict.UNKNOWN

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.claims)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "seconds": round(self.seconds, 6),
            "claims": [c.to_json() for c in self.claims],
            "catalog": self.catalog,
        }


# --- running queries ---------------------------------------------------------------------


class UnrealizableModel(Exception):
    """A model of a full-semantics query that no real request has."""


@dataclass
class _Query:
    name: str
    kind: str
    build: Callable[[Encoder], list[z3.BoolRef]]
    affixes: tuple[str, str] = ("", "")
    partition: Partition | None = None
    premise: str | None = None
    fresh: bool = False
    abstract_first: bool = False
    budget: float | None = None
    auxiliary: bool = False
    search_only: bool = False


class _Claim:
    """Runs the queries of one claim against a shared deadline and keeps statistics."""

    def __init__(
        self,
        name: str,
        timeout: float,
        engine: str,
        sink: list[Obligation],
        conditions: FullConditions | None = None,
    ) -> None:
        self.name = name
        self.engine = engine
        self.start = time.perf_counter()
        self.deadline = self.start + timeout
        self.sink = sink
        self.queries = 0
        self.syntactic = 0
        self.classes: int | None = None
        self.engines: set[str] = set()
        self.unknown: list[str] = []
        self._sessions: dict[bool, solver.Session] = {}
        self._encoders: dict[tuple[int, bool, tuple[str, str]], Encoder] = {}
        self.conditions = conditions
        self._variants: dict[Folding, FullConditions] = {}
        self._folds: bool | None = None

    def _folding_matters(self) -> bool:
        """Do the two readings of ``*IgnoreCase`` differ on some value of the claim?"""
        if self._folds is None:
            self._folds = self.conditions is not None and self.conditions.folding_matters
        return self._folds

    def session_for(self, q: _Query) -> solver.Session | None:
        # Light queries of one claim share a context (creating one costs more than
        # deciding them); heavy queries get a fresh one, because Z3's time depends on
        # the terms built before them. Only tiny string queries share a solver.
        if q.fresh:
            return None
        incremental = q.kind == "containment"
        if incremental not in self._sessions:
            self._sessions[incremental] = solver.Session(incremental=incremental)
        return self._sessions[incremental]

    def run(self, q: _Query) -> tuple[solver.Answer, Encoder]:
        """Decide ``q``; with ``abstract_first``, first its Boolean abstraction (resource
        elements opaque), whose unsat settles the query (Lemma 5); otherwise, or when the
        abstraction is not unsat, the query itself."""
        if q.abstract_first:
            light = _Query(q.name, q.kind, q.build)
            answer, enc = self.decide(q, opaque=True, session=self.session_for(light))
            if answer.status == "unsat":
                return answer, enc
        return self.decide(q, opaque=False, session=self.session_for(q))

    def decide(
        self,
        q: _Query,
        *,
        opaque: bool,
        session: solver.Session | None,
        full: bool = False,
        ctx: z3.Context | None = None,
        folding: Folding = Folding.ASCII,
    ) -> tuple[solver.Answer, Encoder]:
        """Decide ``q`` once (resource elements opaque or not) and record the obligation.
        An unknown answer makes the claim UNKNOWN unless the query is auxiliary (another
        query follows it) or an abstraction.

        Condition blocks are opaque atoms first; when the claim has full condition
        semantics (``self.conditions``) and that query is sat with a condition atom in
        it, the query is decided again (in the same context ``ctx``, by a fresh solver)
        with the blocks' full semantics, and only that answer is recorded (Lemma 9:
        unsat with opaque blocks implies unsat with their semantics)."""
        cond: Any = encode_condition
        if full and self.conditions is not None:
            cond = self.conditions
            if folding is not cond.folding:
                cond = self._variants.setdefault(folding, cond.with_folding(folding))
        if session is None or full:
            enc = Encoder(
                ctx or solver.new_context(),
                affixes=q.affixes,
                opaque_resources=opaque,
                condition_encoder=cond,
            )
        else:
            # Queries in one session reuse an encoder, and so its terms.
            key = (id(session), opaque, q.affixes)
            enc = self._encoders.get(key) or Encoder(
                session.ctx, affixes=q.affixes, opaque_resources=opaque
            )
            self._encoders[key] = enc
        assertions = q.build(enc) + _axioms(cond, enc)
        left = self.deadline - time.perf_counter()
        if q.budget is not None:
            left = min(left, q.budget)
        self.queries += 1
        if left <= 0:
            answer = solver.Answer("unknown", "none", 0.0, reason="the claim's time budget ran out")
        else:
            preferred = self._readable_model(cond, enc, assertions, left) if full else None
            answer = preferred or solver.solve(
                assertions,
                enc.symbols(),
                timeout=left,
                engine=self.engine,
                comments=enc.comments(),
                session=session,
            )
            self.engines.add(answer.engine)
        if (
            not full
            and self.conditions is not None
            and answer.status == "sat"
            and any(name.startswith(("cond_", "var_")) for name in enc.atom_names)
        ):
            found = self.decide(q, opaque=opaque, session=None, full=True, ctx=enc.ctx)
            if not self._folding_matters():
                return found
            other, _ = self.decide(
                q, opaque=opaque, session=None, full=True, folding=Folding.UNICODE
            )
            agreed = _agree(found[0], other)
            disagree = (
                "unknown" not in (found[0].status, other.status) and agreed.status == "unknown"
            )
            if disagree and not opaque and not q.auxiliary:
                self.unknown.append(f"{q.name}: {agreed.reason}")
            return agreed, found[1]
        if opaque and answer.status != "unsat":
            return answer, enc
        if answer.status == "unknown" and not q.auxiliary:
            self.unknown.append(f"{q.name}: {answer.reason}")

        def rebuild(q: _Query = q) -> tuple[list[z3.BoolRef], list[str]]:
            e = Encoder(
                solver.new_context(),
                affixes=q.affixes,
                opaque_resources=opaque,
                condition_encoder=cond,
            )
            return q.build(e) + _axioms(cond, e), e.comments()

        premise = q.premise
        if opaque:
            abstraction = "resource elements abstracted as opaque Booleans (Lemma 5)"
            premise = f"{premise}; {abstraction}" if premise else abstraction
        self.sink.append(
            Obligation(
                q.name,
                self.name,
                q.kind,
                "search" if q.search_only else "proof",
                answer.status,
                premise,
                q.partition,
                answer.seconds,
                answer.engine,
                rebuild,
            )
        )
        return answer, enc

    def _readable_model(
        self, cond: Any, enc: Encoder, assertions: list[z3.BoolRef], left: float
    ) -> solver.Answer | None:
        """A model of ``assertions`` in which every condition key has at most one value,
        if the solver finds one within half the budget; None otherwise. Its model is a
        model of the whole query, so its ``sat`` is the query's answer; anything else
        says nothing, and the whole query is asked."""
        prefer = getattr(cond, "single_values", None)
        extra = list(prefer(enc)) if prefer is not None else []
        if not extra:
            return None
        answer = solver.solve(
            assertions + extra,
            enc.symbols(),
            timeout=left / 2,
            engine=self.engine,
            comments=enc.comments(),
            session=None,
        )
        return answer if answer.status == "sat" else None

    def result(self, verdict: Verdict, cex: Counterexample | None = None) -> ClaimResult:
        stats: dict[str, Any] = {
            "queries": self.queries,
            "syntactic": self.syntactic,
            "solver": ", ".join(sorted(self.engines)) or "none",
        }
        if self.classes is not None:
            stats["classes"] = self.classes
        reason = None
        if verdict is Verdict.UNKNOWN:
            reason = "; ".join(self.unknown[:3])
            if len(self.unknown) > 3:
                reason += f"; and {len(self.unknown) - 3} more"
        return ClaimResult(self.name, verdict, cex, reason, time.perf_counter() - self.start, stats)


FOLDING_UNKNOWN = (
    "the answer depends on how AWS folds case beyond ASCII in *IgnoreCase operators, "
    "which AWS does not document (ASCII folding: {}, Unicode folding: {})"
)


def _agree(ascii_answer: solver.Answer, unicode_answer: solver.Answer) -> solver.Answer:
    """One answer from a query decided under both readings of ``*IgnoreCase``: theirs
    when they agree (the ASCII reading's model), else unknown with the reason."""
    if ascii_answer.status == unicode_answer.status:
        return ascii_answer
    if "unknown" in (ascii_answer.status, unicode_answer.status):
        reason = ascii_answer.reason or unicode_answer.reason
        return solver.Answer("unknown", ascii_answer.engine, ascii_answer.seconds, reason=reason)
    reason = FOLDING_UNKNOWN.format(ascii_answer.status, unicode_answer.status)
    return solver.Answer("unknown", ascii_answer.engine, ascii_answer.seconds, reason=reason)


def _axioms(cond: Any, enc: Encoder) -> list[z3.BoolRef]:
    """The side axioms of a full condition encoder for the terms built in ``enc``."""
    axioms = getattr(cond, "axioms", None)
    return list(axioms(enc)) if axioms is not None else []


@dataclass
class _Side:
    """One policy as the claims see it: its label, the policy and its compiled statements."""

    label: str
    policy: Policy | None
    stmts: tuple[CompiledStatement, ...]


# --- decoding ---------------------------------------------------------------------------

_FILLERS = "#~_0123456789!%&+=@^|"


def _filler(sides: Sequence[_Side]) -> str:
    """A character that no action pattern of ``sides`` names."""
    used = {ch for s in sides for st in s.stmts for p in st.patterns for ch in p}
    for ch in _FILLERS:
        if ch not in used:
            return ch
    code = 0x100
    while chr(code) in used:
        code += 1
    return chr(code)


def _sanitize_action(text: str, sides: Sequence[_Side]) -> str:
    """Replace ASCII uppercase letters, which lowered patterns only match by wildcards,
    by a character no pattern names: memberships are unchanged (Lemma 4) and the
    request then means the same after IAM's case folding."""
    if not re.search("[A-Z]", text):
        return text
    fill = _filler(sides)
    return re.sub("[A-Z]", fill, text)


_MAX_INSTANCES = 64
_FINITE_CHUNK = 256
_RESTRICTED_BUDGET = 2.0


def _instances(glob: str, fill: str) -> set[str]:
    """Two strings that ``glob`` matches: its stars empty, and its stars one ``fill``
    (question marks are ``fill`` in both)."""
    one = glob.replace("?", fill)
    return {one.replace("*", ""), one.replace("*", fill)}


def _has_uncovered_instance(
    drive: Sequence[str],
    not_action: bool,
    sup_action: Sequence[str],
    sup_not: Sequence[Sequence[str]],
) -> bool:
    """Does a string of the drive's language fall outside ``sup_action`` and outside the
    complement of every ``sup_not`` set? Tried: instances of the drive's patterns, or,
    for a NotAction drive, two strings it names none of. (Then the language is not
    contained; this only saves asking a query whose answer is sat.)"""
    if not_action:
        tries = [c for c in ("#", "#:#") if not any(matches_lowered(p, c) for p in drive)]
    else:
        tries = [inst for p in drive for inst in _instances(p, "#")]
    for inst in tries:
        if any(matches_lowered(q, inst) for q in sup_action):
            continue
        if any(not any(matches_lowered(q, inst) for q in n) for n in sup_not):
            continue
        return True
    return False


def _readable_resource(
    found: str,
    action: str,
    ctx: dict[str, bool],
    sides: Sequence[_Side],
    expect: Callable[[dict[str, Decision]], bool],
) -> str:
    """A resource for the counterexample that reads well: the first Resource element (taken
    as a literal string) on which the request still fails the claim in the reference
    evaluator, trying first the statements that match the request with ``found``; else
    the solver's own ``found``."""
    statements: list[Statement] = []
    for side in sides:
        if side.policy is None:
            continue
        decision = reference.evaluate(side.policy, action, found, ctx)
        statements.extend(side.policy.statements[i] for i in decision.matched_allow)
        statements.extend(side.policy.statements[i] for i in decision.matched_deny)
    for side in sides:
        if side.policy is not None:
            statements.extend(
                st for st in side.policy.statements if st.action is not None and st.is_allow
            )
    seen: set[str] = set()
    for st in statements:
        for value in st.resource.values if st.resource is not None else []:
            if value in seen or len(seen) >= _MAX_INSTANCES:
                continue
            seen.add(value)
            decisions = {s.label: reference.evaluate(s.policy, action, value, ctx) for s in sides}
            if expect(decisions):
                return value
    return found


def _context(
    enc: Encoder, values: dict[str, Any], sides: Sequence[_Side]
) -> tuple[dict[str, bool], dict[str, list[str]] | None]:
    """The atoms' values in a model, and the concrete request when the encoder decided
    condition blocks by their full semantics (each block's atom is then the independent
    evaluator's verdict on that request, and so is each Resource element with a policy
    variable, on the model's resource)."""
    ctx = {k: False for s in sides for k in reference.atom_keys(s.policy)}
    for name, key in enc.atom_names.items():
        ctx[key] = bool(values[name])
    full = enc.condition_encoder
    if not isinstance(full, FullConditions):
        return ctx, None
    request = {full.spelling.get(k, k): v for k, v in full.request(enc, values).items()}
    for side in sides:
        if side.policy is None:
            continue
        version = side.policy.effective_version
        for st in side.policy.statements:
            if st.condition is not None:
                key = reference.condition_key(st.condition, version)
                ctx[key] = concrete.condition_holds(st.condition, version, request)
            element = st.resource if st.resource is not None else st.not_resource
            for value in element.values if element is not None else []:
                if reference.is_variable_element(value, version):
                    ctx[reference.resource_variable_key(value, version)] = concrete.resource_holds(
                        value, values["resource"], request
                    )
    return ctx, request


def _has_variable_resources(sides: Sequence[_Side]) -> bool:
    """Does a Resource element of ``sides`` hold a policy variable? (Its truth value in a
    full-semantics context is tied to the model's resource, so no other is tried.)"""
    for side in sides:
        if side.policy is None:
            continue
        version = side.policy.effective_version
        for st in side.policy.statements:
            element = st.resource if st.resource is not None else st.not_resource
            if element is not None and any(
                reference.is_variable_element(v, version) for v in element.values
            ):
                return True
    return False


def _render_request(request: dict[str, list[str]]) -> str:
    """The request's condition keys as a user writes them: ``aws:SourceIp = 10.0.0.7``
    (a multi-valued key as a list)."""
    if not request:
        return "no condition key is present"
    shown = []
    for key, raw in request.items():
        vals = [v if v and v.strip() == v and "," not in v else json.dumps(v) for v in raw]
        text = vals[0] if len(vals) == 1 else "[" + ", ".join(vals) + "]"
        shown.append(f"{_show(key)} = {_show(text)}")
    return ", ".join(shown)


def _condition_report(
    action: str, resource: str, ctx: dict[str, bool], sides: Sequence[_Side]
) -> list[str]:
    """For each statement whose action and resource elements match the request and that
    has a condition block: whether its block holds (``the condition of A statement 2
    (Sid x) holds``), so a reader sees which condition makes the policies differ."""
    out = []
    for side in sides:
        if side.policy is None:
            continue
        version = side.policy.effective_version
        for i, st in enumerate(side.policy.statements):
            if st.condition is None or not reference.action_element_matches(st, action):
                continue
            if not reference.resource_element_matches(st, resource, version, ctx):
                continue
            verdict = "holds" if ctx[reference.condition_key(st.condition, version)] else "fails"
            sid = f" (Sid {_show(st.sid)})" if st.sid else ""
            out.append(f"the condition of {side.label} statement {i + 1}{sid} {verdict}")
    return out


def _describe_atom(key: str, shown: str, value: bool) -> str:
    if key.startswith("resource-variable "):
        return f"resource element `{shown}` {'matches' if value else 'does not match'}"
    if key.startswith(("Principal ", "NotPrincipal ")):
        kind, _, text = key.partition(" ")
        return f"{kind} `{text}` {'matches' if value else 'does not match'}"
    return f"condition `{shown}` {'holds' if value else 'does not hold'}"


def _relevant_atoms(
    action: str, resource: str, ctx: dict[str, bool], sides: Sequence[_Side]
) -> dict[str, str]:
    """The atoms that can change the decisions on this request: those of the statements
    whose action and resource elements match it (their condition, principal and resource
    variables), in policy order, each with the text that shows it (a condition block as
    written in the first statement that has it)."""
    keys: dict[str, str] = {}
    for side in sides:
        policy = side.policy
        if policy is None:
            continue
        version = policy.effective_version
        for st in policy.statements:
            if not reference.action_element_matches(st, action):
                continue
            if not reference.resource_element_matches(st, resource, version, ctx):
                continue
            element = st.resource if st.resource is not None else st.not_resource
            for value in element.values if element is not None else []:
                if reference.is_variable_element(value, version):
                    keys.setdefault(reference.resource_variable_key(value, version), value)
            principal = reference.principal_key(st)
            if principal is not None:
                keys.setdefault(principal, principal)
            if st.condition is not None:
                shown = json.dumps(st.condition.to_json(), ensure_ascii=False)
                keys.setdefault(reference.condition_key(st.condition, version), shown)
    return keys


def _with_context(
    message: str,
    relevant: dict[str, str],
    ctx: dict[str, bool],
    request: dict[str, list[str]] | None = None,
    conditions: Sequence[str] = (),
) -> str:
    if request is not None:
        # The blocks were decided on a concrete request: show it and each block's verdict.
        parts = [_render_request(request), *conditions]
        parts += [
            _describe_atom(k, shown, ctx[k])
            for k, shown in relevant.items()
            if k.startswith(("resource-variable ", "Principal ", "NotPrincipal "))
        ]
        return message + " when " + "; ".join(parts)
    if not relevant:
        return message
    described = (_describe_atom(k, shown, ctx[k]) for k, shown in relevant.items())
    return message + " when " + ", ".join(described)


def _replay(
    cex_claim: str,
    action: str,
    resource: str,
    ctx: dict[str, bool],
    sides: Sequence[_Side],
    expect: Callable[[dict[str, Decision]], bool],
    request: dict[str, list[str]] | None = None,
) -> dict[str, Decision]:
    """The sides' decisions on the counterexample, which must show the claim false. A
    full-semantics model (``request`` given) that does not replay is no real request
    (its typed views of one key disagree): :class:`UnrealizableModel`, which makes the
    claim UNKNOWN. Any other failure to replay is a bug."""
    decisions = {s.label: reference.evaluate(s.policy, action, resource, ctx) for s in sides}
    if not expect(decisions) and request is not None:
        raise UnrealizableModel(
            f"the solver's model of `{cex_claim}` is no real request (views of one condition "
            f"key that no single value has; rendered as {_render_request(request)})"
        )
    if not expect(decisions):
        raise InternalError(
            f"counterexample to `{cex_claim}` does not replay: action `{action}`, resource "
            f"`{resource}`, context {ctx}; reference decisions "
            + ", ".join(f"{k}: {v}" for k, v in decisions.items())
        )
    return decisions


# --- the catalog claim ------------------------------------------------------------------


def _catalog_claim(
    name: str,
    sides: Sequence[_Side],
    catalog: Catalog,
    unused: frozenset[str],
    directions: Sequence[tuple[str, str]],
    claim: _Claim,
) -> ClaimResult:
    """Directions are ``over``/``under`` (refinement of sides[0] by sides[1]) or
    ``within`` (sides[0] allows nothing sides[1] does not)."""
    partition = build_partition(catalog, [s.stmts for s in sides], [s.label for s in sides], unused)
    claim.classes = len(partition)
    chunks = class_chunks(len(partition))
    for qname, direction in directions:
        for chunk in chunks:

            def build(
                enc: Encoder, direction: str = direction, chunk: range = chunk
            ) -> list[z3.BoolRef]:
                a, b, dom = enc.memo(
                    ("classes", name, chunk.start),
                    lambda: (
                        enc.allowed(sides[0].stmts, enc.class_action(partition, 0, chunk)),
                        enc.allowed(sides[1].stmts, enc.class_action(partition, 1, chunk)),
                        enc.class_domain(partition, chunk),
                    ),
                )
                if direction == "within":
                    return [dom, a, enc.not_(b)]
                kept = enc.and_([a, enc.not_(enc.unused_class(partition, chunk))])
                if direction == "over":
                    return [dom, b, enc.not_(kept)]
                return [dom, kept, enc.not_(b)]

            label = qname
            if len(chunks) > 1:
                label = f"{qname}, classes {chunk.start} to {chunk.stop - 1}"
            answer, enc = _decide_classes(claim, label, build, partition)
            if answer.status == "sat":
                try:
                    cex = _decode_class(
                        name, direction, answer.values, enc, partition, sides, catalog, unused
                    )
                except UnrealizableModel as exc:
                    claim.unknown.append(f"{label}: {exc}")
                    continue
                return claim.result(Verdict.REFUTED, cex)
    return claim.result(Verdict.UNKNOWN if claim.unknown else Verdict.PROVED)


CLASS_CHUNK = 400
"""A class query over more classes than this is decided in chunks of consecutive class
indices (Lemma 11 of ``proofs/THEOREMS.md``): Z3's time on one query grows faster than
its number of classes, and four queries of 400 classes take less than half the time of
one of 1,600."""


def class_chunks(total: int, size: int | None = None) -> list[range]:
    """Consecutive ranges of class indices, each at most ``size`` (default
    :data:`CLASS_CHUNK`) long and of nearly equal lengths, that together cover
    ``range(total)`` exactly once."""
    size = size or CLASS_CHUNK
    count = max(1, -(-total // size))
    bounds = [round(i * total / count) for i in range(count + 1)]
    return [range(lo, hi) for lo, hi in pairwise(bounds)]


_CLASS_PROBES = 8


def _decide_classes(
    claim: _Claim,
    qname: str,
    build: Callable[[Encoder], list[z3.BoolRef]],
    partition: Partition,
) -> tuple[solver.Answer, Encoder]:
    """Decide a class query. Its Boolean abstraction comes first (Lemma 5); while that
    is sat, the class of its model is checked concretely on its own (the query with
    the class index fixed, which Z3's rewriter shrinks to that class's statements). A
    sat class is a counterexample; an unsat class is excluded from the abstraction,
    which is asked again. The query is unsat when the abstraction without the excluded
    classes is unsat and each excluded class was unsat (Lemma 6). After a few probes,
    or an unknown, the concrete query decides."""
    light = claim.session_for(_Query(qname, "classes", build))
    excluded: tuple[int, ...] = ()
    for _ in range(_CLASS_PROBES):

        def abstract(enc: Encoder, excluded: tuple[int, ...] = excluded) -> list[z3.BoolRef]:
            return [*build(enc), enc.not_(enc.in_classes(partition, excluded))]

        name = qname if not excluded else f"{qname}, classes {list(excluded)} excluded"
        premise = None
        if excluded:
            premise = f"classes {list(excluded)} are unsat on their own (Lemma 6)"
        answer, enc = claim.decide(
            _Query(name, "classes", abstract, partition=partition, premise=premise),
            opaque=True,
            session=light,
        )
        if answer.status != "sat":
            if answer.status == "unsat":
                return answer, enc
            break
        chosen = int(answer.values["class"])

        def fixed(enc: Encoder, chosen: int = chosen) -> list[z3.BoolRef]:
            k = enc.class_index(partition)
            value = z3.BitVecVal(chosen, partition.width, enc.ctx)
            whole = z3.simplify(z3.substitute(enc.and_(build(enc)), (k, value)))
            return [k == value, whole]

        answer, enc = claim.decide(
            _Query(
                f"{qname}, class {chosen} alone",
                "classes",
                fixed,
                partition=partition,
                budget=_RESTRICTED_BUDGET,
                auxiliary=True,
            ),
            opaque=False,
            session=light,
        )
        if answer.status == "sat":
            return answer, enc
        if answer.status != "unsat":
            break
        excluded = (*excluded, chosen)
    return claim.decide(
        _Query(qname, "classes", build, partition=partition, fresh=True),
        opaque=False,
        session=None,
    )


def _decode_class(
    claim_name: str,
    direction: str,
    values: dict[str, Any],
    enc: Encoder,
    partition: Partition,
    sides: Sequence[_Side],
    catalog: Catalog,
    unused: frozenset[str],
) -> Counterexample:
    k = values["class"]
    if not 0 <= k < len(partition):
        raise InternalError(f"model picks class {k} of {len(partition)}")
    cls = partition.classes[k]
    action = catalog.by_lower[cls.members[0]]
    resource = values["resource"]
    ctx, request = _context(enc, values, sides)
    a, b = sides[0].label, sides[1].label
    is_unused = cls.members[0] in unused

    def expect(d: dict[str, Decision]) -> bool:
        kept = d[a].allowed and not is_unused
        if direction == "within":
            return d[a].allowed and not d[b].allowed
        if direction == "over":
            return d[b].allowed and not kept
        return kept and not d[b].allowed

    if request is None or not _has_variable_resources(sides):
        resource = _readable_resource(resource, action, ctx, sides, expect)
    decisions = _replay(claim_name, action, resource, ctx, sides, expect, request)
    relevant = _relevant_atoms(action, resource, ctx, sides)
    if direction == "within":
        msg = f"{a} allows `{action}` on `{_show(resource)}`, which {b} does not"
    elif direction == "over" and is_unused:
        msg = f"the {b} policy still allows unused `{action}` on `{_show(resource)}`"
    elif direction == "over":
        msg = (
            f"the {b} policy allows `{action}` on `{_show(resource)}`, "
            f"which the {a} policy does not"
        )
    else:
        msg = f"the {b} policy no longer allows `{action}` on `{_show(resource)}`"
    if len(cls.members) > 1:
        msg += f" (and {len(cls.members) - 1} more actions of the same class)"
    return Counterexample(
        claim_name,
        action,
        resource,
        ctx,
        decisions,
        _with_context(msg, relevant, ctx, request, _condition_report(action, resource, ctx, sides)),
        True,
        [catalog.by_lower[m] for m in cls.members],
        list(relevant),
        request or {},
    )


# --- the all-strings claim ------------------------------------------------------------


def _group_patterns(st: CompiledStatement) -> dict[str | None, list[str]]:
    """An Action statement's patterns by service key; a NotAction statement is one group."""
    if st.not_action:
        return {None: list(st.patterns)}
    groups: dict[str | None, list[str]] = {}
    for p in st.patterns:
        groups.setdefault(service_key(p), []).append(p)
    return groups


def _keeper(group: str | None) -> Callable[[str], bool] | None:
    if group is None:
        return None
    return lambda p: compatible(literal_prefix(p), group)


class _Containment:
    """``sub(a,r,c) => sup(a,r,c)`` for every action string: Theorem 2 where its premises
    hold, the per-(statement, service) query (Theorem 3) otherwise or as the fallback."""

    def __init__(
        self,
        name: str,
        sub: _Side,
        sup: _Side,
        claim: _Claim,
        catalog: Catalog,
        *,
        provenance: Sequence[tuple[int, str, str]] | None,
        statement_origin: Sequence[int] | None,
        message: Callable[[str, str, bool], str],
    ) -> None:
        self.name = name
        self.sub = sub
        self.sup = sup
        self.claim = claim
        self.catalog = catalog
        self.message = message
        self.statement_origin = statement_origin
        self.prov: dict[tuple[int, str], set[str]] = {}
        for orig_index, new_pattern, origin in provenance or ():
            self.prov.setdefault((orig_index, lower_pattern(new_pattern)), set()).add(
                lower_pattern(origin)
            )
        sup_denies = {st.key for st in sup.stmts if not st.allow}
        sub_denies = {st.key for st in sub.stmts if not st.allow}
        self.denies_kept = sup_denies <= sub_denies
        self.peers: dict[Frame, list[CompiledStatement]] = {}
        self._buckets: dict[Frame, dict[str, set[str]]] = {}
        self._languages: dict[tuple[Frame, str | None], tuple[list[str], list[list[str]]]] = {}
        for st in sup.stmts:
            if st.allow:
                self.peers.setdefault(st.frame, []).append(st)

    def run(self) -> ClaimResult:
        allows = [st for st in self.sub.stmts if st.allow]
        if not allows:
            # Nothing to contain; the query "sub allows some request" is still decided.
            def build(enc: Encoder) -> list[z3.BoolRef]:
                return [enc.allowed(self.sub.stmts, lambda st: enc.statement_action(st))]

            answer, _ = self.claim.run(
                _Query(f"{self.sub.label} allows nothing", "statement", build)
            )
            if answer.status == "sat":
                raise InternalError(f"{self.sub.label} has no Allow statement yet allows a request")
        for st in allows:
            groups = _group_patterns(st)
            if self.denies_kept and self.peers.get(st.frame):
                groups = self._decompose(st, groups)
            for group, patterns in groups.items():
                cex = self._full(st, group, patterns)
                if cex is not None:
                    return self.claim.result(Verdict.REFUTED, cex)
        return self.claim.result(Verdict.UNKNOWN if self.claim.unknown else Verdict.PROVED)

    # Theorem 2

    def _premise(self, st: CompiledStatement, peers: list[CompiledStatement]) -> str:
        return (
            f"{self.sub.label} Statement[{st.index}] has the frame of {self.sup.label} "
            f"Statement{[p.index for p in peers]}, and every Deny statement of "
            f"{self.sup.label} is a Deny statement of {self.sub.label}"
        )

    def _origins(
        self, st: CompiledStatement, peers: list[CompiledStatement]
    ) -> dict[str, set[str]]:
        """For each pattern of ``st``, the origin patterns that provenance names for it and
        that really are patterns of a peer Action statement (provenance is a hint, never
        trusted: it only chooses which query to ask)."""
        wanted = None
        if self.statement_origin is not None and st.index < len(self.statement_origin):
            wanted = self.statement_origin[st.index]
        out: dict[str, set[str]] = {}
        for peer in peers:
            if peer.not_action or (wanted is not None and peer.index != wanted):
                continue
            theirs = set(peer.patterns)
            for p in st.patterns:
                named = self.prov.get((peer.index, p))
                if named:
                    out.setdefault(p, set()).update(named & theirs)
        return out

    def _contained(
        self,
        qname: str,
        st: CompiledStatement,
        drive: list[str],
        peers: list[CompiledStatement],
        sup_action: list[str],
        sup_not: list[list[str]],
    ) -> bool:
        """Is the language of ``drive`` (Action, or NotAction when ``st`` is one) inside
        the union of the languages ``sup_action`` and the complements of ``sup_not``?
        The query is unsat iff it is."""
        if _has_uncovered_instance(drive, st.not_action, sup_action, sup_not):
            # The query is sat (a concrete instance escapes): do not ask it.
            return False
        affixes = ("", "")
        if not st.not_action:
            affixes = common_affixes([*drive, *sup_action, *(p for n in sup_not for p in n)])

        def build(enc: Encoder) -> list[z3.BoolRef]:
            covered = [enc.action_in(sup_action), *(enc.not_(enc.action_in(n)) for n in sup_not)]
            escapes = enc.not_(enc.or_(covered))
            if escapes is enc.false:
                # The union accepts every string: the query is `false` whatever `D` is.
                return [escapes]
            a = enc.action_in(drive)
            if st.not_action:
                a = enc.not_(a)
            return [a, escapes]

        answer, _ = self.claim.run(
            _Query(qname, "containment", build, affixes, premise=self._premise(st, peers))
        )
        return answer.status == "unsat"

    def _peer_languages(self, frame: Frame, group: str | None) -> tuple[list[str], list[list[str]]]:
        """The peers' Action patterns and NotAction sets, keeping only patterns whose literal
        prefix is compatible with ``group`` (the others match none of its strings)."""
        key = (frame, group)
        found = self._languages.get(key)
        if found is not None:
            return found
        peers = self.peers[frame]
        buckets = self._buckets.get(frame)
        if buckets is None:
            buckets = {}
            for pe in peers:
                if not pe.not_action:
                    for p in pe.patterns:
                        buckets.setdefault(service_key(p), set()).add(p)
            self._buckets[frame] = buckets
        keep = _keeper(group)
        if group is None or keep is None:
            action = sorted({p for pats in buckets.values() for p in pats})
        else:
            action = sorted(
                p
                for bucket, pats in buckets.items()
                if compatible(bucket, group)
                for p in pats
                if keep(p)
            )
        nots = [
            [p for p in pe.patterns if keep is None or keep(p)] for pe in peers if pe.not_action
        ]
        found = self._languages[key] = (action, nots)
        return found

    def _decompose(
        self, st: CompiledStatement, groups: dict[str | None, list[str]]
    ) -> dict[str | None, list[str]]:
        """Prove what Theorem 2 can of ``st``; return the groups it could not prove."""
        peers = self.peers[st.frame]
        where = f"{self.sub.label} Statement[{st.index}]"
        if st.not_action:
            mine = set(st.patterns)
            if any(pe.not_action and set(pe.patterns) <= mine for pe in peers):
                self.claim.syntactic += 1
                return {}
            action, nots = self._peer_languages(st.frame, None)
            if self._contained(
                f"{where} (NotAction) within its peers", st, list(st.patterns), peers, action, nots
            ):
                return {}
            return groups
        known = {p for pe in peers if not pe.not_action for p in pe.patterns}
        pending = {g: [p for p in pats if p not in known] for g, pats in groups.items()}
        pending = {g: pats for g, pats in pending.items() if pats}
        self.claim.syntactic += len(st.patterns) - sum(len(v) for v in pending.values())
        if not pending:
            return {}
        # One small query per origin pattern that provenance names, then one query per
        # service group, against every compatible peer pattern, for what remains.
        origins = self._origins(st, peers)
        by_origin: dict[tuple[str, ...], list[str]] = {}
        rest: dict[str | None, list[str]] = {}
        for g, pats in pending.items():
            for p in pats:
                named = origins.get(p)
                if named:
                    by_origin.setdefault(tuple(sorted(named)), []).append(p)
                else:
                    rest.setdefault(g, []).append(p)
        for named_origins, drive in by_origin.items():
            label = ", ".join(f"`{o}`" for o in named_origins)
            if not self._contained(
                f"{where}: {len(drive)} pattern(s) within {label}",
                st,
                drive,
                peers,
                list(named_origins),
                [],
            ):
                for p in drive:
                    rest.setdefault(service_key(p), []).append(p)
        left: dict[str | None, list[str]] = {}
        for g, pats in rest.items():
            action, nots = self._peer_languages(st.frame, g)
            if not self._contained(
                f"{where}: {len(pats)} `{g}` pattern(s) within the peers' patterns",
                st,
                pats,
                peers,
                action,
                nots,
            ):
                left[g] = groups[g]
        return left

    # Theorem 3

    def _full(
        self, st: CompiledStatement, group: str | None, patterns: list[str]
    ) -> Counterexample | None:
        keep = _keeper(group)
        sub_denies = [d for d in self.sub.stmts if not d.allow]
        others = [*sub_denies, *self.sup.stmts]
        affixes = ("", "")
        if not st.not_action:
            kept = [p for o in others for p in o.patterns if keep is None or keep(p)]
            affixes = common_affixes([*patterns, *kept])

        def build(enc: Encoder) -> list[z3.BoolRef]:
            def act(s: CompiledStatement) -> z3.BoolRef:
                return enc.statement_action(s, keep)

            mine = enc.action_in(patterns)
            if st.not_action:
                mine = enc.not_(mine)
            return [
                mine,
                enc.frame(st),
                enc.not_(enc.any_matches(sub_denies, act)),
                enc.not_(enc.allowed(self.sup.stmts, act)),
            ]

        where = f"{self.sub.label} Statement[{st.index}]"
        qname = f"{where} within {self.sup.label}" + (f" for `{group}`" if group else "")
        sides = [self.sub, self.sup]
        head, tail = affixes

        def fixed_to(middles: list[str]) -> Callable[[Encoder], list[z3.BoolRef]]:
            """The query with the action fixed to one of ``middles`` (one disjunct each),
            every action element decided by the concrete matcher: no regex is left."""

            def restricted(enc: Encoder) -> list[z3.BoolRef]:
                picks = []
                for m in middles:
                    with enc.fixing_action(head + m + tail):
                        fixed = enc.and_(build(enc))
                    if fixed is not enc.false:
                        value = solver.string_value(m, enc.ctx)
                        picks.append(enc.and_([enc.action == value, fixed]))
                return [enc.or_(picks)]

            return restricted

        if not st.not_action and all(literal_prefix(p) == p for p in patterns):
            # Lemma 8: the patterns are action names, so the action ranges over them and
            # the query is the disjunction of the query with the action fixed to each.
            # Chunks split the names; the query is unsat when every chunk is.
            names = sorted({p[len(head) : len(p) - len(tail)] for p in patterns})
            proved = True
            for i in range(0, len(names), _FINITE_CHUNK):
                chunk = names[i : i + _FINITE_CHUNK]
                answer, enc = self.claim.run(
                    _Query(
                        f"{qname} (its {len(names)} action names, from {i})",
                        "statement",
                        fixed_to(chunk),
                        affixes,
                        premise="the patterns are action names (Lemma 8)",
                        fresh=True,
                        abstract_first=True,
                        auxiliary=True,
                    )
                )
                if answer.status == "sat":
                    return self._decode(answer, enc, sides)
                proved = proved and answer.status == "unsat"
            if proved:
                return None
        # Otherwise a model, when there is one, usually has for its action an instance
        # of the statement's own patterns (for NotAction: a string no pattern names, or
        # an instance of another statement's pattern). The search query fixes the action
        # to a few such strings: its models are replayed like any other, and any other
        # answer leaves the question to the query itself.
        fill = _filler(sides)
        if st.not_action:
            sources = [p for o in others for p in o.patterns if keep is None or keep(p)]
            middles = sorted({fill, f"{fill}:{fill}"})
            middles += sorted({m for p in sources for m in _instances(p, fill)} - set(middles))
        else:
            middles = sorted(
                {m for p in patterns for m in _instances(p[len(head) : len(p) - len(tail)], fill)}
            )
        answer, enc = self.claim.run(
            _Query(
                f"{qname} (action among instances of its patterns)",
                "statement",
                fixed_to(middles[:_MAX_INSTANCES]),
                affixes,
                fresh=True,
                budget=_RESTRICTED_BUDGET,
                auxiliary=True,
                search_only=True,
            )
        )
        if answer.status != "sat":
            answer, enc = self.claim.run(
                _Query(qname, "statement", build, affixes, fresh=True, abstract_first=True)
            )
        if answer.status != "sat":
            return None
        return self._decode(answer, enc, sides)

    def _decode(
        self, answer: solver.Answer, enc: Encoder, sides: list[_Side]
    ) -> Counterexample | None:
        """The counterexample of a model, or None (the claim UNKNOWN) for a model that
        is no real request."""
        try:
            return self._decode_model(answer, enc, sides)
        except UnrealizableModel as exc:
            self.claim.unknown.append(str(exc))
            return None

    def _decode_model(
        self, answer: solver.Answer, enc: Encoder, sides: list[_Side]
    ) -> Counterexample:
        action = _sanitize_action(enc.decode_action(answer.values["action"]), sides)
        ctx, request = _context(enc, answer.values, sides)
        a, b = self.sub.label, self.sup.label

        def expect(d: dict[str, Decision]) -> bool:
            return d[a].allowed and not d[b].allowed

        resource = answer.values["resource"]
        if request is None or not _has_variable_resources(sides):
            resource = _readable_resource(resource, action, ctx, sides, expect)
        decisions = _replay(self.name, action, resource, ctx, sides, expect, request)
        relevant = _relevant_atoms(action, resource, ctx, sides)
        in_catalog = action in self.catalog
        shown = self.catalog.canonical(action) or action
        msg = self.message(shown, resource, in_catalog)
        return Counterexample(
            self.name,
            shown,
            resource,
            ctx,
            decisions,
            _with_context(
                msg, relevant, ctx, request, _condition_report(action, resource, ctx, sides)
            ),
            in_catalog,
            [],
            list(relevant),
            request or {},
        )


# --- public API ---------------------------------------------------------------------------


def _full_conditions(policies: Sequence[Policy | None]) -> FullConditions | None:
    """The full condition and resource-variable semantics for queries over ``policies``
    (None when no statement has a condition block or a policy variable in a Resource).
    Raises :class:`~iamrefine.errors.InputError` for an unknown operator or a malformed
    condition value."""
    sides = [_Side("", p, ()) for p in policies]
    has_condition = any(st.condition is not None for p in policies if p for st in p.statements)
    if not has_condition and not _has_variable_resources(sides):
        return None
    return FullConditions(policies)


def _show(text: str) -> str:
    """``text`` for a message: as is when printable, else with JSON escapes."""
    return text if text.isprintable() else json.dumps(text, ensure_ascii=False)[1:-1]


def _escalation_message(sub: str, sup: str) -> Callable[[str, str, bool], str]:
    def message(action: str, resource: str, known: bool) -> str:
        tail = "" if known else " (not a catalog action)"
        shown = f"`{_show(action)}` on `{_show(resource)}`"
        return f"{sub} allows {shown}, which {sup} does not{tail}"

    return message


def _unused_names(unused: UnusedSet | Iterable[str]) -> frozenset[str]:
    if isinstance(unused, UnusedSet):
        return unused.actions
    return frozenset(lower_pattern(a) for a in unused)


def verify_refinement(
    original: Policy,
    refined: Policy | None,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    provenance: list[tuple[int, str, str]] | None = None,
    statement_origin: list[int] | None = None,
    timeout: float = 30.0,
    engine: str = "auto",
) -> CheckReport:
    """Check that ``refined`` is the exact refinement of ``original`` without ``unused``.

    Two claims, each made of queries that are *unsat iff the property holds*:

    - exact over the catalog: for every catalog action, resource and context,
      ``refined`` allows the request iff ``original`` does and the action is not unused;
    - no escalation for any action string: ``refined`` allows nothing ``original`` does not.

    ``refined`` None means the policy is detached (allows nothing). ``provenance``
    ((original statement index, new pattern, origin pattern) triples) and
    ``statement_origin`` (each refined statement's original index) only steer which
    containment queries are asked; they are checked against the policies, never trusted.
    ``timeout`` is each claim's budget in seconds; ``engine`` is passed to
    :func:`iamrefine.solver.solve`.
    """
    orig = _Side("original", original, compile_policy(original))
    new = _Side("refined", refined, compile_policy(refined))
    full = _full_conditions([original, refined])
    sink: list[Obligation] = []
    claims = [
        _catalog_claim(
            CATALOG_CLAIM,
            [orig, new],
            catalog,
            _unused_names(unused),
            [
                ("over-permissive: refined allows what it must not", "over"),
                ("under-permissive: refined misses a kept action", "under"),
            ],
            _Claim(CATALOG_CLAIM, timeout, engine, sink, full),
        ),
        _Containment(
            STRINGS_CLAIM,
            new,
            orig,
            _Claim(STRINGS_CLAIM, timeout, engine, sink, full),
            catalog,
            provenance=provenance,
            statement_origin=statement_origin,
            message=_escalation_message("the refined policy", "the original policy"),
        ).run(),
    ]
    return CheckReport(claims, sink, catalog.info())


def verify_result(
    result: RefineResult,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    timeout: float = 30.0,
    engine: str = "auto",
) -> CheckReport:
    """:func:`verify_refinement` of a refiner's result: its original policy against its
    refined one (None when detached), steered, never trusted, by its provenance."""
    return verify_refinement(
        result.original,
        result.policy,
        unused,
        catalog,
        provenance=result.pattern_origins,
        statement_origin=result.statement_origin,
        timeout=timeout,
        engine=engine,
    )


def verify_equivalence(
    a: Policy,
    b: Policy,
    catalog: Catalog,
    *,
    subset: bool = False,
    timeout: float = 30.0,
    engine: str = "auto",
    labels: tuple[str, str] = ("A", "B"),
) -> CheckReport:
    """Check that ``a`` and ``b`` allow the same requests (with ``subset``: that ``a``
    allows nothing ``b`` does not), both over the catalog's actions and over every action
    string. Every query is *unsat iff its property holds*; ``timeout`` is each claim's
    budget in seconds."""
    sa = _Side(labels[0], a, compile_policy(a))
    sb = _Side(labels[1], b, compile_policy(b))
    full = _full_conditions([a, b])
    sink: list[Obligation] = []
    claims = []
    pairs = [(sa, sb)] if subset else [(sa, sb), (sb, sa)]
    for x, y in pairs:
        name = f"{x.label} within {y.label} over the catalog"
        claims.append(
            _catalog_claim(
                name,
                [x, y],
                catalog,
                frozenset(),
                [(f"{x.label} allows a catalog request {y.label} does not", "within")],
                _Claim(name, timeout, engine, sink, full),
            )
        )
        name = f"{x.label} within {y.label} for any action string"
        claims.append(
            _Containment(
                name,
                x,
                y,
                _Claim(name, timeout, engine, sink, full),
                catalog,
                provenance=None,
                statement_origin=None,
                message=_escalation_message(x.label, y.label),
            ).run()
        )
    return CheckReport(claims, sink, catalog.info())


def obligations(
    original: Policy,
    refined: Policy | None,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    provenance: list[tuple[int, str, str]] | None = None,
    statement_origin: list[int] | None = None,
    timeout: float = 30.0,
) -> list[Obligation]:
    """The queries that :func:`verify_refinement` discharges, in order, each with its
    status; a certificate holds when each one's :meth:`Obligation.smtlib` text is unsat."""
    report = verify_refinement(
        original,
        refined,
        unused,
        catalog,
        provenance=provenance,
        statement_origin=statement_origin,
        timeout=timeout,
    )
    return report.obligations
