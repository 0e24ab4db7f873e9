"""``aws apply``: a dry run by default; with ``--yes`` only PROVED recommendations of
unchanged policies are applied (moto's IAM); 5 policy versions are refused; every
change is logged and ``--rollback`` restores it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import aws_world as w
from iamrefine.aws import apply as steps
from iamrefine.aws import rollback
from iamrefine.aws.recommend import RecommendOptions, recommend
from iamrefine.cli.app import app


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in w.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def recommended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output of one `recommend` run. Every test rebuilds the same IAM world in a
    fresh moto backend (the same names, documents and version ids), so the fetched
    digests match its live policies until a test changes one."""
    out = tmp_path_factory.mktemp("aws-apply") / "out"
    mp = pytest.MonkeyPatch()
    for key, value in w.environment().items():
        mp.setenv(key, value)
    try:
        with w.world() as (connector, _, _):
            recommend(connector, out, options=RecommendOptions(analyzer_arn=w.ANALYZER))
    finally:
        mp.undo()
    return out


@pytest.fixture
def live(
    aws_env: None, recommended: Path, tmp_path: Path
) -> Iterator[tuple[Any, dict[str, str], Path]]:
    out = tmp_path / "out"
    shutil.copytree(recommended, out)
    with w.world(stub_list=False) as (connector, _, arns):
        yield connector, arns, out


def _apply(out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["aws", "apply", str(out), "--assume-role-name", w.ROLE_NAME, "--region", w.REGION, *extra],
    )
    return result.exit_code, result.stdout + result.stderr


def _state(connector: Any, arns: dict[str, str]) -> dict[str, Any]:
    """Everything apply may touch, as IAM reports it."""
    from iamrefine.aws.policies import Principal, inline_document, managed_document

    iam = connector.iam(w.HOME)
    member = connector.iam(w.MEMBER)
    state: dict[str, Any] = {}
    for name in ("s3-read", "logs-shared", "deploy"):
        versions = iam.list_policy_versions(PolicyArn=arns[name])["Versions"]
        state[name] = (managed_document(iam, arns[name]), len(versions))
    versions = member.list_policy_versions(PolicyArn=arns["member-queue"])["Versions"]
    state["member-queue"] = (managed_document(member, arns["member-queue"]), len(versions))
    app_reader = Principal.from_arn(f"arn:aws:iam::{w.HOME}:role/app-reader")
    state["dynamo"] = iam.list_role_policies(RoleName="app-reader")["PolicyNames"]
    if "dynamo" in state["dynamo"]:
        state["dynamo-doc"] = inline_document(iam, app_reader, "dynamo")
    ci = Principal.from_arn(f"arn:aws:iam::{w.HOME}:role/ci")
    state["notify"] = inline_document(iam, ci, "notify")
    alice = Principal.from_arn(f"arn:aws:iam::{w.HOME}:user/alice")
    state["console"] = inline_document(iam, alice, "console")
    state["attached"] = {
        role: sorted(
            p["PolicyName"]
            for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        )
        for role in ("app-reader", "batch", "etl", "ci")
    }
    return state


def test_dry_run_prints_the_calls_and_changes_nothing(
    live: tuple[Any, dict[str, str], Path],
) -> None:
    connector, arns, out = live
    before = _state(connector, arns)
    code, text = _apply(out)
    assert code == 0, text
    assert "dry run: nothing was changed" in text
    assert f"iam.create_policy_version(PolicyArn='{arns['s3-read']}'" in text
    assert "iam.delete_role_policy(RoleName='app-reader', PolicyName='dynamo')" in text
    assert (
        f"iam.detach_role_policy(RoleName='app-reader', PolicyArn='{arns['dynamo-tables']}')"
        in text
    )
    assert (
        "iam.put_role_policy(RoleName='ci', PolicyName='notify', PolicyDocument=<document sha256:"
        in text
    )
    assert f"{w.MEMBER}: iam.create_policy_version(PolicyArn='{arns['member-queue']}'" in text
    assert "user-alice/inline-console: skipped: unchanged: nothing to apply" in text
    assert _state(connector, arns) == before
    assert not list(out.glob("rollback-*.json"))


def test_apply_then_rollback_restores_everything(
    live: tuple[Any, dict[str, str], Path], repo_dir: Path
) -> None:
    connector, arns, out = live
    before = _state(connector, arns)
    w.CALLS.clear()
    changes = steps.plan(connector, out)
    log = steps.RollbackLog(steps.new_rollback_path(out), out)
    assert steps.execute(connector, changes, log) == []
    apply_calls = list(w.CALLS)
    after = _state(connector, arns)
    folder = out / w.HOME
    refined_s3 = (folder / "role-app-reader" / "managed-s3-read" / "refined.json").read_text()
    assert after["s3-read"] == (("v2", refined_s3), 2)
    refined_logs = (folder / "shared" / "managed-logs-shared" / "refined.json").read_text()
    assert after["logs-shared"] == (("v2", refined_logs), 2)
    assert after["dynamo"] == []
    assert after["notify"] == (folder / "role-ci" / "inline-notify" / "refined.json").read_text()
    member_refined = (
        out / w.MEMBER / "role-member-app" / "managed-member-queue" / "refined.json"
    ).read_text()
    assert after["member-queue"] == (("v2", member_refined), 2)
    # Untouched: the unchanged, and the shared policy that was skipped.
    assert after["console"] == before["console"] and after["deploy"] == before["deploy"]
    [path] = list(out.glob("rollback-*.json"))
    assert path == log.path
    assert after["attached"]["app-reader"] == ["s3-read"]
    assert len(json.loads(path.read_text())["changes"]) == 6

    code, text = _apply(out, "--rollback", str(path))
    assert code == 0 and "would call" in text
    assert _state(connector, arns) == after  # a dry run
    w.CALLS.clear()
    undo = rollback.rollback_plan(connector, path)
    assert [c.status for c in undo] == [steps.Status.APPLY] * 6
    assert rollback.execute_rollback(connector, undo) == []
    rollback_calls = list(w.CALLS)
    assert _state(connector, arns) == before
    # Run again, every change is refused: the policies are no longer as apply left them.
    code, text = _apply(out, "--rollback", str(path), "--yes")
    assert code == 1 and text.count("REFUSED") == 6
    assert _state(connector, arns) == before
    # The README's policy for `aws apply` allows every call that apply and rollback made.
    policy = w.readme_policies(repo_dir / "README.md")[1]
    made = {op for _, op, _ in apply_calls + rollback_calls}
    assert {"CreatePolicyVersion", "DeleteRolePolicy", "PutRolePolicy", "GetPolicy"} <= made
    assert {"SetDefaultPolicyVersion", "DeletePolicyVersion"} <= made
    assert {"DetachRolePolicy", "AttachRolePolicy"} <= made
    assert w.uncovered(policy, apply_calls + rollback_calls) == []


def test_a_policy_changed_since_fetch_is_refused(live: tuple[Any, dict[str, str], Path]) -> None:
    connector, arns, out = live
    iam = connector.iam(w.HOME)
    edited = w.doc("sns:Publish", "sqs:SendMessage", "sqs:ReceiveMessage")
    iam.put_role_policy(RoleName="ci", PolicyName="notify", PolicyDocument=edited)
    iam.create_policy_version(
        PolicyArn=arns["s3-read"], PolicyDocument=w.doc("s3:GetObject"), SetAsDefault=True
    )
    code, text = _apply(out, "--yes")
    assert code == 1
    assert "role-ci/inline-notify: REFUSED: the live policy changed since it was fetched" in text
    assert "managed-s3-read: REFUSED: the live policy changed" in text
    after = _state(connector, arns)
    assert after["notify"] == edited
    assert after["s3-read"] == (("v2", w.doc("s3:GetObject")), 2)
    # The unchanged ones were applied.
    assert after["dynamo"] == []


def test_five_versions_are_refused_and_none_deleted(live: tuple[Any, dict[str, str], Path]) -> None:
    connector, arns, out = live
    iam = connector.iam(w.HOME)
    for i in range(4):
        iam.create_policy_version(
            PolicyArn=arns["s3-read"], PolicyDocument=w.doc(f"s3:GetObjectVersion{i}")
        )
    code, text = _apply(out, "--yes")
    assert code == 1
    assert "already holds 5 versions" in text and "never does" in text
    versions = iam.list_policy_versions(PolicyArn=arns["s3-read"])["Versions"]
    assert len(versions) == 5
    assert next(v for v in versions if v["IsDefaultVersion"])["VersionId"] == "v1"


def test_rollback_refuses_a_policy_changed_after_apply(
    live: tuple[Any, dict[str, str], Path],
) -> None:
    connector, arns, out = live
    code, _ = _apply(out, "--yes")
    assert code == 0
    [log] = list(out.glob("rollback-*.json"))
    iam = connector.iam(w.HOME)
    iam.put_role_policy(
        RoleName="ci", PolicyName="notify", PolicyDocument=w.doc("sns:Publish", "sns:Subscribe")
    )
    code, text = _apply(out, "--rollback", str(log), "--yes")
    assert code == 1
    assert "role-ci/inline-notify: REFUSED: the policy is no longer as `apply` left it" in text
    state = _state(connector, arns)
    assert state["notify"] == w.doc("sns:Publish", "sns:Subscribe")
    assert state["s3-read"][0][0] == "v1"  # the others were rolled back


def test_bad_folders_exit_2(aws_env: None, tmp_path: Path) -> None:
    with w.world(stub_list=False):
        code, text = _apply(tmp_path)
        assert code == 2 and "not an output folder" in text
        bad = tmp_path / "rollback.json"
        bad.write_text('{"kind": "something else"}')
        code, text = _apply(tmp_path, "--rollback", str(bad))
        assert code == 2 and "not a rollback file" in text


@pytest.mark.slow
def test_aws_managed_policy_is_replaced_by_a_copy_and_rolled_back(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # moto loads AWS's managed policies only when asked (it takes a few seconds).
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    aws_arn = "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"
    reader = w.Principal(
        w.HOME,
        "role",
        "reader",
        "7c8eadef-c1f0-4f9c-a3d8-7be0afae9c88",
        (("sqs", ("ListQueues",)),),
    )
    out = tmp_path / "out"
    with w.world(stub_list=False) as (connector, stub, _):
        iam = connector.iam(w.HOME)
        iam.create_role(RoleName="reader", AssumeRolePolicyDocument=w.TRUST)
        iam.attach_role_policy(RoleName="reader", PolicyArn=aws_arn)
        w.stub_findings(stub, (reader,))
        report = recommend(connector, out, options=RecommendOptions(analyzer_arn=w.ANALYZER))
        stub.assert_no_pending_responses()
        [result] = report.results
        assert (result.folder, result.outcome.value) == (
            f"{w.HOME}/role-reader/aws-AmazonSQSReadOnlyAccess",
            "refined",
        )
        refined = (out / result.folder / "refined.json").read_text()
        assert "sqs:ListQueues" not in refined

        def attached() -> list[str]:
            found = iam.list_attached_role_policies(RoleName="reader")["AttachedPolicies"]
            return sorted(p["PolicyArn"] for p in found)

        changes = steps.plan(connector, out)
        log = steps.RollbackLog(steps.new_rollback_path(out), out)
        assert steps.execute(connector, changes, log) == []
        copy = f"arn:aws:iam::{w.HOME}:policy/iamrefine-reader-AmazonSQSReadOnlyAccess"
        assert attached() == [copy]
        version = iam.get_policy(PolicyArn=copy)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=copy, VersionId=version)["PolicyVersion"]
        assert json.loads(document["Document"]) == json.loads(refined)
        undo = rollback.rollback_plan(connector, log.path)
        assert rollback.execute_rollback(connector, undo) == []
        assert attached() == [aws_arn]
        names = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
        assert "iamrefine-reader-AmazonSQSReadOnlyAccess" not in names


def test_an_edited_refined_policy_is_refused(live: tuple[Any, dict[str, str], Path]) -> None:
    connector, arns, out = live
    refined = out / w.HOME / "role-ci" / "inline-notify" / "refined.json"
    # The done marker still says PROVED; apply proves again and finds the grant.
    refined.write_text(w.doc("sns:Publish", "sqs:SendMessage"))
    before = _state(connector, arns)
    code, text = _apply(out, "--yes")
    assert code == 1
    assert (
        "role-ci/inline-notify: REFUSED: the refined policy is not proved against the live "
        "one: over-permissive" in text
    )
    assert _state(connector, arns)["notify"] == before["notify"]


def test_a_failed_call_logs_only_what_was_done(live: tuple[Any, dict[str, str], Path]) -> None:
    from iamrefine.aws.policies import Principal

    connector, arns, out = live
    iam = connector.iam(w.HOME)
    batch, etl = (
        Principal.from_arn(f"arn:aws:iam::{w.HOME}:role/{name}") for name in ("batch", "etl")
    )
    arn = arns["logs-shared"]
    change = steps.Change(
        "shared-detach",
        steps.Status.APPLY,
        steps=[steps.detach_step(w.HOME, batch, arn), steps.detach_step(w.HOME, etl, arn)],
    )
    w.deny(iam, "DetachRolePolicy", '"RoleName": "etl"')
    log = steps.RollbackLog(out / "rollback-test.json", out)
    [failed] = steps.execute(connector, [change], log)
    assert (failed.operation, failed.code) == ("DetachRolePolicy", "AccessDenied")
    assert change.status is steps.Status.FAILED
    assert _state(connector, arns)["attached"]["batch"] == []
    [logged] = json.loads(log.path.read_text())["changes"]
    assert [c["params"]["RoleName"] for c in logged["calls"]] == ["batch"]
    assert [(c["operation"], c["params"]["RoleName"]) for c in logged["undo"]] == [
        ("attach_role_policy", "batch")
    ]
    undo = rollback.rollback_plan(connector, log.path)
    assert rollback.execute_rollback(connector, undo) == []
    attached = _state(connector, arns)["attached"]
    assert attached["batch"] == ["logs-shared"] and attached["etl"] == ["logs-shared"]


def test_a_policy_attached_since_to_another_principal_is_refused(
    live: tuple[Any, dict[str, str], Path],
) -> None:
    connector, arns, out = live
    iam = connector.iam(w.HOME)
    iam.attach_role_policy(RoleName="etl", PolicyArn=arns["s3-read"])
    # A folder that the last run did not write is not applied, whatever it holds.
    ghost = out / w.HOME / "role-ghost" / "managed-s3-read"
    shutil.copytree(out / w.HOME / "role-app-reader" / "managed-s3-read", ghost)
    code, text = _apply(out, "--yes")
    assert code == 1
    assert (
        "role-app-reader/managed-s3-read: REFUSED: the policy is now attached to role/etl too"
        in text
    )
    assert "role-ghost" not in text
    assert _state(connector, arns)["s3-read"][0][0] == "v1"
