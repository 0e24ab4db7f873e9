"""Running one claim: its queries against a shared deadline, opaque atoms first, the full
condition semantics (under both readings of ``*IgnoreCase`` where they differ) when an
opaque answer is sat, and every decided query recorded as an obligation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from iamrefine import solver
from iamrefine.conditions.folding import Folding
from iamrefine.conditions.smt import FullConditions
from iamrefine.encode import (
    CompiledStatement,
    Encoder,
    Partition,
    encode_condition,
)
from iamrefine.model import Policy
from iamrefine.prove.results import ClaimResult, Counterexample, Obligation, Verdict
from iamrefine.solver import SolverStatus

MAX_INSTANCES = 64
"""How many action strings a search query tries at most."""
FINITE_CHUNK = 256
"""How many action names one query over literal patterns fixes at most."""
RESTRICTED_BUDGET = 2.0
_READABLE_BUDGET = 0.5
"""Seconds for a search query, whose answer only helps."""


# --- running queries ---------------------------------------------------------------------


class UnrealizableModel(Exception):
    """A model of a full-semantics query that no real request has."""


@dataclass
class Query:
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


class Claim:
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

    def session_for(self, q: Query) -> solver.Session | None:
        # Light queries of one claim share a context (creating one costs more than
        # deciding them); heavy queries get a fresh one, because Z3's time depends on
        # the terms built before them. Only tiny string queries share a solver.
        if q.fresh:
            return None
        incremental = q.kind == "containment"
        if incremental not in self._sessions:
            self._sessions[incremental] = solver.Session(incremental=incremental)
        return self._sessions[incremental]

    def run(self, q: Query) -> tuple[solver.Answer, Encoder]:
        """Decide ``q``; with ``abstract_first``, first its Boolean abstraction (resource
        elements opaque), whose unsat settles the query (Lemma 5); otherwise, or when the
        abstraction is not unsat, the query itself."""
        if q.abstract_first:
            light = Query(q.name, q.kind, q.build)
            answer, enc = self.decide(q, opaque=True, session=self.session_for(light))
            if answer.status is SolverStatus.UNSAT:
                return answer, enc
        return self.decide(q, opaque=False, session=self.session_for(q))

    def decide(
        self,
        q: Query,
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
        if full and isinstance(cond, FullConditions):
            from iamrefine.prove.by_key import decide_by_key

            decided = decide_by_key(self, q, opaque=opaque, cond=cond)
            if decided is not None:
                return decided
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
        assertions = q.build(enc) + axioms(cond, enc)
        left = self.deadline - time.perf_counter()
        if q.budget is not None:
            left = min(left, q.budget)
        self.queries += 1
        if left <= 0:
            answer = solver.Answer(
                SolverStatus.UNKNOWN, "none", 0.0, reason="the claim's time budget ran out"
            )
        else:
            answer = solver.solve(
                assertions,
                enc.symbols(),
                timeout=left,
                engine=self.engine,
                comments=enc.comments(),
                session=session,
            )
            self.engines.add(answer.engine)
            if full and answer.status is SolverStatus.SAT:
                answer = self._readable_model(cond, enc, assertions, answer)
        if (
            not full
            and self.conditions is not None
            and answer.status is SolverStatus.SAT
            and any(name.startswith(("cond_", "var_")) for name in enc.atom_names)
        ):
            found = self.decide(q, opaque=opaque, session=None, full=True, ctx=enc.ctx)
            if not self._folding_matters():
                return found
            other, _ = self.decide(
                q, opaque=opaque, session=None, full=True, folding=Folding.UNICODE
            )
            agreed = agree(found[0], other)
            disagree = (
                SolverStatus.UNKNOWN not in (found[0].status, other.status)
                and agreed.status is SolverStatus.UNKNOWN
            )
            if disagree and not opaque and not q.auxiliary:
                self.unknown.append(f"{q.name}: {agreed.reason}")
            return agreed, found[1]
        if opaque and answer.status is not SolverStatus.UNSAT:
            return answer, enc
        if answer.status is SolverStatus.UNKNOWN and not q.auxiliary:
            self.unknown.append(f"{q.name}: {answer.reason}")

        def rebuild(q: Query = q) -> tuple[list[z3.BoolRef], list[str]]:
            e = Encoder(
                solver.new_context(),
                affixes=q.affixes,
                opaque_resources=opaque,
                condition_encoder=cond,
            )
            return q.build(e) + axioms(cond, e), e.comments()

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
        self, cond: Any, enc: Encoder, assertions: list[z3.BoolRef], found: solver.Answer
    ) -> solver.Answer:
        """A model of the sat query ``assertions`` that reads better than ``found``: with
        every condition key at most one value and each of the condition encoder's
        readability preferences in turn (values the policies name, then lowercase
        words), then with one value per key only; each try within a small budget. Any
        model of these is a model of the whole query, which is sat either way; failing
        all, ``found``."""
        single = list(getattr(cond, "single_values", lambda _: [])(enc))
        readable = list(getattr(cond, "readable_values", lambda _: [])(enc))
        tries = [single + list(r) for r in readable]
        if single:
            tries.append(single)
        left = self.deadline - time.perf_counter()
        for extra in tries:
            budget = min(_READABLE_BUDGET, left / 4)
            if budget <= 0:
                break
            answer = solver.solve(
                assertions + extra,
                enc.symbols(),
                timeout=budget,
                engine=self.engine,
                comments=enc.comments(),
                session=None,
            )
            if answer.status is SolverStatus.SAT:
                return solver.Answer(SolverStatus.SAT, found.engine, found.seconds, answer.values)
        return found

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


def agree(ascii_answer: solver.Answer, unicode_answer: solver.Answer) -> solver.Answer:
    """One answer from a query decided under both readings of ``*IgnoreCase``: theirs
    when they agree (the ASCII reading's model), else unknown with the reason."""
    if ascii_answer.status == unicode_answer.status:
        return ascii_answer
    if SolverStatus.UNKNOWN in (ascii_answer.status, unicode_answer.status):
        reason = ascii_answer.reason or unicode_answer.reason
        return solver.Answer(
            SolverStatus.UNKNOWN, ascii_answer.engine, ascii_answer.seconds, reason=reason
        )
    reason = FOLDING_UNKNOWN.format(ascii_answer.status, unicode_answer.status)
    return solver.Answer(
        SolverStatus.UNKNOWN, ascii_answer.engine, ascii_answer.seconds, reason=reason
    )


def axioms(cond: Any, enc: Encoder) -> list[z3.BoolRef]:
    """The side axioms of a full condition encoder for the terms built in ``enc``."""
    axioms = getattr(cond, "axioms", None)
    return list(axioms(enc)) if axioms is not None else []


@dataclass
class Side:
    """One policy as the claims see it: its label, the policy and its compiled statements."""

    label: str
    policy: Policy | None
    stmts: tuple[CompiledStatement, ...]
