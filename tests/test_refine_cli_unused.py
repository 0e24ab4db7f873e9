"""``iamrefine refine`` warns when the unused-actions input changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iamrefine.cli.app import app

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:Get*", "iam:GetUser"], "Resource": "*"}],
}


def _refine(tmp_path: Path, unused: object) -> tuple[int, dict[str, object], list[str], Path]:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY, indent=2))
    path = tmp_path / "unused.json"
    path.write_text(unused if isinstance(unused, str) else json.dumps(unused))
    result = CliRunner().invoke(app, ["refine", str(policy), "--unused", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    warnings = [ln for ln in result.stderr.splitlines() if ": warning: " in ln]
    return result.exit_code, json.loads(result.stdout), warnings, path


@pytest.mark.parametrize("unused", [[], "", {"findingDetails": []}])
def test_empty_unused_input_warns_and_leaves_the_policy(tmp_path: Path, unused: object) -> None:
    code, out, warnings, path = _refine(tmp_path, unused)
    assert code == 0
    assert out == POLICY
    assert warnings == [
        f"{path}: warning: the unused-actions input lists no catalog actions; "
        "the policy is unchanged"
    ]


def test_named_action_the_policy_does_not_allow_warns(tmp_path: Path) -> None:
    code, out, warnings, path = _refine(tmp_path, ["s3:GetObject", "ec2:RunInstances"])
    assert code == 0
    assert out != POLICY
    assert warnings == [
        f"{path}: warning: 1 unused action is not allowed by the policy and changes nothing: "
        "`ec2:RunInstances`"
    ]


def test_whole_service_with_no_allowed_action_warns(tmp_path: Path) -> None:
    finding = {
        "findingDetails": [
            {"unusedPermissionDetails": {"serviceNamespace": "ec2"}},
            {"unusedPermissionDetails": {"serviceNamespace": "iam"}},
        ]
    }
    code, out, warnings, path = _refine(tmp_path, finding)
    assert code == 0
    # `iam:GetUser` is removed; the other unused iam actions, never allowed, are not listed.
    assert out["Statement"][0]["Action"] == ["s3:Get*"]  # type: ignore[index]
    assert warnings == [
        f"{path}: warning: 1 unused service given whole has no action that the policy "
        "allows and changes nothing: `ec2`"
    ]


def test_no_warning_when_every_unused_action_is_allowed(tmp_path: Path) -> None:
    code, out, warnings, _ = _refine(tmp_path, "s3:GetObject\niam:GetUser\n")
    assert code == 0
    assert out != POLICY
    assert warnings == []
