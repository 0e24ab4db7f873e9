"""The certificate's inputs and catalog: the catalog compared with the certificate's,
each embedded policy re-parsed and re-hashed, and the unused set re-hashed and looked up
in the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamrefine.catalog import Catalog, digest_of
from iamrefine.certificate.canonical import canonical_json, canonical_policy, sha256_text
from iamrefine.certificate.report import CertificateReport, examples, first_difference
from iamrefine.certificate.schema import Certificate, EmbeddedPolicy
from iamrefine.errors import CertificateError, Diagnostic
from iamrefine.glob import action_matches, ascii_lower

if TYPE_CHECKING:
    from iamrefine.model import Policy
    from iamrefine.unused import UnusedSet


def check_catalog(cert: Certificate, catalog: Catalog, report: CertificateReport) -> Catalog | None:
    """Compare the catalog with the certificate's; return the catalog to check against,
    or None when no check can go on."""
    rec = cert.catalog
    listed = [m for p in cert.partitions for c in p.classes for m in c.members]
    if catalog.digest == rec.digest:
        info = catalog.info()
        if (info["actions"], info["services"]) != (rec.actions, rec.services):
            report.fail(
                "catalog",
                f"the certificate says {rec.actions:,} actions in {rec.services:,} services; "
                f"the catalog with digest `{rec.digest}` has {info['actions']:,} actions in "
                f"{info['services']:,} services",
            )
        else:
            report.ok(
                "catalog",
                f"{catalog.source} {catalog.version} `{catalog.digest}` "
                f"({len(catalog):,} actions)".replace("  ", " "),
            )
        return catalog
    theirs = {ascii_lower(m) for m in listed}
    message = (
        f"this catalog ({catalog.source} {catalog.version}, `{catalog.digest}`, "
        f"{len(catalog):,} actions) differs from the certificate's ({rec.source} "
        f"{rec.version}, `{rec.digest}`, {rec.actions:,} actions)"
    )
    if not listed or digest_of(listed) != rec.digest:
        report.fail(
            "catalog",
            message + "; the certificate does not list its catalog's "
            "actions, so nothing else can be checked",
        )
        return None
    mine = set(catalog.lower_names)
    added, removed = mine - theirs, theirs - mine
    message += f": {len(added):,} action(s) added"
    if added:
        message += f" ({examples(catalog.by_lower[a] for a in added)})"
    message += f", {len(removed):,} removed"
    if removed:
        message += f" ({examples(removed)})"
    refined = cert.inputs.refined
    if refined is not None and added:
        hits = [catalog.by_lower[a] for a in _newly_allowed(refined.document, added)]
        if hits:
            message += (
                f"; the refined policy's patterns match {len(hits)} of the added actions "
                f"({examples(hits)}): re-run `iamrefine refine` with this catalog"
            )
    message += "; the other checks use the certificate's own catalog"
    report.fail("catalog", message)
    return Catalog.from_names(listed, source=rec.source, version=rec.version)


def _newly_allowed(document: dict[str, Any], added: set[str]) -> list[str]:
    """The added actions that some Allow statement of the refined document names by its
    action element (read leniently: the document is checked later)."""
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    hits = set()
    for st in statements if isinstance(statements, list) else []:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        for key, negate in (("Action", False), ("NotAction", True)):
            values = st.get(key)
            if values is None:
                continue
            values = [values] if isinstance(values, str) else values
            pats = [v for v in values if isinstance(v, str)]
            for a in added:
                if any(action_matches(p, a) for p in pats) != negate:
                    hits.add(a)
    return sorted(hits)


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
