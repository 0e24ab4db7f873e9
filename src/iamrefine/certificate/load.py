"""Reading a certificate: size-bounded, UTF-8, the right format and schema version, and
validated against the model; anything else is a :class:`CertificateError` (exit 2)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from iamrefine.certificate.canonical import json_with_numbers
from iamrefine.certificate.schema import FORMAT, MAX_CERTIFICATE_BYTES, SCHEMA_VERSION, Certificate
from iamrefine.errors import CertificateError, Diagnostic
from iamrefine.files import parse_json, read_input


def _where(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_certificate(text: str, source: str = "<certificate>") -> Certificate:
    """Parse and validate certificate JSON; raise :class:`CertificateError` when malformed."""
    data = parse_json(text, source, CertificateError)
    if not isinstance(data, dict):
        raise CertificateError.at(source, "a certificate must be a JSON object")
    if data.get("format") != FORMAT:
        raise CertificateError.at(source, _not_a_certificate(data, source))
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise CertificateError.at(source, _unsupported_version(version))
    inputs = data.get("inputs")
    if isinstance(inputs, dict) and any(
        isinstance(v, dict) and "document" in v for v in inputs.values()
    ):
        # The embedded policies' numbers keep their source text.
        exact = json_with_numbers(text)["inputs"]
        for name, value in inputs.items():
            if isinstance(value, dict) and "document" in value:
                value["document"] = exact[name]["document"]
    try:
        return Certificate.model_validate(data)
    except ValidationError as exc:
        diags = [
            Diagnostic(source, None, None, f"`{_where(err['loc'])}`: {err['msg'].lower()}")
            for err in exc.errors()
        ]
        raise CertificateError(diags) from None


def _unsupported_version(version: Any) -> str:
    """Why ``schema_version`` is refused, showing its JSON type (the string `"1"` is not
    the number 1, and `true` is not 1 either)."""
    shown = json.dumps(version)[:40]
    if isinstance(version, str) and version.strip() == str(SCHEMA_VERSION):
        return (
            f"`schema_version` is the string `{shown}`; this iamrefine reads the number "
            f"`{SCHEMA_VERSION}` (write it without quotes)"
        )
    return (
        f"unsupported certificate schema version `{shown}`; this iamrefine reads `{SCHEMA_VERSION}`"
    )


def _not_a_certificate(data: dict[str, Any], source: str) -> str:
    """Why ``data`` is not a certificate, and for a policy, how to make one."""
    if "Statement" in data:
        return (
            "this looks like an IAM policy, not an iamrefine certificate; make a certificate "
            f"with `iamrefine refine {shlex.quote(source)} --unused UNUSED --certificate "
            "CERT.json`, then check it with `iamrefine verify CERT.json`"
        )
    if "format" not in data:
        return f"not an iamrefine certificate: it has no `format` (expected `{FORMAT}`)"
    return f"not an iamrefine certificate: `format` is `{data['format']}` (expected `{FORMAT}`)"


def load_certificate(path: str | Path) -> Certificate:
    """Read and validate a certificate file (``-``: standard input), through the bounded
    reader of every other input: a FIFO or a device is refused, not read."""
    p = Path(path)
    raw = read_input(path, limit=MAX_CERTIFICATE_BYTES, what="certificate", error=CertificateError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CertificateError.at(
            str(p), f"certificate is not valid UTF-8 (byte {exc.start})"
        ) from None
    return parse_certificate(text, str(p))
