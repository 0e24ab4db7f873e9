"""Where policies come from: every command reads its policies through this package.

A policy source is a file path, or ``-`` for standard input, holding one of:

- a policy document in JSON (read by :mod:`iamrefine.parse`, unchanged);
- a policy document in YAML;
- a CloudFormation template, JSON or YAML with its short-form tags;
- a Terraform plan written by ``terraform show -json``.

:func:`read_document` finds the policies in a file; :meth:`Document.select` picks one
(by ``--policy-id``) and :meth:`Document.all` returns them all. Every position in a
diagnostic is relative to the original file. YAML and templates need the ``iac``
extra (cfn-lint).
"""

from __future__ import annotations

import json
from pathlib import Path

from iamrefine.errors import PolicyError
from iamrefine.parse import MAX_POLICY_BYTES
from iamrefine.sources.model import Candidate, Document, PolicySource, SourceKind
from iamrefine.sources.tree import Opaque

__all__ = [
    "MAX_SOURCE_BYTES",
    "STDIN",
    "Document",
    "Opaque",
    "PolicySource",
    "SourceKind",
    "document_of",
    "load_policy_source",
    "read_document",
]

STDIN = "-"

MAX_SOURCE_BYTES = 8 * 1024 * 1024
"""Largest template or plan read. CloudFormation accepts templates up to 1 MB; a plan
of a large configuration is bigger, and 8 MiB still reads in well under a second. A
plain policy document keeps the parser's own limit (``parse.MAX_POLICY_BYTES``)."""


def _read(path: str | Path, name: str | None = None) -> tuple[str, bytes]:
    """The file's name for messages and its bytes (at most ``MAX_SOURCE_BYTES``)."""
    from iamrefine.files import read_input

    data = read_input(
        path,
        limit=MAX_SOURCE_BYTES,
        what="policy file",
        error=PolicyError,
        why="the most iamrefine reads of a template or plan; a policy document may have "
        f"at most {MAX_POLICY_BYTES:,} bytes",
    )
    return name or str(path), data


def _plain_policy(name: str, data: bytes) -> Document:
    from iamrefine.parse import parse_policy

    def load() -> PolicySource:
        return PolicySource(name, SourceKind.POLICY_JSON, "", parse_policy(data, name))

    return Document(name, SourceKind.POLICY_JSON, [Candidate("", load)])


def read_document(path: str | Path, *, name: str | None = None) -> Document:
    """The policies held by the file at ``path`` (``-``: standard input), named ``name``
    (default: the path) in messages."""
    name, data = _read(path, name)
    return document_of(name, data)


def document_of(name: str, data: bytes) -> Document:
    """The policies held by ``data``, the bytes of a file named ``name`` in messages
    (for callers that received the file's content rather than its path)."""
    from iamrefine.sources import cfn, terraform

    head = data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    if head in (b"{", b"[") or name.lower().endswith(".json"):
        try:
            decoded = json.loads(data)
        except (ValueError, RecursionError):
            # Not valid JSON: the policy parser says where and why.
            return _plain_policy(name, data)
        if terraform.is_plan(decoded):
            return terraform.plan_document(name, decoded)
        if not cfn.is_template(decoded):
            return _plain_policy(name, data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PolicyError.at(name, f"the file is not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise PolicyError.at(name, "the file is empty; expected a policy, template or plan", 1, 1)
    decoded = cfn.decode(text, name)
    if cfn.is_template(decoded):
        return cfn.template_document(name, text, decoded)
    if isinstance(decoded, dict) and "Statement" in decoded:
        return cfn.yaml_policy_document(name, text, decoded)
    raise PolicyError.at(
        name,
        "the file is neither an IAM policy (no `Statement`), a CloudFormation template "
        "(no `Resources`) nor a Terraform plan (no `planned_values`)",
    )


def load_policy_source(path: str | Path, policy_id: str | None = None) -> PolicySource:
    """The one policy of ``path`` selected by ``policy_id`` (see :meth:`Document.select`)."""
    return read_document(path).select(policy_id)
