"""``iamrefine aws apply``: put proven recommendations into IAM, and take them back.

:func:`plan` reads an output folder of ``recommend`` and, for each REFINED or
DETACHED policy whose proof is PROVED, reads the live policy and compares it with
the document that was refined (its sha256 digest, and the default version of a
managed policy): a policy changed since is refused, and so is a customer managed
policy attached since to a principal it was not refined for. The plan is a list of IAM calls:

- customer managed policy, refined: ``create_policy_version`` (set as default); a
  policy that already holds 5 versions is refused, since a version would have to be
  deleted first, and ``apply`` never deletes one;
- inline policy, refined: ``put_role_policy`` / ``put_user_policy``;
- AWS managed policy, refined (it cannot be edited): ``create_policy`` of a customer
  managed copy, ``attach_*_policy`` of the copy and ``detach_*_policy`` of the
  original;
- DETACH of a managed policy: ``detach_*_policy``; of an inline one:
  ``delete_*_policy``.

Without ``--yes`` nothing is called. With it, :func:`execute` makes the calls and
logs each change with the calls that undo it, and what IAM must show for the undo
to apply, in a rollback file (rewritten atomically after every change).
:mod:`iamrefine.aws.rollback` undoes a rollback file's changes.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iamrefine.aws.clients import AwsFailure, Connector, MemberAccountError, aws_errors, failure
from iamrefine.aws.layout import FINDING_FILE, FINDINGS_DIR, Applicable, Outcome, read_results
from iamrefine.aws.policies import (
    PolicyKind,
    Principal,
    PrincipalKind,
    attachments,
    inline_document,
    managed_document,
    sha256_text,
)
from iamrefine.choices import DEFAULT_TIMEOUT
from iamrefine.errors import InputError
from iamrefine.files import write_atomic

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog

MAX_VERSIONS = 5
"""The most versions IAM keeps of one managed policy."""

ROLLBACK_KIND = "iamrefine-aws-rollback"
ROLLBACK_FORMAT = 1


class Status(StrEnum):
    """What ``apply`` (or a rollback) does with one policy."""

    APPLY = "apply"
    APPLIED = "applied"
    REFUSED = "refused"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass
class Call:
    """One IAM call: the client method's name and its parameters."""

    account: str
    operation: str
    params: dict[str, Any]

    def render(self) -> str:
        shown = ", ".join(
            f"{k}=<document {sha256_text(v)}>" if k == "PolicyDocument" else f"{k}={v!r}"
            for k, v in self.params.items()
        )
        return f"{self.account}: iam.{self.operation}({shown})"

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "operation": self.operation, "params": self.params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Call:
        return cls(str(data["account"]), str(data["operation"]), dict(data["params"]))


@dataclass
class Step:
    """One IAM call, the calls that undo it and what IAM must show for the undo to
    apply (see :func:`iamrefine.aws.rollback.holds`)."""

    call: Call
    undo: list[Call] = field(default_factory=list)
    expect: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Change:
    """One policy's steps, in order."""

    folder: str
    status: Status
    reason: str = ""
    steps: list[Step] = field(default_factory=list)

    @property
    def calls(self) -> list[Call]:
        return [s.call for s in self.steps]

    def to_json(self) -> dict[str, Any]:
        """The rollback file's record: the calls made, the undo calls (last call's
        first) and every expectation."""
        return {
            "folder": self.folder,
            "calls": [s.call.to_json() for s in self.steps],
            "undo": [c.to_json() for s in reversed(self.steps) for c in s.undo],
            "expect": [e for s in self.steps for e in s.expect],
        }


def principal_key(principal: Principal) -> tuple[str, str]:
    if principal.kind is PrincipalKind.ROLE:
        return "role", "RoleName"
    return "user", "UserName"


def _call(account: str, operation: str, **params: Any) -> Call:
    return Call(account, operation, params)


# --- the plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProofOptions:
    """How ``apply`` proves each recommendation again before using it."""

    catalog_path: str | Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    engine: str = "auto"


def plan(connector: Connector, out_dir: Path, proof: ProofOptions | None = None) -> list[Change]:
    """The change of every policy folder of ``out_dir``: APPLY with its calls, or
    SKIPPED / REFUSED with the reason."""
    from iamrefine.catalog import load_catalog

    opts = proof or ProofOptions()
    found = read_results(out_dir)
    catalog = load_catalog(opts.catalog_path)
    return [_plan_one(connector, f, out_dir, catalog, opts) for f in found]


def prove_again(
    found: Applicable, live_text: str, catalog: Catalog, proof: ProofOptions
) -> str | None:
    """Why the folder's refined policy is not proved to be the live policy without
    the unused actions of its finding(s); None when it is. The folder's files are not
    trusted: ``done`` says PROVED, but the policy applied is the one proved here."""
    from iamrefine.api import check
    from iamrefine.harness.regress import classify_check
    from iamrefine.unused import UnusedSet, load_unused
    from iamrefine.verify import Verdict

    paths = (
        sorted((found.folder / FINDINGS_DIR).glob("*.json"))
        if len(found.principals) > 1
        else [found.folder / FINDING_FILE]
    )
    sets = [load_unused(p, catalog) for p in paths]
    unused = UnusedSet(
        frozenset.intersection(*(u.actions for u in sets)),
        str(found.folder),
        (),
        frozenset.intersection(*(u.services for u in sets)),
    )
    report = check(
        live_text,
        found.refined_text,
        unused,
        catalog=catalog,
        timeout=proof.timeout,
        engine=proof.engine,
    )
    if report.verdict is Verdict.PROVED:
        return None
    grade, detail, _ = classify_check(report)
    return f"{grade}: {detail}" if detail else str(grade)


def _plan_one(
    connector: Connector, found: Applicable, out_dir: Path, catalog: Catalog, proof: ProofOptions
) -> Change:
    name = str(found.folder.relative_to(out_dir))
    if found.outcome not in (Outcome.REFINED, Outcome.DETACHED):
        return Change(name, Status.SKIPPED, f"{found.outcome.value}: nothing to apply")
    if found.verdict != "PROVED":
        return Change(name, Status.REFUSED, f"the proof is {found.verdict}, not PROVED")
    try:
        iam = connector.iam(found.account)
        live = _live(iam, found)
    except MemberAccountError as exc:
        return Change(name, Status.REFUSED, str(exc))
    except aws_errors() as exc:
        return Change(
            name, Status.REFUSED, failure(exc, account=found.account, operation="").render()
        )
    version, text = live
    fetched_digest = found.policy["digest"]
    if sha256_text(text) != fetched_digest or version != found.policy.get("version_id"):
        return Change(
            name,
            Status.REFUSED,
            f"the live policy changed since it was fetched (live {sha256_text(text)}"
            + (f" version {version}" if version else "")
            + f", fetched {fetched_digest}"
            + (f" version {found.policy.get('version_id')}" if version else "")
            + "); run `iamrefine aws recommend` again",
        )
    if found.kind is PolicyKind.MANAGED:
        try:
            others = _other_holders(iam, found)
        except aws_errors() as exc:
            return Change(
                name, Status.REFUSED, failure(exc, account=found.account, operation="").render()
            )
        if others:
            return Change(
                name,
                Status.REFUSED,
                f"the policy is now attached to {', '.join(others)} too; it is not narrowed "
                "for principals whose unused actions were not part of its refinement",
            )
    try:
        unproved = prove_again(found, text, catalog, proof)
    except InputError as exc:
        unproved = "; ".join(d.render() for d in exc.diagnostics)
    if unproved is not None:
        return Change(
            name,
            Status.REFUSED,
            f"the refined policy is not proved against the live one: {unproved}",
        )
    change = Change(name, Status.APPLY)
    try:
        _calls(iam, found, text, change)
    except aws_errors() as exc:
        return Change(
            name, Status.REFUSED, failure(exc, account=found.account, operation="").render()
        )
    return change


def _other_holders(iam: Any, found: Applicable) -> list[str]:
    """Whom the customer managed policy is attached to now, besides the principals it
    was refined for."""
    held = attachments(iam, str(found.policy["arn"]))
    mine = {(p.kind, p.name) for p in found.principals}
    return [f"{k.value}/{n}" for k, n in sorted(held.principals() - mine)] + [
        f"group/{g}" for g in sorted(held.groups)
    ]


def _live(iam: Any, found: Applicable) -> tuple[str | None, str]:
    if found.kind is PolicyKind.INLINE:
        return None, inline_document(iam, found.principals[0], str(found.policy["name"]))
    return managed_document(iam, str(found.policy["arn"]))


def _calls(iam: Any, found: Applicable, original: str, change: Change) -> None:
    acct = found.account
    arn = str(found.policy.get("arn"))
    refined = found.refined_text
    if found.kind is PolicyKind.INLINE:
        principal = found.principals[0]
        kind, key = principal_key(principal)
        named = {key: principal.name, "PolicyName": str(found.policy["name"])}
        call = (
            _call(acct, f"delete_{kind}_policy", **named)
            if refined is None
            else _call(acct, f"put_{kind}_policy", **named, PolicyDocument=refined)
        )
        restore = _call(acct, f"put_{kind}_policy", **named, PolicyDocument=original)
        digest = None if refined is None else sha256_text(refined)
        expect = {"inline": principal.to_json(), "name": named["PolicyName"], "digest": digest}
        change.steps.append(Step(call, [restore], [expect]))
        return
    if refined is None:
        for principal in found.principals:
            change.steps.append(detach_step(acct, principal, arn))
        return
    if found.kind is PolicyKind.MANAGED:
        versions = [
            v
            for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn)
            for v in page.get("Versions", [])
        ]
        if len(versions) >= MAX_VERSIONS:
            change.status = Status.REFUSED
            change.reason = (
                f"{arn} already holds {len(versions)} versions, the most IAM keeps; a new "
                "version needs one deleted first, which iamrefine never does: delete a "
                "version you no longer need (`aws iam delete-policy-version`) and run "
                "`iamrefine aws apply` again"
            )
            return
        call = _call(
            acct, "create_policy_version", PolicyArn=arn, PolicyDocument=refined, SetAsDefault=True
        )
        previous = found.policy["version_id"]
        # The new version's id is known once it exists: execute() adds its deletion.
        undo = [_call(acct, "set_default_policy_version", PolicyArn=arn, VersionId=previous)]
        change.steps.append(Step(call, undo))
        return
    _replace_aws_managed(found, refined, change)


def detach_step(acct: str, principal: Principal, arn: str) -> Step:
    """Detach ``arn`` from ``principal``; undone by attaching it again."""
    kind, key = principal_key(principal)
    return Step(
        _call(acct, f"detach_{kind}_policy", **{key: principal.name}, PolicyArn=arn),
        [_call(acct, f"attach_{kind}_policy", **{key: principal.name}, PolicyArn=arn)],
        [{"attached": principal.to_json(), "arn": arn, "value": False}],
    )


def _replace_aws_managed(found: Applicable, refined: str, change: Change) -> None:
    acct = found.account
    principal = found.principals[0]
    kind, key = principal_key(principal)
    old = str(found.policy["arn"])
    partition = old.split(":")[1]
    new_name = f"iamrefine-{principal.name}-{found.policy['name']}"[:128]
    new = f"arn:{partition}:iam::{acct}:policy/{new_name}"
    create = _call(
        acct,
        "create_policy",
        PolicyName=new_name,
        PolicyDocument=refined,
        Description=f"{old} without the actions {principal.name} leaves unused (iamrefine)",
    )
    attach = _call(acct, f"attach_{kind}_policy", **{key: principal.name}, PolicyArn=new)
    change.steps += [
        Step(create, [_call(acct, "delete_policy", PolicyArn=new)]),
        Step(
            attach,
            [_call(acct, f"detach_{kind}_policy", **{key: principal.name}, PolicyArn=new)],
            [{"attached": principal.to_json(), "arn": new, "value": True}],
        ),
        detach_step(acct, principal, old),
    ]


# --- making the calls ---------------------------------------------------------------


def new_rollback_path(out_dir: Path) -> Path:
    """A rollback file name in ``out_dir`` that does not exist yet."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"rollback-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = out_dir / f"rollback-{stamp}-{n}.json"
    return path


class RollbackLog:
    """The rollback file, rewritten atomically after each change."""

    def __init__(self, path: Path, out_dir: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "kind": ROLLBACK_KIND,
            "format": ROLLBACK_FORMAT,
            "out_dir": str(out_dir),
            "changes": [],
        }

    def record(self, change: Change) -> None:
        self.data["changes"].append(change.to_json())
        write_atomic(self.path, json.dumps(self.data, indent=2) + "\n")


def execute(
    connector: Connector,
    changes: list[Change],
    log: RollbackLog,
    *,
    on_change: Callable[[Change], None] | None = None,
) -> list[AwsFailure]:
    """Make the calls of every APPLY change and log each change before the next. A
    failed call stops that policy's calls; the calls made before it are logged with
    their undo."""
    failures: list[AwsFailure] = []
    for change in changes:
        if change.status is not Status.APPLY:
            continue
        done = Change(change.folder, Status.APPLIED)
        for step in change.steps:
            try:
                response = invoke(connector, step.call)
            except aws_errors() as exc:
                failures.append(
                    failure(exc, account=step.call.account, operation=step.call.operation)
                )
                change.status = Status.FAILED
                change.reason = failures[-1].render()
                break
            made = Step(step.call, list(step.undo), list(step.expect))
            if step.call.operation == "create_policy_version":
                arn = step.call.params["PolicyArn"]
                version = response["PolicyVersion"]["VersionId"]
                made.undo.append(
                    _call(
                        step.call.account, "delete_policy_version", PolicyArn=arn, VersionId=version
                    )
                )
                made.expect.append({"default_version": arn, "version": version})
            done.steps.append(made)
        else:
            change.status = Status.APPLIED
        if done.steps:
            log.record(done)
        if on_change is not None:
            on_change(change)
    return failures


def invoke(connector: Connector, call: Call) -> Any:
    iam = connector.iam(call.account)
    return getattr(iam, call.operation)(**call.params)
