"""Checking a certificate, trusting nothing in it but its inputs (see
:mod:`iamrefine.certificate` for the parts checked and ``proofs/README.md`` for what each
one means)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from iamrefine.certificate.catalogs import check_catalog
from iamrefine.certificate.inputs import read_policy, read_unused
from iamrefine.certificate.least_general import check_least_general
from iamrefine.certificate.load import load_certificate
from iamrefine.certificate.obligations import compare_obligations, solve_texts
from iamrefine.certificate.partition import Signatures, check_partition, partition_record
from iamrefine.certificate.report import CertificateReport
from iamrefine.certificate.schema import LEAST_GENERAL_CLAIM, SOLVERS, Certificate
from iamrefine.choices import Verdict
from iamrefine.errors import CertificateError, Diagnostic
from iamrefine.structure import structure_problems

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog


def check_certificate(
    cert: Certificate,
    catalog: Catalog,
    *,
    solvers: Sequence[str] = ("z3",),
    timeout: float | None = None,
    source: str = "<certificate>",
) -> CertificateReport:
    """Check ``cert`` against ``catalog``, trusting nothing in it but its inputs.

    ``solvers`` are the engines that re-decide every stored obligation (``z3``,
    ``cvc5`` or both, which must then agree); ``timeout`` is each claim's budget in
    seconds, as in ``refine`` and ``check`` (default: the certificate's), spent once on
    re-deriving the claim and once by each solver on its stored texts. Raises
    :class:`CertificateError` when an embedded policy is not a valid policy, and when
    ``catalog`` is not the catalog the certificate names and the certificate does not carry
    its own (``--embed-catalog``).
    """
    from iamrefine.verify import verify_refinement

    for name in solvers:
        if name not in SOLVERS:
            raise ValueError(f"unknown solver `{name}`; expected one of {', '.join(SOLVERS)}")
    from iamrefine.solver import ENGINES

    if cert.refinement.engine not in ENGINES:
        raise CertificateError(
            [
                Diagnostic(
                    source,
                    None,
                    None,
                    f"`refinement.engine`: unknown engine `{cert.refinement.engine}`; "
                    f"expected one of {', '.join(ENGINES)}",
                )
            ]
        )
    start = time.perf_counter()
    report = CertificateReport(source, tuple(solvers))
    budget = timeout if timeout is not None else cert.refinement.timeout

    use = check_catalog(cert, catalog, report, source)

    original = read_policy(cert.inputs.original, "original policy", source, report)
    unused = read_unused(cert, use, report)
    refined = None
    if cert.inputs.refined is not None:
        refined = read_policy(cert.inputs.refined, "refined policy", source, report)
    else:
        report.ok("refined policy", "none: the policy is to be detached")

    # Re-derive every obligation from the inputs; the hints only steer the queries.
    derived = verify_refinement(
        original,
        refined,
        unused,
        use,
        provenance=[(o.statement, o.pattern, o.origin) for o in cert.refinement.pattern_origins],
        statement_origin=list(cert.refinement.statement_origin),
        timeout=budget,
        engine=cert.refinement.engine,
    )
    stored = cert.obligations
    compared = compare_obligations(
        stored,
        derived.obligations,
        [c.name for c in derived.claims if c.verdict is Verdict.UNKNOWN],
        report,
    )

    decided = solve_texts(cert, solvers, budget, report, compared.same)

    # The class partitions: independently, then against the re-derived ones.
    used = {o.partition for o in stored if o.partition is not None}
    for pi in sorted(used):
        if pi >= len(cert.partitions):
            report.fail(
                "class partition",
                f"an obligation names partition {pi}, which the certificate does not list",
            )
    if cert.partitions:
        signatures = Signatures(use, [original, refined], unused.actions)
        for pi, record in enumerate(cert.partitions):
            problems = check_partition(pi, record, use, signatures)
            for p in problems[:10]:
                report.fail("class partition", p)
            if pi not in used:
                report.fail("class partition", f"partition {pi} is used by no obligation")
            again = compared.partitions.get(pi)
            if again is not None and partition_record(again, use) != record:
                report.fail(
                    "class partition",
                    f"partition {pi} differs from the partition re-derived from the inputs",
                )
            if not problems:
                report.ok(
                    "class partition",
                    f"partition {pi}: {len(record.classes)} classes "
                    f"cover the {len(use):,} catalog actions; every member has its "
                    f"class's signature",
                )

    # The structure: the refined policy is the original with only Allow statements'
    # action elements changed, or Allow statements dropped whose actions are all unused.
    st_start = time.perf_counter()
    hints = [(o.statement, o.pattern, o.origin) for o in cert.refinement.pattern_origins]
    shape = structure_problems(
        original, refined, unused.actions, use, cert.refinement.statement_origin, hints
    )
    for p in shape[:20]:
        report.fail("structure", p)
    if len(shape) > 20:
        report.fail("structure", f"and {len(shape) - 20} more problem(s)")
    if not shape:
        report.ok(
            "structure",
            "only Allow statements' action elements differ, every Deny statement is kept, "
            f"and the refinement is exact by structure ({time.perf_counter() - st_start:.2f} s)",
        )

    # Least generality (it presupposes the structure).
    lg_start = time.perf_counter()
    problems = check_least_general(
        cert.least_general,
        original,
        refined,
        unused.actions,
        use,
        cert.refinement.statement_origin,
    )
    lg_seconds = time.perf_counter() - lg_start
    for p in problems[:20]:
        report.fail("least generality", p)
    if len(problems) > 20:
        report.fail("least generality", f"and {len(problems) - 20} more problem(s)")
    if not problems:
        report.ok(
            "least generality", f"{len(cert.least_general)} witness(es) hold ({lg_seconds:.2f} s)"
        )

    # The claims: recorded verdicts, obligation lists and the re-derived verdicts.
    names = [c.name for c in cert.claims]
    expected = [c.name for c in derived.claims] + [LEAST_GENERAL_CLAIM]
    if names != expected:
        report.fail("claims", f"the certificate's claims are {names}; expected {expected}")
    for c in cert.claims:
        if c.verdict is not Verdict.PROVED:
            report.fail(
                "claims",
                f"the certificate records `{c.name}` as {c.verdict}"
                + (f": {c.reason}" if c.reason else ""),
            )
        want = [o.index for o in stored if o.claim == c.name]
        if c.obligations != want:
            report.fail(
                "claims",
                f"`{c.name}` lists obligations {c.obligations}; the "
                f"certificate's obligations of that claim are {want}",
            )
    for result in derived.claims:
        ids = [o.index for o in stored if o.claim == result.name]
        verdict = result.verdict
        if result.verdict is Verdict.PROVED and ids:
            states = [decided[i] for i in ids if i in decided]
            if False in states:
                verdict = Verdict.REFUTED
            elif None in states:
                verdict = Verdict.UNKNOWN
        report.claims[result.name] = verdict
        if result.verdict is Verdict.REFUTED:
            cex = result.counterexample
            report.fail(
                "claims",
                f"`{result.name}` does not hold for the inputs"
                + (f": {cex.message}" if cex is not None else ""),
            )
        elif result.verdict is Verdict.UNKNOWN:
            report.undecided("claims", f"`{result.name}`: {result.reason}")
    report.claims[LEAST_GENERAL_CLAIM] = Verdict.REFUTED if problems or shape else Verdict.PROVED
    if not report.failures and all(v is Verdict.PROVED for v in report.claims.values()):
        report.ok(
            "claims", f"the {len(report.claims)} claims are recorded and re-derived as PROVED"
        )
    report.seconds = time.perf_counter() - start
    return report


def verify_certificate(
    path: str | Path,
    *,
    catalog: Catalog | None = None,
    solvers: Sequence[str] = ("z3",),
    timeout: float | None = None,
) -> CertificateReport:
    """Load the certificate at ``path`` and check it (see :func:`check_certificate`)
    against ``catalog`` (default: the default catalog)."""
    from iamrefine.catalog import load_catalog

    start = time.perf_counter()
    cert = load_certificate(path)
    report = check_certificate(
        cert,
        catalog if catalog is not None else load_catalog(),
        solvers=solvers,
        timeout=timeout,
        source=str(path),
    )
    report.seconds = time.perf_counter() - start
    return report
