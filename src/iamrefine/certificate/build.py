"""Building a certificate from a refinement and the checker's report on it, and writing
it as JSON text."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from iamrefine.catalog import Catalog
from iamrefine.certificate.canonical import canonical_json, canonical_policy, sha256_text
from iamrefine.certificate.catalogs import catalog_record
from iamrefine.certificate.least_general import check_least_general
from iamrefine.certificate.partition import partition_record
from iamrefine.certificate.schema import (
    LEAST_GENERAL_CLAIM,
    Certificate,
    ClaimRecord,
    EmbeddedPolicy,
    EmbeddedUnused,
    Inputs,
    ObligationRecord,
    PartitionRecord,
    PatternOrigin,
    Refinement,
    Tools,
    Witness,
)
from iamrefine.choices import Verdict
from iamrefine.glob import action_matches, ascii_lower
from iamrefine.structure import structure_problems

if TYPE_CHECKING:
    from iamrefine.model import Policy
    from iamrefine.refine import RefineResult
    from iamrefine.unused import UnusedSet
    from iamrefine.verify import CheckReport


def _embed_policy(policy: Policy) -> EmbeddedPolicy:
    document, text = canonical_policy(policy)
    return EmbeddedPolicy(sha256=sha256_text(text), document=document)


def _unused_names(unused: UnusedSet, catalog: Catalog) -> list[str]:
    return sorted(
        (catalog.by_lower.get(a, a) for a in unused.actions), key=lambda n: (ascii_lower(n), n)
    )


def _versions(cvc5_used: bool) -> Tools:
    from iamrefine import __version__, solver

    return Tools(
        iamrefine=__version__,
        z3=solver.engine_version("z3"),
        cvc5=solver.engine_version("cvc5") if cvc5_used else None,
    )


def _witnesses(result: RefineResult, unused: frozenset[str]) -> list[Witness]:
    out = []
    for rep in result.replacements:
        for pattern, parent, witness in rep.trace.least_generality():
            reason: Literal["unused", "not allowed"] = "not allowed"
            if ascii_lower(witness) in unused and action_matches(rep.original_pattern, witness):
                reason = "unused"
            out.append(
                Witness(
                    statement=rep.statement_index,
                    original=rep.original_pattern,
                    pattern=pattern,
                    parent=parent,
                    witness=witness,
                    reason=reason,
                )
            )
    return out


def build_certificate(
    result: RefineResult,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    report: CheckReport | None = None,
    timeout: float = 30.0,
    engine: str = "auto",
    embed_catalog: bool = False,
) -> Certificate:
    """The certificate of ``result`` (a refinement of ``result.original`` by ``unused``
    over ``catalog``).

    ``report`` is the checker's report on this refinement, when the caller has already
    run :func:`iamrefine.verify.verify_result` on it with ``timeout`` and ``engine``;
    otherwise it is run here. The least-generality claim is checked here, by the same code that
    :func:`check_certificate` runs. With ``embed_catalog`` the certificate carries the
    catalog's names (compressed), so that it can be checked without the catalog at hand;
    otherwise it names the catalog by source, version and digest.
    """
    from iamrefine.verify import verify_result

    if report is None:
        report = verify_result(result, unused, catalog, timeout=timeout, engine=engine)
    partitions: list[PartitionRecord] = []
    partition_index: dict[int, int] = {}
    obligations = []
    for i, ob in enumerate(report.obligations):
        pidx = None
        if ob.partition is not None:
            key = id(ob.partition)
            if key not in partition_index:
                partition_index[key] = len(partitions)
                partitions.append(partition_record(ob.partition, catalog))
            pidx = partition_index[key]
        obligations.append(
            ObligationRecord(
                index=i,
                name=ob.name,
                claim=ob.claim,
                kind=ob.kind,
                role=ob.role,  # type: ignore[arg-type]
                premise=ob.premise,
                partition=pidx,
                status=ob.status,
                engine=ob.engine,
                seconds=round(ob.seconds, 4),
                smtlib=ob.smtlib(),
            )
        )
    claims = []
    cvc5_used = False
    for c in report.claims:
        engines = str(c.stats.get("solver", "none"))
        cvc5_used = cvc5_used or "cvc5" in engines
        claims.append(
            ClaimRecord(
                name=c.name,
                verdict=c.verdict,
                seconds=round(c.seconds, 4),
                solver=engines,
                obligations=[o.index for o in obligations if o.claim == c.name],
                reason=c.reason,
            )
        )
    start = time.perf_counter()
    witnesses = _witnesses(result, unused.actions)
    problems = structure_problems(
        result.original,
        result.policy,
        unused.actions,
        catalog,
        result.statement_origin,
        result.pattern_origins,
    ) + check_least_general(
        witnesses,
        result.original,
        result.policy,
        unused.actions,
        catalog,
        result.statement_origin,
    )
    claims.append(
        ClaimRecord(
            name=LEAST_GENERAL_CLAIM,
            verdict=Verdict.REFUTED if problems else Verdict.PROVED,
            seconds=round(time.perf_counter() - start, 4),
            solver="none",
            obligations=[],
            reason="; ".join(problems[:3]) if problems else None,
        )
    )
    names = _unused_names(unused, catalog)
    return Certificate(
        tools=_versions(cvc5_used),
        catalog=catalog_record(catalog, embed=embed_catalog),
        inputs=Inputs(
            original=_embed_policy(result.original),
            unused=EmbeddedUnused(sha256=sha256_text(canonical_json(names)), actions=names),
            refined=None if result.policy is None else _embed_policy(result.policy),
        ),
        refinement=Refinement(
            granularity=str(result.granularity),
            strategy=str(result.strategy),
            engine=engine,
            timeout=timeout,
            statement_origin=list(result.statement_origin),
            pattern_origins=[
                PatternOrigin(statement=s, pattern=p, origin=o)
                for s, p, o in result.pattern_origins
            ],
        ),
        claims=claims,
        least_general=witnesses,
        partitions=partitions,
        obligations=obligations,
    )


def certificate_text(certificate: Certificate) -> str:
    """The certificate as JSON text (indented, one array item per line, final newline);
    the embedded policies' numbers keep their source text."""
    from iamrefine.write import json_text

    return json_text(_dump(certificate), indent=1) + "\n"


def _dump(certificate: Certificate) -> dict[str, Any]:
    """The certificate as JSON data, with the embedded documents as they are (pydantic
    would turn each number into an object)."""
    data = certificate.model_dump(mode="json")
    for name in ("original", "refined"):
        embedded = getattr(certificate.inputs, name)
        if embedded is not None:
            data["inputs"][name]["document"] = embedded.document
    return data


def stable_view(certificate: Certificate) -> dict[str, Any]:
    """The certificate as JSON without what varies from run to run (times, the engines
    that answered and the tools' versions): equal views mean the same inputs,
    obligations and proof."""
    data = _dump(certificate)
    data.pop("tools")
    for claim in data["claims"]:
        claim.pop("seconds")
        claim.pop("solver")
    for ob in data["obligations"]:
        ob.pop("seconds")
        ob.pop("engine")
    return data
