"""Regenerate the published proof artefacts (``make certificates``):

- ``proofs/schema/certificate.schema.json``, the JSON Schema of the certificate model;
- ``proofs/certificates/NAME.json``, a certificate for every bundled example
  ``examples/NAME/`` (``policy.json`` refined by ``unused.json`` over the default catalog).

With ``--check`` nothing is written: the script exits 1 when a file would change in more
than the claims' times and the tools' versions, and names the files that would.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "proofs" / "schema" / "certificate.schema.json"
CERTIFICATES = REPO / "proofs" / "certificates"
EXAMPLES = REPO / "examples"


def _examples() -> list[Path]:
    return sorted(
        d
        for d in EXAMPLES.iterdir()
        if (d / "policy.json").is_file() and (d / "unused.json").is_file()
    )


def _current(target: Path, view: dict[str, object]) -> bool:
    """Does ``target`` hold a certificate whose stable view is ``view``?"""
    from iamrefine.certificate import load_certificate, stable_view
    from iamrefine.errors import CertificateError

    if not target.exists():
        return False
    try:
        return stable_view(load_certificate(target)) == view
    except CertificateError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)

    from iamrefine.catalog import load_catalog
    from iamrefine.certificate import (
        build_certificate,
        certificate_schema,
        certificate_text,
        stable_view,
    )
    from iamrefine.parse import load_policy
    from iamrefine.refine import refine_policy
    from iamrefine.unused import load_unused

    stale: list[Path] = []
    schema_text = json.dumps(certificate_schema(), indent=2) + "\n"
    if not SCHEMA.exists() or SCHEMA.read_text("utf-8") != schema_text:
        stale.append(SCHEMA)
        if not args.check:
            SCHEMA.parent.mkdir(parents=True, exist_ok=True)
            SCHEMA.write_text(schema_text, encoding="utf-8")

    catalog = load_catalog()
    for folder in _examples():
        policy = load_policy(folder / "policy.json")
        unused = load_unused(folder / "unused.json", catalog)
        cert = build_certificate(refine_policy(policy, unused, catalog), unused, catalog)
        target = CERTIFICATES / f"{folder.name}.json"
        if _current(target, stable_view(cert)):
            continue
        stale.append(target)
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(certificate_text(cert), encoding="utf-8")

    verb = "would change" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path.relative_to(REPO)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
