"""The public checks: :func:`verify_refinement`, :func:`verify_result`,
:func:`verify_equivalence` and :func:`obligations`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from iamrefine.catalog import Catalog
from iamrefine.conditions.smt import FullConditions
from iamrefine.encode import (
    compile_policy,
    lower_pattern,
)
from iamrefine.model import Policy
from iamrefine.unused import UnusedSet

if TYPE_CHECKING:
    from iamrefine.refine import RefineResult
from iamrefine.prove.catalog_claim import catalog_claim
from iamrefine.prove.claim import Claim, Side
from iamrefine.prove.containment import Containment
from iamrefine.prove.decode import has_variable_resources, show
from iamrefine.prove.results import CATALOG_CLAIM, STRINGS_CLAIM, CheckReport, Obligation

# --- public API ---------------------------------------------------------------------------


def full_conditions(policies: Sequence[Policy | None]) -> FullConditions | None:
    """The full condition and resource-variable semantics for queries over ``policies``
    (None when no statement has a condition block or a policy variable in a Resource).
    Raises :class:`~iamrefine.errors.InputError` for an unknown operator or a malformed
    condition value."""
    sides = [Side("", p, ()) for p in policies]
    has_condition = any(st.condition is not None for p in policies if p for st in p.statements)
    if not has_condition and not has_variable_resources(sides):
        return None
    return FullConditions(policies)


def escalation_message(sub: str, sup: str) -> Callable[[str, str, bool], str]:
    def message(action: str, resource: str, known: bool) -> str:
        tail = "" if known else " (not a catalog action)"
        shown = f"`{show(action)}` on `{show(resource)}`"
        return f"{sub} allows {shown}, which {sup} does not{tail}"

    return message


def unused_names(unused: UnusedSet | Iterable[str]) -> frozenset[str]:
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
    orig = Side("original", original, compile_policy(original))
    new = Side("refined", refined, compile_policy(refined))
    full = full_conditions([original, refined])
    sink: list[Obligation] = []
    claims = [
        catalog_claim(
            CATALOG_CLAIM,
            [orig, new],
            catalog,
            unused_names(unused),
            [
                ("over-permissive: refined allows what it must not", "over"),
                ("under-permissive: refined misses a kept action", "under"),
            ],
            Claim(CATALOG_CLAIM, timeout, engine, sink, full),
        ),
        Containment(
            STRINGS_CLAIM,
            new,
            orig,
            Claim(STRINGS_CLAIM, timeout, engine, sink, full),
            catalog,
            provenance=provenance,
            statement_origin=statement_origin,
            message=escalation_message("the refined policy", "the original policy"),
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
    sa = Side(labels[0], a, compile_policy(a))
    sb = Side(labels[1], b, compile_policy(b))
    full = full_conditions([a, b])
    sink: list[Obligation] = []
    claims = []
    pairs = [(sa, sb)] if subset else [(sa, sb), (sb, sa)]
    for x, y in pairs:
        name = f"{x.label} within {y.label} over the catalog"
        claims.append(
            catalog_claim(
                name,
                [x, y],
                catalog,
                frozenset(),
                [(f"{x.label} allows a catalog request {y.label} does not", "within")],
                Claim(name, timeout, engine, sink, full),
            )
        )
        name = f"{x.label} within {y.label} for any action string"
        claims.append(
            Containment(
                name,
                x,
                y,
                Claim(name, timeout, engine, sink, full),
                catalog,
                provenance=None,
                statement_origin=None,
                message=escalation_message(x.label, y.label),
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
