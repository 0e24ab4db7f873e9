"""``aws recommend``: one folder per policy with the inputs as fetched, the proven
refinement, its certificate and recommendation; shared policies; AWS's own
recommendation graded beside ours (``--compare-aws``); a rerun that resumes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aws_world as w
from iamrefine import check
from iamrefine.aws import compare
from iamrefine.aws.layout import Outcome
from iamrefine.aws.recommend import RecommendOptions, RecommendReport, recommend
from iamrefine.verify import Verdict

SECRETS: list[str] = []
RECOMMEND_CALLS: list[tuple[str, str, str]] = []
FAST_POLL = compare.PollOptions(first=0.01, factor=2.0, ceiling=0.05, deadline=5.0)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in w.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _by_folder(report: RecommendReport) -> dict[str, Any]:
    return {r.folder: r for r in report.results}


@pytest.fixture(scope="module")
def compared(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RecommendReport, Path]]:
    """One run with --compare-aws, shared by the tests that read its results."""
    out = tmp_path_factory.mktemp("aws") / "out"
    mp = pytest.MonkeyPatch()
    for key, value in w.environment().items():
        mp.setenv(key, value)
    mp.delenv("AWS_PROFILE", raising=False)
    try:
        with w.world() as (connector, stub, arns):
            w.stub_aws_recommendations(stub, arns)
            report = recommend(
                connector,
                out,
                options=RecommendOptions(analyzer_arn=w.ANALYZER, compare_aws=True, poll=FAST_POLL),
            )
            stub.assert_no_pending_responses()
            RECOMMEND_CALLS.extend(w.CALLS)
            # The member account's credentials, assumed through STS during the run.
            frozen = connector.iam(w.MEMBER)._request_signer._credentials.get_frozen_credentials()
            SECRETS.extend([frozen.access_key, frozen.secret_key, frozen.token])
        yield report, out
    finally:
        mp.undo()


def test_every_policy_gets_its_outcome(compared: tuple[RecommendReport, Path]) -> None:
    report, _ = compared
    outcomes = {f: r.outcome for f, r in _by_folder(report).items()}
    assert outcomes == {
        f"{w.HOME}/role-app-reader/inline-dynamo": Outcome.DETACHED,
        f"{w.HOME}/role-app-reader/managed-dynamo-tables": Outcome.DETACHED,
        f"{w.HOME}/role-app-reader/managed-s3-read": Outcome.REFINED,
        f"{w.HOME}/role-ci/inline-notify": Outcome.REFINED,
        f"{w.HOME}/role-ci/managed-deploy": Outcome.SKIPPED,
        f"{w.HOME}/shared/managed-logs-shared": Outcome.REFINED,
        f"{w.HOME}/user-alice/inline-console": Outcome.UNCHANGED,
        f"{w.MEMBER}/role-member-app/managed-member-queue": Outcome.REFINED,
    }
    assert all(r.verdict == "PROVED" for r in report.results if r.outcome is not Outcome.SKIPPED)
    [failure] = report.failures
    assert failure.account == w.DENIED and failure.code == "AccessDenied"
    assert report.failed  # a failed call is a nonzero exit


def test_folder_holds_inputs_results_and_a_valid_certificate(
    compared: tuple[RecommendReport, Path],
) -> None:
    _, out = compared
    folder = out / w.HOME / "role-app-reader" / "managed-s3-read"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "aws-recommendation.json",
        "certificate.json",
        "done",
        "finding.json",
        "policy.json",
        "recommendation.json",
        "refined.json",
        "source.json",
    ]
    assert (folder / "policy.json").read_text() == w.doc("s3:Get*", "s3:ListBucket")
    finding = json.loads((folder / "finding.json").read_text())
    assert finding["id"] == w.PRINCIPALS[0].finding_id and len(finding["findingDetails"]) == 2
    rec = json.loads((folder / "recommendation.json").read_text())
    step = rec["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    assert rec["status"] == "SUCCEEDED" and step["recommendedAction"] == "CREATE_POLICY"
    assert step["existingPolicyId"] == f"arn:aws:iam::{w.HOME}:policy/s3-read"
    # Redone offline from the fetched inputs, the refinement checks out.
    report = check(folder / "policy.json", folder / "refined.json", folder / "finding.json")
    assert report.verdict is Verdict.PROVED
    from iamrefine.certificate import verify_certificate

    assert verify_certificate(folder / "certificate.json").valid


def test_shared_policy_is_refined_for_the_intersection(
    compared: tuple[RecommendReport, Path],
) -> None:
    report, out = compared
    folder = out / w.HOME / "shared" / "managed-logs-shared"
    # batch leaves DescribeLogGroups and PutLogEvents unused, etl only DescribeLogGroups.
    assert json.loads((folder / "unused.json").read_text()) == ["logs:DescribeLogGroups"]
    refined = json.loads((folder / "refined.json").read_text())
    assert refined["Statement"][0]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert sorted(p.name for p in (folder / "findings").iterdir()) == [
        "role-batch.json",
        "role-etl.json",
    ]
    source = json.loads((folder / "source.json").read_text())
    assert [p["name"] for p in source["principals"]] == ["batch", "etl"]
    result = _by_folder(report)[f"{w.HOME}/shared/managed-logs-shared"]
    assert any("not compared" in x for x in result.warnings)
    skipped = _by_folder(report)[f"{w.HOME}/role-ci/managed-deploy"]
    assert "group/devs" in skipped.reason and not (out / skipped.folder).exists()


def test_aws_recommendations_are_graded(compared: tuple[RecommendReport, Path]) -> None:
    report, out = compared
    results = _by_folder(report)
    s3 = results[f"{w.HOME}/role-app-reader/managed-s3-read"].aws
    assert s3 is not None and s3.verdict == "under-permissive"
    assert s3.counterexamples and s3.chars is not None
    assert s3.chars < results[f"{w.HOME}/role-app-reader/managed-s3-read"].refined_chars
    # AWS gave no step for this policy, which keeps actions the finding lists as unused.
    tables = results[f"{w.HOME}/role-app-reader/managed-dynamo-tables"].aws
    assert tables is not None and tables.verdict == "over-permissive"
    dynamo = results[f"{w.HOME}/role-app-reader/inline-dynamo"].aws
    assert dynamo is not None and (dynamo.verdict, dynamo.chars) == ("exact", 0)
    notify = results[f"{w.HOME}/role-ci/inline-notify"].aws
    assert notify is not None and notify.status == "FAILED" and notify.verdict is None
    assert "SERVICE_ERROR" in notify.error
    alice = results[f"{w.HOME}/user-alice/inline-console"].aws
    assert alice is not None and alice.verdict == "escalation"
    assert "iam:PassRole" in json.dumps(alice.counterexamples)
    member = results[f"{w.MEMBER}/role-member-app/managed-member-queue"].aws
    assert member is not None and member.verdict == "over-permissive"
    assert "sqs:DeleteMessage" in json.dumps(member.counterexamples)
    saved = json.loads(
        (
            out / w.MEMBER / "role-member-app" / "managed-member-queue" / "aws-recommendation.json"
        ).read_text()
    )
    assert saved["status"] == "SUCCEEDED" and len(saved["recommendedSteps"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    by_folder = {p["folder"]: p for p in summary["policies"]}
    assert (
        by_folder[f"{w.MEMBER}/role-member-app/managed-member-queue"]["aws"]["verdict"]
        == "over-permissive"
    )
    assert (
        summary["summary"]["failed_calls"] == 1 and summary["failures"][0]["code"] == "AccessDenied"
    )


def test_no_credentials_in_any_output(compared: tuple[RecommendReport, Path]) -> None:
    _, out = compared
    assert len(SECRETS) == 3 and all(len(x) >= 16 for x in SECRETS)
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not any(secret in text for secret in SECRETS), path


@pytest.mark.slow
def test_rerun_resumes_and_redoes_only_a_changed_policy(aws_env: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with w.world() as (connector, stub, _):
        # Two worker processes prove the policies; every AWS call stays in this one.
        first = recommend(connector, out, options=RecommendOptions(analyzer_arn=w.ANALYZER, jobs=2))
        before = {r.folder: r.to_json() for r in first.results}
        connector.iam(w.HOME).put_role_policy(
            RoleName="ci", PolicyName="notify", PolicyDocument=w.doc("sqs:SendMessage")
        )
        w.stub_findings(stub)
        second = recommend(connector, out, options=RecommendOptions(analyzer_arn=w.ANALYZER))
        stub.assert_no_pending_responses()
    redone = {
        r.folder for r in second.results if not r.resumed and r.outcome is not Outcome.SKIPPED
    }
    assert redone == {f"{w.HOME}/role-ci/inline-notify"}
    notify = _by_folder(second)[f"{w.HOME}/role-ci/inline-notify"]
    assert notify.outcome is Outcome.DETACHED
    for r in second.results:
        if r.resumed:
            kept = {k: v for k, v in r.to_json().items() if k not in ("resumed", "seconds")}
            assert kept == {
                k: v for k, v in before[r.folder].items() if k not in ("resumed", "seconds")
            }
    assert not (out / w.HOME / "role-ci" / "inline-notify" / "refined.json").exists()


def test_wait_gives_up_at_the_deadline(aws_env: None) -> None:
    with w.world(stub_list=False) as (connector, stub, _):
        p = w.PRINCIPALS[0]
        for _ in range(3):
            stub.add_response(
                "get_finding_recommendation",
                {
                    "status": "IN_PROGRESS",
                    "startedAt": w.T0,
                    "resourceArn": p.arn,
                    "recommendationType": "UnusedPermissionRecommendation",
                },
                {"analyzerArn": w.ANALYZER, "id": p.finding_id},
            )
        now = [0.0]
        slept: list[float] = []

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            now[0] += seconds

        found = compare.wait(
            connector.analyzer(),
            w.ANALYZER,
            p.finding_id,
            compare.PollOptions(first=1.0, factor=2.0, ceiling=10.0, deadline=4.0),
            sleep=sleep,
            clock=lambda: now[0],
        )
        assert found["status"] == compare.TIMED_OUT
        assert slept == [1.0, 2.0]
        stub.assert_no_pending_responses()


def test_readme_policy_allows_every_call_of_recommend(
    compared: tuple[RecommendReport, Path], repo_dir: Path
) -> None:
    from iamrefine.catalog import load_catalog
    from iamrefine.parse import parse_policy

    policies = w.readme_policies(repo_dir / "README.md")
    assert len(policies) == 2
    catalog = load_catalog()
    for text in policies:
        for statement in parse_policy(text, "README.md").statements:
            for action in statement.action_element.values:
                assert action.lower() in catalog.by_lower, action
    operations = {op for _, op, _ in RECOMMEND_CALLS}
    assert {
        "ListFindingsV2",
        "GetFindingV2",
        "GetFindingRecommendation",
        "AssumeRole",
    } <= operations
    assert w.uncovered(policies[0], RECOMMEND_CALLS) == []
    # The check can fail: without the AssumeRole statement the member account is not reached.
    narrowed = json.loads(policies[0])
    narrowed["Statement"] = narrowed["Statement"][:-1]
    assert w.uncovered(json.dumps(narrowed), RECOMMEND_CALLS) == [
        f"sts:AssumeRole on arn:aws:iam::{acct}:role/{w.ROLE_NAME}" for acct in (w.MEMBER, w.DENIED)
    ]


def test_a_succeeded_recommendation_without_a_step_keeps_the_policy() -> None:
    from iamrefine.catalog import load_catalog
    from iamrefine.parse import parse_policy
    from iamrefine.unused import UnusedSet

    catalog = load_catalog()
    original = parse_policy(w.doc("iam:GetUser", "iam:ListUsers"), "policy.json")
    nothing = {"status": "SUCCEEDED", "recommendedSteps": []}
    # Nothing unused in the policy: keeping it is exact.
    kept = compare.grade(
        original, nothing, UnusedSet.from_names(["s3:GetObject"], catalog), catalog, timeout=30
    )
    from iamrefine.write import non_whitespace_length

    text = w.doc("iam:GetUser", "iam:ListUsers")
    assert (kept.verdict, kept.chars) == ("exact", non_whitespace_length(text))
    # An unused action in it: keeping it is over-permissive.
    kept = compare.grade(
        original, nothing, UnusedSet.from_names(["iam:GetUser"], catalog), catalog, timeout=30
    )
    assert kept.verdict == "over-permissive" and kept.counterexamples


@pytest.mark.slow
def test_a_comparison_aws_could_not_give_is_tried_again(aws_env: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = RecommendOptions(analyzer_arn=w.ANALYZER, compare_aws=True, poll=FAST_POLL)
    with w.world() as (connector, stub, arns):
        for p in (w.PRINCIPALS[i] for i in (0, 2, 4, 5)):
            stub.add_client_error(
                "generate_finding_recommendation",
                service_error_code="AccessDeniedException",
                service_message="not authorized to perform GenerateFindingRecommendation",
                http_status_code=403,
                expected_params={"analyzerArn": w.ANALYZER, "id": p.finding_id},
            )
        first = recommend(connector, out, options=options)
        assert [f.operation for f in first.failures].count("GenerateFindingRecommendation") == 4
        assert all(r.aws is None for r in first.results)
        w.stub_findings(stub)
        w.stub_aws_recommendations(stub, arns)
        second = recommend(connector, out, options=options)
        stub.assert_no_pending_responses()
    results = _by_folder(second)
    shared = results[f"{w.HOME}/shared/managed-logs-shared"]
    assert shared.resumed and shared.aws is None
    redone = [
        r for r in second.results if r.outcome is not Outcome.SKIPPED and "/shared/" not in r.folder
    ]
    assert redone and all(not r.resumed and r.aws is not None for r in redone)
