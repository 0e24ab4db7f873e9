"""Fetching from AWS: Access Analyzer findings (botocore's Stubber, checked against the
service model), principals' policies from IAM (moto), the organization walk through
STS AssumeRole, throttling retried by the adaptive retry mode, and an AccessDenied
recorded while the run goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import aws_world as w
from iamrefine.aws.clients import Connector
from iamrefine.aws.fetch import walk
from iamrefine.aws.findings import find_analyzer, get_finding, list_findings
from iamrefine.aws.layout import Outcome
from iamrefine.aws.policies import (
    PolicyKind,
    Principal,
    decode_document,
    principal_policies,
)
from iamrefine.catalog import load_catalog
from iamrefine.errors import InputError
from iamrefine.unused import parse_unused


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in w.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def world(aws_env: None) -> Iterator[tuple[Connector, Any, dict[str, str]]]:
    with w.world(stub_list=False) as found:
        yield found


def test_list_findings_reads_every_page_and_sorts(world: tuple[Connector, Any, Any]) -> None:
    connector, stub, _ = world
    w.stub_findings(stub)
    found = list_findings(connector.analyzer(), w.ANALYZER)
    assert [f["id"] for f in found] == [
        p.finding_id for p in sorted(w.PRINCIPALS, key=lambda p: (p.account, p.arn))
    ]
    assert found[0]["analyzedAt"] == w.T0.isoformat()


def test_list_findings_filters_accounts_and_other_kinds(world: tuple[Connector, Any, Any]) -> None:
    connector, stub, _ = world
    other = {**w.summary_item(w.PRINCIPALS[0]), "id": "x-1", "findingType": "UnusedIAMRole"}
    archived = {**w.summary_item(w.PRINCIPALS[1]), "id": "x-2", "status": "ARCHIVED"}
    mine = w.summary_item(w.PRINCIPALS[5])
    stub.add_response(
        "list_findings_v2",
        {"findings": [other, archived, mine]},
        {
            "analyzerArn": w.ANALYZER,
            "filter": {**w.FILTER, "resourceOwnerAccount": {"eq": [w.MEMBER]}},
        },
    )
    found = list_findings(connector.analyzer(), w.ANALYZER, [w.MEMBER])
    assert [f["id"] for f in found] == [w.PRINCIPALS[5].finding_id]
    stub.assert_no_pending_responses()


def test_get_finding_merges_pages_of_service_and_action_entries(
    world: tuple[Connector, Any, Any],
) -> None:
    connector, stub, _ = world
    principal = w.PRINCIPALS[0]
    pages = w.detail_pages(principal)
    assert len(pages) == 2
    for i, page in enumerate(pages):
        expected = {"analyzerArn": w.ANALYZER, "id": principal.finding_id}
        if i:
            expected["nextToken"] = pages[0]["nextToken"]
        stub.add_response("get_finding_v2", page, expected)
    finding = get_finding(connector.analyzer(), w.ANALYZER, principal.finding_id)
    stub.assert_no_pending_responses()
    assert "nextToken" not in finding
    assert [
        d["unusedPermissionDetails"]["serviceNamespace"] for d in finding["findingDetails"]
    ] == [
        "s3",
        "dynamodb",
    ]
    # The merged response is what `--unused` reads: the action-level entry names two
    # actions, the service-level one the whole of DynamoDB.
    catalog = load_catalog()
    unused = parse_unused(json.dumps(finding), catalog)
    assert "s3:getbucketacl" in unused.actions and "s3:getbuckettagging" in unused.actions
    assert unused.services == frozenset({"dynamodb"})
    assert "dynamodb:getitem" in unused.actions
    assert not any(
        a.startswith("s3:") and a not in {"s3:getbucketacl", "s3:getbuckettagging"}
        for a in unused.actions
    )


def test_find_analyzer_prefers_the_organization_one(world: tuple[Connector, Any, Any]) -> None:
    connector, stub, _ = world
    org = {
        "arn": w.ANALYZER,
        "name": "org-unused-access",
        "type": "ORGANIZATION_UNUSED_ACCESS",
        "createdAt": w.T0,
        "status": "ACTIVE",
    }
    stub.add_response(
        "list_analyzers",
        {
            "analyzers": [{**org, "status": "CREATING", "arn": w.ANALYZER + "-new"}],
            "nextToken": "t",
        },
        {"type": "ORGANIZATION_UNUSED_ACCESS"},
    )
    stub.add_response(
        "list_analyzers",
        {"analyzers": [org]},
        {"type": "ORGANIZATION_UNUSED_ACCESS", "nextToken": "t"},
    )
    found = find_analyzer(connector.analyzer(), w.REGION)
    assert found.arn == w.ANALYZER and found.organization
    stub.add_response("list_analyzers", {"analyzers": []}, {"type": "ORGANIZATION_UNUSED_ACCESS"})
    stub.add_response("list_analyzers", {"analyzers": []}, {"type": "ACCOUNT_UNUSED_ACCESS"})
    with pytest.raises(InputError, match="no active unused-access analyzer"):
        find_analyzer(connector.analyzer(), w.REGION)
    stub.assert_no_pending_responses()


def test_principal_policies_reads_managed_and_url_encoded_inline(
    world: tuple[Connector, Any, dict[str, str]],
) -> None:
    connector, _, arns = world
    principal = Principal.from_arn(f"arn:aws:iam::{w.HOME}:role/app-reader")
    policies, failures = principal_policies(connector.iam(w.HOME), principal)
    assert failures == []
    assert [(p.kind, p.name) for p in policies] == [
        (PolicyKind.INLINE, "dynamo"),
        (PolicyKind.MANAGED, "dynamo-tables"),
        (PolicyKind.MANAGED, "s3-read"),
    ]
    inline, _, managed = policies
    # The document is the text as written, whatever IAM's wire encoding was.
    assert inline.document == w.doc("dynamodb:GetItem", "dynamodb:Query")
    assert managed.document == w.doc("s3:Get*", "s3:ListBucket")
    assert managed.arn == arns["s3-read"] and managed.version_id == "v1"
    assert inline.policy_id == "dynamo" and managed.policy_id == arns["s3-read"]


def test_decode_document() -> None:
    text = '{"Version": "2012-10-17", "Statement": [{"Condition": {"StringLike": {"k": "a%41"}}}]}'
    from urllib.parse import quote

    assert decode_document(quote(text, safe="")) == text
    # Decoded text is never decoded twice (its `%41` stays).
    assert decode_document(text) == text


def test_principal_from_arn() -> None:
    p = Principal.from_arn("arn:aws-cn:iam::111122223333:role/service-role/deep/app")
    assert (p.account, p.kind.value, p.name, p.folder) == (
        "111122223333",
        "role",
        "app",
        "role-app",
    )
    with pytest.raises(ValueError):
        Principal.from_arn("arn:aws:s3:::bucket")


def test_walk_crosses_accounts_records_access_denied_and_shares(
    world: tuple[Connector, Any, Any],
) -> None:
    connector, stub, _ = world
    w.stub_findings(stub)
    findings = list_findings(connector.analyzer(), w.ANALYZER)
    found = walk(connector, w.ANALYZER, findings)
    stub.assert_no_pending_responses()
    folders = sorted(t.folder for t in found.tasks)
    assert folders == [
        f"{w.HOME}/role-app-reader/inline-dynamo",
        f"{w.HOME}/role-app-reader/managed-dynamo-tables",
        f"{w.HOME}/role-app-reader/managed-s3-read",
        f"{w.HOME}/role-ci/inline-notify",
        f"{w.HOME}/shared/managed-logs-shared",
        f"{w.HOME}/user-alice/inline-console",
        f"{w.MEMBER}/role-member-app/managed-member-queue",
    ]
    shared = next(t for t in found.tasks if t.shared)
    assert [p.name for p in shared.principals] == ["batch", "etl"]
    # The policy also attached to a group is not narrowed for one role.
    [skipped] = found.skipped
    assert skipped.outcome is Outcome.SKIPPED and "group/devs" in skipped.reason
    # The denied account is recorded; the others were read.
    [denied] = found.failures
    assert (denied.account, denied.operation, denied.code) == (
        w.DENIED,
        "AssumeRole",
        "AccessDenied",
    )
    assert denied.access_denied


def test_member_account_without_role_name_is_recorded(aws_env: None) -> None:
    with w.world(stub_list=False) as (connector, stub, _):
        connector.role_name = None
        member = w.PRINCIPALS[5]
        item = w.summary_item(member)
        found = walk(connector, w.ANALYZER, [_json(item)])
        assert found.tasks == []
        [f] = found.failures
        assert f.account == w.MEMBER and "--assume-role-name" in f.message
        stub.assert_no_pending_responses()


def _json(item: dict[str, Any]) -> dict[str, Any]:
    from iamrefine.aws.findings import jsonable

    return jsonable(item)


def test_throttling_is_retried(world: tuple[Connector, Any, Any]) -> None:
    connector, _, _ = world
    iam = connector.iam(w.HOME)
    sends = w.throttle(iam, "GetPolicyVersion", 2)
    principal = Principal.from_arn(f"arn:aws:iam::{w.HOME}:role/app-reader")
    policies, failures = principal_policies(iam, principal)
    assert failures == [] and len(policies) == 3
    assert len(sends) == 4  # two throttled, then one per managed policy


@pytest.mark.slow
def test_throttling_past_the_attempts_is_recorded_per_policy(
    world: tuple[Connector, Any, Any],
) -> None:
    connector, _, _ = world
    iam = connector.iam(w.HOME)
    sends = w.throttle(iam, "GetPolicyVersion", 100, match="s3-read")
    principal = Principal.from_arn(f"arn:aws:iam::{w.HOME}:role/app-reader")
    policies, failures = principal_policies(iam, principal)
    # The other policies are still read; the throttled one is recorded as failed.
    assert [p.name for p in policies] == ["dynamo", "dynamo-tables"]
    assert [(f.code, f.policy) for f in failures] == [("Throttling", "managed-s3-read")]
    assert len(sends) == 3  # the world's connector makes 3 attempts


def test_access_denied_on_one_policy_is_recorded(world: tuple[Connector, Any, Any]) -> None:
    connector, _, _ = world
    iam = connector.iam(w.HOME)
    w.deny(iam, "GetRolePolicy", '"PolicyName": "dynamo"')
    principal = Principal.from_arn(f"arn:aws:iam::{w.HOME}:role/app-reader")
    policies, failures = principal_policies(iam, principal)
    assert [p.name for p in policies] == ["dynamo-tables", "s3-read"]
    [f] = failures
    assert (f.code, f.operation, f.principal, f.policy) == (
        "AccessDenied",
        "GetRolePolicy",
        "role-app-reader",
        "inline-dynamo",
    )
    assert f.access_denied
