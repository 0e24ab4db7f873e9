"""YAML policies and CloudFormation templates, read with cfn-lint's decoder.

cfn-lint reads JSON and YAML templates, with the short-form tags (``!Sub``,
``!GetAtt``, ...), and keeps each value's line and column; it also refuses YAML
alias bombs. Policies are found in ``AWS::IAM::Policy`` and
``AWS::IAM::ManagedPolicy`` (``PolicyDocument``) and in the inline ``Policies`` of
``AWS::IAM::Role``, ``AWS::IAM::User`` and ``AWS::IAM::Group``.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from iamrefine.errors import Diagnostic, InputError, PolicyError
from iamrefine.sources.model import Candidate, Document, PolicySource, SourceKind
from iamrefine.sources.tree import TreeBuilder, _span, intrinsic_name

POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
INLINE_TYPES = ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group")

_MARK = re.compile(r'\s*in "[^"]*", line (\d+), column (\d+)')


def decode(text: str, file: str) -> Any:
    """The decoded YAML or JSON document (values carry their marks)."""
    try:
        from cfnlint.decode import decode_str
    except ImportError:
        raise InputError.at(
            file,
            "reading YAML or a CloudFormation template needs cfn-lint: "
            "pip install 'iamrefine[iac]'",
        ) from None
    import logging  # here: a JSON policy never needs it

    # cfn-lint logs some failures as well as returning them; they are reported here.
    logging.getLogger("cfnlint").addHandler(logging.NullHandler())
    logging.getLogger("cfnlint").propagate = False
    decoded, matches = decode_str(text)
    if matches:
        raise PolicyError([_diagnostic(file, m) for m in matches])
    return decoded


def _diagnostic(file: str, match: Any) -> Diagnostic:
    message = str(getattr(match, "message", match))
    line = getattr(match, "linenumber", None)
    column = getattr(match, "columnnumber", None)
    mark = _MARK.search(message)
    if mark is not None:
        line, column = int(mark.group(1)), int(mark.group(2))
        message = _MARK.sub("", message)
    message = " ".join(message.split())
    if "recursive" in message:
        message = f"YAML anchors form a loop ({message})"
    elif "YAML alias" in message:
        line = column = None
    message = message.replace("Template could not be parsed: ", "invalid YAML: ")
    return Diagnostic(file, line, column, message)


def is_template(decoded: Any) -> bool:
    return isinstance(decoded, dict) and (
        "Resources" in decoded or "AWSTemplateFormatVersion" in decoded
    )


def yaml_policy_document(file: str, text: str, decoded: Any) -> Document:
    """A YAML file holding one policy document."""
    load = partial(_load, file, text, SourceKind.POLICY_YAML, "", decoded)
    return Document(file, SourceKind.POLICY_YAML, [Candidate("", load)], text=text)


def template_document(file: str, text: str, decoded: dict[str, Any]) -> Document:
    """A CloudFormation template and the policies its IAM resources hold."""
    resources = decoded.get("Resources")
    where = _span(resources) or _span(decoded)
    doc = Document(
        file,
        SourceKind.CLOUDFORMATION,
        [],
        text=text,
        empty_reason="is a CloudFormation template with no IAM policy (looked in "
        + ", ".join(f"`{t}`" for t in (*POLICY_TYPES, *INLINE_TYPES))
        + ")",
        empty_where=(where[0], where[1]) if where else None,
    )
    if not isinstance(resources, dict):
        return doc
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        props = resource.get("Properties")
        props = props if isinstance(props, dict) else {}
        if kind in POLICY_TYPES:
            doc.candidates.append(_candidate(file, text, str(logical_id), props, resource))
        elif kind in INLINE_TYPES:
            inline = props.get("Policies")
            if inline is None:
                continue
            if not isinstance(inline, list):
                pid = f"{logical_id}/Policies"
                doc.candidates.append(
                    Candidate(pid, partial(_fail, file, inline, f"`{pid}` is not a list"))
                )
                continue
            for index, entry in enumerate(inline):
                name = entry.get("PolicyName") if isinstance(entry, dict) else None
                pid = (
                    f"{logical_id}/{name}" if _literal(name) else f"{logical_id}/Policies[{index}]"
                )
                holder = entry if isinstance(entry, dict) else {}
                doc.candidates.append(_candidate(file, text, pid, holder, entry))
    return doc


def _literal(value: Any) -> bool:
    return isinstance(value, str) and "/" not in value


def _candidate(file: str, text: str, pid: str, holder: dict[str, Any], anchor: Any) -> Candidate:
    if "PolicyDocument" not in holder:
        return Candidate(pid, partial(_fail, file, anchor, f"`{pid}` has no `PolicyDocument`"))
    document = holder["PolicyDocument"]
    name = intrinsic_name(document)
    if name is not None:
        return Candidate(
            pid,
            partial(
                _fail,
                file,
                document,
                f"the `PolicyDocument` of `{pid}` is computed by `{name}`, which cannot be "
                "analysed",
            ),
        )
    if isinstance(document, str):
        return Candidate(pid, partial(_load_string, file, pid, document))
    return Candidate(pid, partial(_load, file, text, SourceKind.CLOUDFORMATION, pid, document))


def _fail(file: str, anchor: Any, message: str) -> PolicySource:
    where = _span(anchor)
    line, column = (where[0], where[1]) if where else (None, None)
    raise PolicyError(Diagnostic(file, line, column, message))


def _load(file: str, text: str, kind: SourceKind, pid: str, document: Any) -> PolicySource:
    from iamrefine.parse import policy_from_tree

    builder = TreeBuilder(file, text)
    root = builder.node(document, ())
    if builder.errors:
        raise PolicyError(sorted(builder.errors, key=lambda d: (d.line or 0, d.column or 0)))
    policy = policy_from_tree(root, file)
    return PolicySource(
        file,
        kind,
        pid,
        policy,
        notes=builder.notes,
        opaque=builder.opaque,
        document=_span(document),
        text=text,
    )


def _load_string(file: str, pid: str, document: Any) -> PolicySource:
    """A ``PolicyDocument`` written as a JSON string; positions point at the string."""
    from iamrefine.parse import parse_policy

    where = _span(document)
    line, column = (where[0], where[1]) if where else (None, None)
    try:
        policy = parse_policy(str(document), file)
    except PolicyError as exc:
        raise PolicyError(
            [
                Diagnostic(
                    file,
                    line,
                    column,
                    f"in the `PolicyDocument` string of `{pid}`, at {d.line}:{d.column}: "
                    f"{d.message}",
                )
                for d in exc.diagnostics
            ]
        ) from None
    return PolicySource(file, SourceKind.CLOUDFORMATION, pid, policy)
