"""The catalog a certificate is relative to: named by source, version and digest, and
embedded (``--embed-catalog``) as its gzip-compressed, base64-encoded names when the
certificate must be checked without it at hand.

A compact certificate (no embedded names) can only be checked against the catalog it
names: any other is refused with a :class:`CertificateError` (exit 2). A certificate
with its catalog embedded is checked against its own catalog, whose digest must be the
recorded one; a catalog given to ``verify`` that differs is reported (the actions added
and removed, and the added ones the refined policy would now grant) as a failed part.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from typing import Any

from iamrefine.catalog import Catalog
from iamrefine.certificate.report import CertificateReport, examples
from iamrefine.certificate.schema import CatalogRecord, Certificate, EmbeddedCatalog
from iamrefine.errors import CertificateError
from iamrefine.files import MAX_INPUT_BYTES
from iamrefine.glob import action_matches

MAX_CATALOG_BYTES = MAX_INPUT_BYTES
"""The largest embedded catalog, uncompressed, that a certificate may carry."""


def catalog_record(catalog: Catalog, *, embed: bool = False) -> CatalogRecord:
    """The record naming ``catalog``; with ``embed``, carrying its names too."""
    info = catalog.info()
    embedded = None
    if embed:
        text = "\n".join(catalog.actions).encode("utf-8")
        packed = gzip.compress(text, compresslevel=9, mtime=0)
        embedded = EmbeddedCatalog(names=base64.b64encode(packed).decode("ascii"))
    return CatalogRecord(
        source=catalog.source,
        version=catalog.version,
        digest=catalog.digest,
        actions=int(info["actions"]),
        services=int(info["services"]),
        embedded=embedded,
    )


def embedded_catalog(record: CatalogRecord, source: str) -> Catalog | None:
    """The catalog embedded in ``record`` (None when there is none). Raises
    :class:`CertificateError` when it cannot be decoded or is not the catalog the record
    names (its digest differs)."""
    if record.embedded is None:
        return None
    where = "`catalog.embedded.names`"
    try:
        packed = base64.b64decode(record.embedded.names, validate=True)
        inflater = zlib.decompressobj(wbits=31)
        raw = inflater.decompress(packed, MAX_CATALOG_BYTES + 1)
        if len(raw) > MAX_CATALOG_BYTES:
            raise CertificateError.at(
                source, f"{where}: the catalog is larger than {MAX_CATALOG_BYTES:,} bytes"
            )
        if not inflater.eof or inflater.unused_data:
            raise CertificateError.at(source, f"{where}: not one complete gzip stream")
        text = raw.decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError) as exc:
        raise CertificateError.at(
            source, f"{where}: not gzip-compressed, base64-encoded UTF-8 text ({exc})"
        ) from None
    names = text.split("\n") if text else []
    catalog = Catalog.from_names(names, source=record.source, version=record.version)
    if list(catalog.actions) != names:
        raise CertificateError.at(
            source, f"{where}: the names are not sorted by lowercase name without repeats"
        )
    if catalog.digest != record.digest:
        raise CertificateError.at(
            source,
            f"{where}: the embedded catalog's digest is `{catalog.digest}`; the certificate "
            f"records `{record.digest}`",
        )
    return catalog


def _describe(source: str, version: str, digest: str, actions: int) -> str:
    return f"{source} {version} (`{digest}`, {actions:,} actions)".replace("  ", " ")


def check_catalog(
    cert: Certificate, catalog: Catalog, report: CertificateReport, source: str
) -> Catalog:
    """Compare ``catalog`` with the certificate's; return the catalog to check against.

    Raises :class:`CertificateError` when the certificate does not carry its catalog and
    ``catalog`` is not the one it names, or when the embedded catalog is not."""
    rec = cert.catalog
    own = embedded_catalog(rec, source)
    if catalog.digest == rec.digest:
        use = catalog
    elif own is not None:
        use = own
    else:
        raise CertificateError.at(
            source,
            "the certificate was made against the catalog "
            f"{_describe(rec.source, rec.version, rec.digest, rec.actions)}, but the catalog "
            f"given is {_describe(catalog.source, catalog.version, catalog.digest, len(catalog))}"
            "; pass the named catalog with `--catalog PATH`, or make the certificate with "
            "`--embed-catalog` to check it without the catalog at hand",
        )
    info = use.info()
    if (info["actions"], info["services"]) != (rec.actions, rec.services):
        report.fail(
            "catalog",
            f"the certificate says {rec.actions:,} actions in {rec.services:,} services; "
            f"the catalog with digest `{rec.digest}` has {info['actions']:,} actions in "
            f"{info['services']:,} services",
        )
    elif use is catalog:
        embedded = "; the embedded catalog is the same" if own is not None else ""
        report.ok("catalog", _describe(use.source, use.version, use.digest, len(use)) + embedded)
    if use is catalog:
        return use
    mine, theirs = set(catalog.lower_names), set(use.lower_names)
    added, removed = mine - theirs, theirs - mine
    message = (
        f"this catalog, {_describe(catalog.source, catalog.version, catalog.digest, len(catalog))}"
        f", differs from the certificate's, "
        f"{_describe(rec.source, rec.version, rec.digest, rec.actions)}: "
        f"{len(added):,} action(s) added"
    )
    if added:
        message += f" ({examples(catalog.by_lower[a] for a in added)})"
    message += f", {len(removed):,} removed"
    if removed:
        message += f" ({examples(use.by_lower[a] for a in removed)})"
    refined = cert.inputs.refined
    if refined is not None and added:
        hits = [catalog.by_lower[a] for a in _newly_allowed(refined.document, added)]
        if hits:
            message += (
                f"; the refined policy's patterns match {len(hits)} of the added actions "
                f"({examples(hits)}): re-run `iamrefine refine` with this catalog"
            )
    message += "; the other checks use the certificate's own (embedded) catalog"
    report.fail("catalog", message)
    return use


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
