"""Claim 1, exact over the catalog: decided over the class partition in two directional
queries, each split into chunks of at most :data:`CLASS_CHUNK` classes (Lemma 11)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import z3

from iamrefine import solver
from iamrefine.catalog import Catalog
from iamrefine.encode import (
    Encoder,
    Partition,
    build_partition,
)
from iamrefine.prove.claim import RESTRICTED_BUDGET, Claim, Query, Side, UnrealizableModel
from iamrefine.prove.decode import decode_class
from iamrefine.prove.results import ClaimResult, Verdict
from iamrefine.solver import SolverStatus

# --- the catalog claim ------------------------------------------------------------------


def catalog_claim(
    name: str,
    sides: Sequence[Side],
    catalog: Catalog,
    unused: frozenset[str],
    directions: Sequence[tuple[str, str]],
    claim: Claim,
) -> ClaimResult:
    """Directions are ``over``/``under`` (refinement of sides[0] by sides[1]) or
    ``within`` (sides[0] allows nothing sides[1] does not)."""
    partition = build_partition(catalog, [s.stmts for s in sides], [s.label for s in sides], unused)
    claim.classes = len(partition)
    chunks = class_chunks(len(partition), weights=class_weights(partition))
    for qname, direction in directions:
        for chunk in chunks:

            def build(
                enc: Encoder, direction: str = direction, chunk: range = chunk
            ) -> list[z3.BoolRef]:
                """Unsat iff, for every class of the chunk (each catalog action, resource
                and context): ``over``, the refined side allows nothing the original
                does not allow or that is unused; ``under``, it allows every request of
                the original on an action that is not unused; ``within``, the second
                side allows every request the first does."""
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
            answer, enc = decide_classes(claim, label, build, partition)
            if answer.status is SolverStatus.SAT:
                try:
                    cex = decode_class(
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
CHUNK_WEIGHT = 2500
"""A chunk's classes have at most this many (statement, class) matches in all, unless it
holds one class: a query's terms grow with its matches, not with its classes alone. A
policy of 5,000 statements has about 27 matches per class; 400 of its classes in one
query took 2.3 s, 90 classes 0.1 s."""


def class_weights(partition: Partition) -> list[int]:
    """Each class's weight: one, plus the number of statements of every policy whose
    action element matches it (each is a membership test in the chunk's terms)."""
    return [1 + sum(len(m) for m in c.matches) for c in partition.classes]


def class_chunks(
    total: int, size: int | None = None, *, weights: Sequence[int] | None = None
) -> list[range]:
    """Consecutive ranges of class indices, each at most ``size`` (default
    :data:`CLASS_CHUNK`) long, that together cover ``range(total)`` exactly once. Without
    ``weights`` they have nearly equal lengths; with them (one per class), nearly equal
    weights, each at most :data:`CHUNK_WEIGHT` unless it holds a single class."""
    size = size or CLASS_CHUNK
    count = max(1, -(-total // size))
    if weights is None or total == 0:
        bounds = [round(i * total / count) for i in range(count + 1)]
        return [range(lo, hi) for lo, hi in pairwise(bounds)]
    whole = sum(weights)
    count = max(count, -(-whole // CHUNK_WEIGHT))
    cap = min(CHUNK_WEIGHT, -(-whole // count))
    chunks = []
    start, load = 0, 0
    for i, w in enumerate(weights[:total]):
        if i > start and (load + w > cap or i - start >= size):
            chunks.append(range(start, i))
            start, load = i, 0
        load += w
    chunks.append(range(start, total))
    return chunks


CLASS_PROBES = 8


def decide_classes(
    claim: Claim,
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
    light = claim.session_for(Query(qname, "classes", build))
    excluded: tuple[int, ...] = ()
    for _ in range(CLASS_PROBES):

        def abstract(enc: Encoder, excluded: tuple[int, ...] = excluded) -> list[z3.BoolRef]:
            """Unsat iff the class query holds on every class not in ``excluded``."""
            return [*build(enc), enc.not_(enc.in_classes(partition, excluded))]

        name = qname if not excluded else f"{qname}, classes {list(excluded)} excluded"
        premise = None
        if excluded:
            premise = f"classes {list(excluded)} are unsat on their own (Lemma 6)"
        answer, enc = claim.decide(
            Query(name, "classes", abstract, partition=partition, premise=premise),
            opaque=True,
            session=light,
        )
        if answer.status is not SolverStatus.SAT:
            if answer.status is SolverStatus.UNSAT:
                return answer, enc
            break
        chosen = int(answer.values["class"])

        def fixed(enc: Encoder, chosen: int = chosen) -> list[z3.BoolRef]:
            """Unsat iff the class query holds on class ``chosen``."""
            k = enc.class_index(partition)
            value = z3.BitVecVal(chosen, partition.width, enc.ctx)
            whole = z3.simplify(z3.substitute(enc.and_(build(enc)), (k, value)))
            return [k == value, whole]

        answer, enc = claim.decide(
            Query(
                f"{qname}, class {chosen} alone",
                "classes",
                fixed,
                partition=partition,
                budget=RESTRICTED_BUDGET,
                auxiliary=True,
            ),
            opaque=False,
            session=light,
        )
        if answer.status is SolverStatus.SAT:
            return answer, enc
        if answer.status is not SolverStatus.UNSAT:
            break
        excluded = (*excluded, chosen)
    return claim.decide(
        Query(qname, "classes", build, partition=partition, fresh=True),
        opaque=False,
        session=None,
    )
