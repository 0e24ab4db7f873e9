"""From findings to policies to refine: the walk over accounts and principals.

For each account that has findings, an IAM client is made (through ``AssumeRole``
for a member account of an organization analyzer); for each finding, its details and
the principal's policies are read. A failure is recorded and the walk goes on: an
AccessDenied on ``AssumeRole`` skips that account, one on a policy skips that policy.

A customer managed policy attached to other roles, users or groups is shared: it
must not be narrowed for one of them. When every principal it is attached to is a
role or user with a finding in this run, it becomes one task for all of them (an
action is removed only when all of them leave it unused); otherwise it is skipped
with a note saying which principals are not known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from iamrefine.aws.clients import AwsFailure, Connector, MemberAccountError, aws_errors, failure
from iamrefine.aws.findings import get_finding
from iamrefine.aws.layout import Outcome, PolicyResult, PolicyTask
from iamrefine.aws.policies import (
    Attachments,
    FetchedPolicy,
    PolicyKind,
    Principal,
    PrincipalKind,
    attachments,
    principal_policies,
)


@dataclass
class Walk:
    """What the walk found: the tasks, the policies skipped and the failed calls."""

    tasks: list[PolicyTask] = field(default_factory=list)
    skipped: list[PolicyResult] = field(default_factory=list)
    failures: list[AwsFailure] = field(default_factory=list)


@dataclass
class _Account:
    account: str
    iam: Any
    principals: dict[tuple[PrincipalKind, str], tuple[Principal, dict[str, Any]]] = field(
        default_factory=dict
    )
    policies: dict[Principal, list[FetchedPolicy]] = field(default_factory=dict)
    attached: dict[str, Attachments] = field(default_factory=dict)


def walk(
    connector: Connector,
    analyzer_arn: str,
    findings: list[dict[str, Any]],
    *,
    on_finding: Callable[[str], None] | None = None,
) -> Walk:
    """Read every finding's details and its principal's policies, account by account
    (``findings`` as :func:`~iamrefine.aws.findings.list_findings` returns them)."""
    out = Walk()
    for account, items in groupby(findings, key=lambda f: str(f.get("resourceOwnerAccount"))):
        batch = list(items)
        state = _open(connector, account, out)
        for item in batch:
            if state is not None:
                _principal(connector, analyzer_arn, state, item, out)
            if on_finding is not None:
                on_finding(str(item.get("resource", item.get("id"))))
        if state is not None:
            _tasks(state, out)
    return out


def _open(connector: Connector, account: str, out: Walk) -> _Account | None:
    try:
        return _Account(account, connector.iam(account))
    except MemberAccountError as exc:
        out.failures.append(AwsFailure(account, "AssumeRole", "NoRoleName", str(exc)))
    except aws_errors() as exc:
        out.failures.append(failure(exc, account=account, operation="AssumeRole"))
    return None


def _principal(
    connector: Connector, analyzer_arn: str, state: _Account, item: dict[str, Any], out: Walk
) -> None:
    resource = str(item.get("resource", ""))
    try:
        principal = Principal.from_arn(resource)
    except ValueError as exc:
        out.failures.append(AwsFailure(state.account, "GetFindingV2", "Unsupported", str(exc)))
        return
    try:
        finding = get_finding(connector.analyzer(), analyzer_arn, str(item["id"]))
    except aws_errors() as exc:
        out.failures.append(
            failure(
                exc, account=state.account, operation="GetFindingV2", principal=principal.folder
            )
        )
        return
    try:
        policies, failures = principal_policies(state.iam, principal)
    except aws_errors() as exc:
        out.failures.append(
            failure(
                exc,
                account=state.account,
                operation="ListAttachedPolicies",
                principal=principal.folder,
            )
        )
        return
    out.failures.extend(failures)
    state.principals[(principal.kind, principal.name)] = (principal, finding)
    state.policies[principal] = policies


def _tasks(state: _Account, out: Walk) -> None:
    shared_done: set[str] = set()
    for principal, policies in sorted(state.policies.items()):
        finding = state.principals[(principal.kind, principal.name)][1]
        for policy in policies:
            if policy.kind is not PolicyKind.MANAGED or policy.arn is None:
                out.tasks.append(PolicyTask(state.account, (principal,), policy, (finding,)))
                continue
            found = _attachments(state, principal, policy, out)
            if found is None:
                continue
            others = found.principals() - {(principal.kind, principal.name)}
            if not others and not found.groups:
                out.tasks.append(PolicyTask(state.account, (principal,), policy, (finding,)))
            elif policy.arn not in shared_done:
                shared_done.add(policy.arn)
                _shared(state, principal, policy, found, out)


def _attachments(
    state: _Account, principal: Principal, policy: FetchedPolicy, out: Walk
) -> Attachments | None:
    arn = str(policy.arn)
    if arn not in state.attached:
        try:
            state.attached[arn] = attachments(state.iam, arn)
        except aws_errors() as exc:
            out.failures.append(
                failure(
                    exc,
                    account=state.account,
                    operation="ListEntitiesForPolicy",
                    principal=principal.folder,
                    policy=policy.folder,
                )
            )
            return None
    return state.attached[arn]


def _shared(
    state: _Account, principal: Principal, policy: FetchedPolicy, found: Attachments, out: Walk
) -> None:
    members = sorted(found.principals())
    unknown = [f"{k.value}/{n}" for k, n in members if (k, n) not in state.principals]
    unknown += [f"group/{g}" for g in sorted(found.groups)]
    if unknown:
        task = PolicyTask(state.account, (principal,), policy, ({},))
        result = PolicyResult.of(task, Outcome.SKIPPED)
        result.reason = (
            f"shared: attached to {', '.join(unknown)} too, whose unused actions are not all "
            "known; not narrowed for one principal"
        )
        out.skipped.append(result)
        return
    holders = [state.principals[m] for m in members]
    documents = {p.digest for h, _ in holders for p in state.policies[h] if p.arn == policy.arn}
    if len(documents) != 1:
        task = PolicyTask(state.account, (principal,), policy, ({},))
        out.skipped.append(
            PolicyResult.of(task, Outcome.SKIPPED, "shared: the policy changed during the run")
        )
        return
    out.tasks.append(
        PolicyTask(
            state.account,
            tuple(h for h, _ in holders),
            policy,
            tuple(f for _, f in holders),
        )
    )
