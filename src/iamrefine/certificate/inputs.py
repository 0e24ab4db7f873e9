"""The certificate's inputs: each embedded policy re-parsed and re-hashed, and the unused
set re-hashed and looked up in the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iamrefine.catalog import Catalog
from iamrefine.certificate.canonical import canonical_json, canonical_policy, sha256_text
from iamrefine.certificate.report import CertificateReport, examples, first_difference
from iamrefine.certificate.schema import Certificate, EmbeddedPolicy
from iamrefine.errors import CertificateError, Diagnostic
from iamrefine.glob import ascii_lower

if TYPE_CHECKING:
    from iamrefine.model import Policy
    from iamrefine.unused import UnusedSet


def read_policy(
    embedded: EmbeddedPolicy, part: str, source: str, report: CertificateReport
) -> Policy:
    from iamrefine.errors import PolicyError
    from iamrefine.parse import policy_from_json

    text = canonical_json(embedded.document)
    digest = sha256_text(text)
    if digest != embedded.sha256:
        report.fail(
            part,
            f"sha256 of the embedded policy is `{digest}`, the certificate "
            f"records `{embedded.sha256}`",
        )
    try:
        policy = policy_from_json(embedded.document, f"{source}: {part}")
    except PolicyError as exc:
        raise CertificateError(
            [Diagnostic(source, None, None, f"{part}: {d.message}") for d in exc.diagnostics]
        ) from None
    again = canonical_policy(policy)[1]
    if again != text:
        report.fail(
            part, "the embedded policy is not in canonical form: " + first_difference(text, again)
        )
    elif digest == embedded.sha256:
        report.ok(part, f"`{digest}` ({len(policy.statements)} statement(s))")
    return policy


def read_unused(cert: Certificate, catalog: Catalog, report: CertificateReport) -> UnusedSet:
    from iamrefine.unused import UnusedSet

    emb = cert.inputs.unused
    digest = sha256_text(canonical_json(emb.actions))
    good = True
    if digest != emb.sha256:
        good = False
        report.fail(
            "unused set",
            f"sha256 of the embedded unused set is `{digest}`, the "
            f"certificate records `{emb.sha256}`",
        )
    lowered = [ascii_lower(a) for a in emb.actions]
    if lowered != sorted(set(lowered)):
        good = False
        report.fail(
            "unused set", "the unused actions are not sorted by lowercase name without duplicates"
        )
    unknown = [a for a in emb.actions if a not in catalog]
    if unknown:
        good = False
        report.fail(
            "unused set",
            f"{len(unknown)} unused action(s) are not in the catalog: {examples(unknown)}",
        )
    if good:
        report.ok("unused set", f"`{digest}` ({len(emb.actions)} actions)")
    names = frozenset(a for a in lowered if a in catalog.by_lower)
    return UnusedSet(names, "<certificate unused set>")
