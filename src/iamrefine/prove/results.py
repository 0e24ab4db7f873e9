"""Verdicts, counterexamples, claim results and obligations: what a check reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from iamrefine import solver
from iamrefine.choices import SolverStatus, Verdict
from iamrefine.encode import (
    Partition,
)
from iamrefine.reference import Decision

CATALOG_CLAIM = "exact over the catalog"
STRINGS_CLAIM = "no escalation for any action string"


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
    sids: dict[str, list[str | None]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view, with only documented fields (``proofs/schema/check.schema.json``):
        ``request`` is the condition context as keys and values; ``matched_allow`` and
        ``matched_deny`` are 0-based indices into each policy's ``Statement`` list.
        The opaque atoms of ``context`` are internal and left out."""
        return {
            "claim": self.claim,
            "message": self.message,
            "action": self.action,
            "in_catalog": self.in_catalog,
            "action_class": self.action_class,
            "resource": self.resource,
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
    status: SolverStatus
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


def statement_name(index: int, sid: str | None) -> str:
    """How every human message names a statement: 1-based, with its Sid."""
    return f"statement {index + 1}" + (f" (Sid {sid})" if sid else "")
