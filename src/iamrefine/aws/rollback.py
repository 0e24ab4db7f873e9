"""``iamrefine aws apply --rollback FILE``: undo what ``apply`` logged.

Each change of the rollback file is undone, newest first, only when IAM still shows
what ``apply`` left (:func:`holds`): the default version it created, the inline
document it wrote (or its absence), a policy attached or detached. A change made by
hand since is refused, never overwritten. Like ``apply``, a dry run unless ``--yes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iamrefine.aws.apply import ROLLBACK_KIND, Call, Change, Status, Step, invoke, principal_key
from iamrefine.aws.clients import AwsFailure, Connector, MemberAccountError, aws_errors, failure
from iamrefine.aws.policies import Principal, inline_document, sha256_text
from iamrefine.errors import InputError
from iamrefine.files import parse_json


@dataclass(frozen=True)
class Logged:
    """One change of a rollback file: the calls that undo it, in order, and what IAM
    must show for them to apply."""

    folder: str
    undo: list[Call]
    expect: list[dict[str, Any]]


def read_rollback(path: Path) -> list[Logged]:
    """The changes of a rollback file, oldest first; raises :class:`InputError` for a
    file that is not one."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(str(path), f"cannot read the rollback file: {exc}") from None
    data = parse_json(text, str(path), InputError, what="rollback file")
    if not isinstance(data, dict) or data.get("kind") != ROLLBACK_KIND:
        raise InputError.at(str(path), "not a rollback file of `iamrefine aws apply`")
    try:
        return [
            Logged(
                str(c["folder"]),
                [Call.from_json(x) for x in c["undo"]],
                [dict(e) for e in c["expect"]],
            )
            for c in data["changes"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError.at(str(path), f"malformed rollback file: {exc}") from None


def rollback_plan(connector: Connector, path: Path) -> list[Change]:
    """The undo of every change of the rollback file, newest first: APPLY when IAM
    still shows what ``apply`` left, REFUSED otherwise."""
    planned: list[Change] = []
    for logged in reversed(read_rollback(path)):
        change = Change(logged.folder, Status.APPLY, steps=[Step(c) for c in logged.undo])
        account = logged.undo[0].account if logged.undo else ""
        try:
            iam = connector.iam(account)
            broken = [e for e in logged.expect if not holds(iam, e)]
            if broken:
                change.status = Status.REFUSED
                change.reason = "the policy is no longer as `apply` left it: " + json.dumps(
                    broken[0]
                )
        except MemberAccountError as exc:
            change.status, change.reason = Status.REFUSED, str(exc)
        except aws_errors() as exc:
            change.status = Status.REFUSED
            change.reason = failure(exc, account=account, operation="").render()
        planned.append(change)
    return planned


def holds(iam: Any, expect: dict[str, Any]) -> bool:
    """Whether IAM shows what ``apply`` left: a default version, an inline document's
    digest (None: deleted), or whether a policy is attached."""
    from botocore.exceptions import ClientError

    if "default_version" in expect:
        policy = iam.get_policy(PolicyArn=expect["default_version"])["Policy"]
        return bool(policy["DefaultVersionId"] == expect["version"])
    if "inline" in expect:
        principal = Principal.from_json(expect["inline"])
        try:
            digest: str | None = sha256_text(inline_document(iam, principal, expect["name"]))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise
            digest = None
        return digest == expect["digest"]
    principal = Principal.from_json(expect["attached"])
    kind, key = principal_key(principal)
    pages = iam.get_paginator(f"list_attached_{kind}_policies").paginate(**{key: principal.name})
    attached = any(
        p["PolicyArn"] == expect["arn"] for page in pages for p in page.get("AttachedPolicies", [])
    )
    return attached == expect["value"]


def execute_rollback(
    connector: Connector,
    changes: list[Change],
    *,
    on_change: Callable[[Change], None] | None = None,
) -> list[AwsFailure]:
    """Make the undo calls of every APPLY change of a :func:`rollback_plan`; a failed
    call stops that change."""
    failures: list[AwsFailure] = []
    for change in changes:
        if change.status is not Status.APPLY:
            continue
        change.status = Status.APPLIED
        for step in change.steps:
            try:
                invoke(connector, step.call)
            except aws_errors() as exc:
                failures.append(
                    failure(exc, account=step.call.account, operation=step.call.operation)
                )
                change.status = Status.FAILED
                change.reason = failures[-1].render()
                break
        if on_change is not None:
            on_change(change)
    return failures
