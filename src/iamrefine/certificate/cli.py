"""``python -m iamrefine.certificate``: print the JSON Schema, or write each obligation of
a certificate to its own SMT-LIB file. Errors go through the CLI's guard
(:func:`iamrefine.cli.app.guard`), so they become exit codes as in ``iamrefine``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

USAGE = "usage: python -m iamrefine.certificate schema | extract CERT.json DIR"


def extract(cert_path: str | Path, folder: str | Path) -> list[Path]:
    """Write each obligation's SMT-LIB text of the certificate at ``cert_path`` to
    ``folder/NN.smt2`` (atomically); return the files written."""
    from iamrefine.certificate.load import load_certificate
    from iamrefine.files import write_atomic

    cert = load_certificate(cert_path)
    out = Path(folder)
    written = []
    for ob in cert.obligations:
        target = out / f"{ob.index:02d}.smt2"
        write_atomic(target, ob.smtlib, parents=True)
        written.append(target)
    return written


def _run(args: list[str]) -> int:
    from iamrefine.errors import InputError

    if args == ["schema"]:
        from iamrefine.certificate.schema import certificate_schema

        sys.stdout.write(json.dumps(certificate_schema(), indent=2) + "\n")
        return 0
    if len(args) == 3 and args[0] == "extract":
        for path in extract(args[1], args[2]):
            print(path)
        return 0
    raise InputError.at("python -m iamrefine.certificate", USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """``schema`` prints the JSON Schema; ``extract CERT DIR`` writes each obligation's
    SMT-LIB text to ``DIR/NN.smt2``. Returns the exit code."""
    import typer

    from iamrefine.cli.app import guard

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with guard():
            return _run(args)
    except typer.Exit as exc:
        return int(exc.exit_code)
