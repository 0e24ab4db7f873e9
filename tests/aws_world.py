"""A small AWS organization for the ``aws`` tests, offline.

IAM and STS are moto's in-process implementation (``mock_aws``): the roles, users,
groups, managed and inline policies below are created through boto3 calls, in the
caller's account (HOME) and, through ``AssumeRole``, in a member account (MEMBER).
Access Analyzer, which moto does not implement, is driven by ``botocore.stub.Stubber``:
:func:`stub_findings` queues responses shaped like the service's (several pages of
``ListFindingsV2``, ``GetFindingV2`` details in pages, service-level and action-level
entries) in the order ``recommend`` asks for them, and the Stubber checks each request
and response against botocore's model of the service.

Faults are injected below the client, at botocore's ``before-send`` event (where moto
itself hooks in): an HTTP error response that botocore parses, and retries when it is
a throttling error, exactly as it would one from AWS. Every ``before-send`` handler
runs, so moto still sees those requests: they are used only where that changes
nothing (reads, and an AssumeRole whose credentials are never used). A denied change
is injected at ``before-call`` instead (:func:`deny`), where moto never sees it.

Run as a script (``python tests/aws_world.py OUT_DIR [DELAY]``) it builds the world and
runs ``recommend`` into OUT_DIR, sleeping DELAY seconds after each policy, so that a
test can kill it part way through.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

HOME = "123456789012"
MEMBER = "222222222222"
DENIED = "333333333333"
REGION = "us-east-1"
ROLE_NAME = "OrganizationAccountAccessRole"
ANALYZER = f"arn:aws:access-analyzer:{REGION}:{HOME}:analyzer/org-unused-access"
T0 = datetime.datetime(2026, 11, 2, 9, 30, tzinfo=datetime.UTC)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def doc(*actions: str, resource: str = "*") -> str:
    """A policy document's text, as a user would have written it."""
    statement = {"Sid": "Main", "Effect": "Allow", "Action": list(actions), "Resource": resource}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=4) + "\n"


@dataclass(frozen=True)
class Principal:
    account: str
    kind: str
    name: str
    finding_id: str
    # (service, actions or None for the whole service), as Access Analyzer lists them
    unused: tuple[tuple[str, tuple[str, ...] | None], ...]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:{self.kind}/{self.name}"


PRINCIPALS = (
    Principal(
        HOME,
        "role",
        "app-reader",
        "0b1d3c7e-5a8f-4e2b-9c61-0a7f3e9d2b11",
        (("s3", ("GetBucketAcl", "GetBucketTagging")), ("dynamodb", None)),
    ),
    Principal(
        HOME,
        "role",
        "batch",
        "1c2e4d8f-6b9a-4f3c-8d72-1b8a4fae3c22",
        (("logs", ("DescribeLogGroups", "PutLogEvents")),),
    ),
    Principal(
        HOME,
        "role",
        "ci",
        "2d3f5e9a-7cab-4a4d-9e83-2c9b5abf4d33",
        (("sqs", ("SendMessage",)), ("cloudformation", ("DeleteStack",))),
    ),
    Principal(
        HOME,
        "role",
        "etl",
        "3e4a6fab-8dbc-4b5e-af94-3dac6bca5e44",
        (("logs", ("DescribeLogGroups",)),),
    ),
    Principal(
        HOME, "user", "alice", "4f5b7abc-9ecd-4c6f-b0a5-4ebd7cdb6f55", (("s3", ("GetObject",)),)
    ),
    Principal(
        MEMBER,
        "role",
        "member-app",
        "5a6c8bcd-afde-4d7a-81b6-5fce8dec7a66",
        (("sqs", ("DeleteMessage",)),),
    ),
    Principal(
        DENIED, "role", "locked", "6b7d9cde-b0ef-4e8b-92c7-6adf9efd8b77", (("s3", ("PutObject",)),)
    ),
)
FOUND = [p for p in PRINCIPALS if p.account != DENIED]


def environment() -> dict[str, str]:
    """Fake credentials for moto, and no profile or config file of the machine's."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def member_iam(session: Any, account: str) -> Any:
    creds = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE_NAME}", RoleSessionName="setup"
    )["Credentials"]
    return session.client(
        "iam",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def build_iam(session: Any) -> dict[str, str]:
    """Create the principals and their policies in moto; the managed policies' ARNs."""
    iam = session.client("iam")
    for p in PRINCIPALS:
        if p.account != HOME:
            continue
        if p.kind == "role":
            iam.create_role(RoleName=p.name, AssumeRolePolicyDocument=TRUST)
        else:
            iam.create_user(UserName=p.name)
    arns: dict[str, str] = {}

    def managed(client: Any, name: str, text: str) -> str:
        arn = str(client.create_policy(PolicyName=name, PolicyDocument=text)["Policy"]["Arn"])
        arns[name] = arn
        return arn

    s3_read = managed(iam, "s3-read", doc("s3:Get*", "s3:ListBucket"))
    iam.attach_role_policy(RoleName="app-reader", PolicyArn=s3_read)
    # Wholly unused (DynamoDB is unused as a whole): the recommendation is to detach it.
    tables = managed(iam, "dynamo-tables", doc("dynamodb:DescribeTable", "dynamodb:ListTables"))
    iam.attach_role_policy(RoleName="app-reader", PolicyArn=tables)
    iam.put_role_policy(
        RoleName="app-reader",
        PolicyName="dynamo",
        PolicyDocument=doc("dynamodb:GetItem", "dynamodb:Query"),
    )
    logs = managed(
        iam,
        "logs-shared",
        doc("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups"),
    )
    iam.attach_role_policy(RoleName="batch", PolicyArn=logs)
    iam.attach_role_policy(RoleName="etl", PolicyArn=logs)
    deploy = managed(iam, "deploy", doc("cloudformation:CreateStack", "cloudformation:DeleteStack"))
    iam.attach_role_policy(RoleName="ci", PolicyArn=deploy)
    iam.create_group(GroupName="devs")
    iam.attach_group_policy(GroupName="devs", PolicyArn=deploy)
    iam.put_role_policy(
        RoleName="ci", PolicyName="notify", PolicyDocument=doc("sns:Publish", "sqs:SendMessage")
    )
    iam.put_user_policy(
        UserName="alice",
        PolicyName="console",
        PolicyDocument=doc("iam:GetUser", "iam:ListUsers"),
    )
    member = member_iam(session, MEMBER)
    member.create_role(RoleName="member-app", AssumeRolePolicyDocument=TRUST)
    queue = managed(member, "member-queue", doc("sqs:ReceiveMessage", "sqs:DeleteMessage"))
    member.attach_role_policy(RoleName="member-app", PolicyArn=queue)
    return arns


def summary_item(p: Principal) -> dict[str, Any]:
    return {
        "analyzedAt": T0,
        "createdAt": T0 - datetime.timedelta(days=3),
        "updatedAt": T0,
        "id": p.finding_id,
        "resource": p.arn,
        "resourceType": "AWS::IAM::Role" if p.kind == "role" else "AWS::IAM::User",
        "resourceOwnerAccount": p.account,
        "status": "ACTIVE",
        "findingType": "UnusedPermission",
    }


def detail_pages(p: Principal) -> list[dict[str, Any]]:
    """GetFindingV2 pages: one entry per page, so that every finding with two services
    takes two pages."""
    entries: list[dict[str, Any]] = []
    for service, actions in p.unused:
        upd: dict[str, Any] = {"serviceNamespace": service}
        if actions is not None:
            upd["actions"] = [
                {"action": a, "lastAccessed": T0 - datetime.timedelta(days=120)} for a in actions
            ]
            upd["lastAccessed"] = T0 - datetime.timedelta(days=120)
        entries.append({"unusedPermissionDetails": upd})
    pages = []
    for i, entry in enumerate(entries):
        page = {**summary_item(p), "findingDetails": [entry]}
        if i + 1 < len(entries):
            page["nextToken"] = f"{p.finding_id}-page-{i + 2}"
        pages.append(page)
    return pages


FILTER = {"status": {"eq": ["ACTIVE"]}, "findingType": {"eq": ["UnusedPermission"]}}


def stub_findings(stub: Any, principals: tuple[Principal, ...] = PRINCIPALS) -> None:
    """Queue ListFindingsV2 (three pages, newest order as the service gives) and the
    GetFindingV2 pages of every finding that ``recommend`` reads (not the denied
    account's), in the order it reads them."""
    items = [summary_item(p) for p in reversed(principals)]
    pages = [items[0:3], items[3:5], items[5:]]
    for i, page in enumerate(pages):
        response: dict[str, Any] = {"findings": page}
        expected: dict[str, Any] = {"analyzerArn": ANALYZER, "filter": FILTER}
        if i + 1 < len(pages):
            response["nextToken"] = f"list-page-{i + 2}"
        if i > 0:
            expected["nextToken"] = f"list-page-{i + 1}"
        stub.add_response("list_findings_v2", response, expected)
    for p in sorted(
        (p for p in principals if p.account != DENIED), key=lambda p: (p.account, p.arn)
    ):
        for i, page in enumerate(detail_pages(p)):
            expected = {"analyzerArn": ANALYZER, "id": p.finding_id}
            if i > 0:
                expected["nextToken"] = f"{p.finding_id}-page-{i + 1}"
            stub.add_response("get_finding_v2", page, expected)


def _step(policy_id: str, action: str, policy: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "policyUpdatedAt": T0,
        "recommendedAction": action,
        "existingPolicyId": policy_id,
    }
    if policy is not None:
        body["recommendedPolicy"] = policy
    return {"unusedPermissionsRecommendedStep": body}


def _compact(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Main", "Effect": "Allow", "Action": list(actions), "Resource": "*"}
            ],
        }
    )


def stub_aws_recommendations(stub: Any, arns: dict[str, str]) -> None:
    """GenerateFindingRecommendation for each one-principal finding, then the polls:
    app-reader IN_PROGRESS then SUCCEEDED over two pages (one step per page); ci
    FAILED; alice SUCCEEDED with a policy that grants a new action; member-app
    SUCCEEDED with a policy that keeps an unused action."""
    order = [PRINCIPALS[i] for i in (0, 2, 4, 5)]
    for p in order:
        stub.add_response(
            "generate_finding_recommendation", {}, {"analyzerArn": ANALYZER, "id": p.finding_id}
        )
    base = {"recommendationType": "UnusedPermissionRecommendation", "startedAt": T0}

    def poll(p: Principal, response: dict[str, Any], token: str | None = None) -> None:
        expected = {"analyzerArn": ANALYZER, "id": p.finding_id}
        if token:
            expected["nextToken"] = token
        stub.add_response(
            "get_finding_recommendation", {**base, "resourceArn": p.arn, **response}, expected
        )

    app, ci, alice, member = order
    poll(app, {"status": "IN_PROGRESS"})
    # AWS keeps only the used actions it saw, a narrower policy than "original minus
    # the unused"; and it detaches the inline policy whose whole service is unused.
    poll(
        app,
        {
            "status": "SUCCEEDED",
            "completedAt": T0,
            "recommendedSteps": [
                _step(arns["s3-read"], "CREATE_POLICY", _compact("s3:GetObject", "s3:ListBucket"))
            ],
            "nextToken": "rec-page-2",
        },
    )
    poll(
        app,
        {
            "status": "SUCCEEDED",
            "completedAt": T0,
            "recommendedSteps": [_step("dynamo", "DETACH_POLICY")],
        },
        "rec-page-2",
    )
    poll(
        ci,
        {
            "status": "FAILED",
            "completedAt": T0,
            "error": {"code": "SERVICE_ERROR", "message": "Unable to generate a recommendation."},
        },
    )
    # For alice, a policy that grants an action the original never did.
    poll(
        alice,
        {
            "status": "SUCCEEDED",
            "completedAt": T0,
            "recommendedSteps": [
                _step(
                    "console",
                    "CREATE_POLICY",
                    _compact("iam:GetUser", "iam:ListUsers", "iam:PassRole"),
                )
            ],
        },
    )
    poll(
        member,
        {
            "status": "SUCCEEDED",
            "completedAt": T0,
            "recommendedSteps": [
                _step(
                    arns["member-queue"],
                    "CREATE_POLICY",
                    _compact("sqs:ReceiveMessage", "sqs:DeleteMessage"),
                )
            ],
        },
    )


def readme_policies(readme: Any) -> list[str]:
    """The JSON policies of the README's "From an AWS account" section, in order."""
    text = readme.read_text("utf-8")
    section = text.split("\n## From an AWS account\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("\n```", 1)[0] for block in section.split("```json\n")[1:]]


# AWS documents that these operations are authorized as another action.
AUTHORIZED_AS = {"ListFindingsV2": "ListFindings", "GetFindingV2": "GetFinding"}


def uncovered(policy_text: str, calls: list[tuple[str, str, str]]) -> list[str]:
    """The recorded calls that ``policy_text`` does not allow, checked by iamrefine's
    reference evaluator. GetCallerIdentity needs no permission (AWS documents it so)."""
    from iamrefine.parse import parse_policy
    from iamrefine.reference import evaluate

    policy = parse_policy(policy_text, "README.md")
    return sorted(
        {
            f"{prefix}:{op} on {resource}"
            for prefix, op, resource in calls
            if (prefix, op) != ("sts", "GetCallerIdentity")
            and not evaluate(policy, f"{prefix}:{AUTHORIZED_AS.get(op, op)}", resource, {}).allowed
        }
    )


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def error_response(url: str, status: int, code: str, message: str) -> Any:
    """An AWS query-protocol (IAM, STS) error as botocore receives it over HTTP."""
    from botocore.awsrequest import AWSResponse

    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>4c8a1f0e-0d5b-4a57-9d6e-2f1a7b3c9e10</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse(url, status, {"Content-Type": "text/xml"}, _Raw(body))


def deny_assume_role(client: Any, account: str) -> list[str]:
    """Make STS deny AssumeRole into ``account`` (through ``client``); the denied
    role ARNs are listed in the returned list as they are asked for."""
    asked: list[str] = []

    def handler(request: Any, **_: Any) -> Any:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if f"%3A{account}%3A" in body or f":{account}:" in body:
            asked.append(account)
            return error_response(
                request.url,
                403,
                "AccessDenied",
                f"User: arn:aws:iam::{HOME}:user/auditor is not authorized to perform: "
                f"sts:AssumeRole on resource: arn:aws:iam::{account}:role/{ROLE_NAME}",
            )
        return None

    client.meta.events.register_first("before-send.sts.AssumeRole", handler)
    return asked


def throttle(client: Any, operation: str, times: int, match: str = "") -> list[int]:
    """Make the first ``times`` sends of ``operation`` whose body holds ``match`` answer
    HTTP 400 Throttling; the returned list counts every such send."""
    sends: list[int] = []

    def handler(request: Any, **_: Any) -> Any:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if match not in body:
            return None
        sends.append(1)
        if len(sends) <= times:
            return error_response(request.url, 400, "Throttling", "Rate exceeded")
        return None

    client.meta.events.register_first(f"before-send.iam.{operation}", handler)
    return sends


def deny(client: Any, operation: str, match: str) -> None:
    """Make every IAM ``operation`` whose parameters mention ``match`` fail with
    AccessDenied, before moto sees it: at ``before-call``, where the first answer wins
    (``before-send`` handlers all run, so moto would still make the change)."""

    def handler(params: dict[str, Any], **_: Any) -> Any:
        if match not in json.dumps(params.get("body", params)):
            return None
        from botocore.awsrequest import AWSResponse

        error = {"Code": "AccessDenied", "Message": f"not allowed: {match}", "Type": "Sender"}
        http = AWSResponse("https://iam.amazonaws.com/", 403, {}, _Raw(b""))
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}

    client.meta.events.register_first(f"before-call.iam.{operation}", handler)


CALLS: list[tuple[str, str, str]] = []
"""The calls made by the connector's clients in the current :func:`world`: the IAM
action prefix (the service's signing name), the operation and the role ARN of an
AssumeRole (else ``*``)."""


def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
    CALLS.append((model.service_model.signing_name, model.name, params.get("RoleArn", "*")))


@contextmanager
def world(*, stub_list: bool = True) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """Inside ``mock_aws``: a connector on a fresh moto organization, its Access
    Analyzer Stubber (active; the findings queued when ``stub_list``) and the managed
    policies' ARNs. The caller sets :func:`environment` first."""
    import boto3
    from botocore.stub import Stubber
    from moto import mock_aws

    from iamrefine.aws.clients import Connector

    with mock_aws():
        session = boto3.Session(region_name=REGION)
        arns = build_iam(session)
        CALLS.clear()
        # Clients copy the session's handlers when they are made: only the
        # connector's clients, made from here on, are recorded.
        session.events.register("before-parameter-build", _record)
        connector = Connector(session, role_name=ROLE_NAME, max_attempts=3)
        deny_assume_role(connector.client("sts"), DENIED)
        with Stubber(connector.analyzer()) as stub:
            if stub_list:
                stub_findings(stub)
            yield connector, stub, arns


def main(argv: list[str]) -> int:
    import time

    from iamrefine.aws.recommend import RecommendOptions, recommend

    out_dir = argv[0]
    delay = float(argv[1]) if len(argv) > 1 else 0.0
    os.environ.update(environment())

    def pause(result: Any) -> None:
        print(f"done {result.folder}", flush=True)
        time.sleep(delay)

    with world() as (connector, _, _):
        report = recommend(
            connector,
            out_dir,
            options=RecommendOptions(analyzer_arn=ANALYZER),
            on_result=pause,
        )
    print(report.summary_line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
