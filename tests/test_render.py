"""The output formats: policy text, unified diff, and the recommendation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.parse import load_policy, parse_policy
from iamrefine.refine import RefineResult, refine_policy
from iamrefine.render import (
    NO_CHANGE_CODE,
    recommendation,
    render,
    render_diff,
    render_policy,
    render_recommendation,
)
from iamrefine.unused import UnusedSet, load_unused

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "access-analyzer-blog"
CAT = Catalog.from_names(
    ["s3:GetObject", "s3:GetObjectAcl", "s3:PutObject", "iam:GetUser"], source="t"
)


def _refine(text: str, unused: list[str]) -> RefineResult:
    policy = parse_policy(text, "p.json")
    return refine_policy(policy, UnusedSet.from_names(unused, CAT), CAT)


@pytest.fixture(scope="module")
def example() -> RefineResult:
    catalog = load_catalog()
    policy = load_policy(EXAMPLE / "policy.json")
    return refine_policy(policy, load_unused(EXAMPLE / "unused.json", catalog), catalog)


def test_policy_keeps_the_input_layout() -> None:
    text = (
        '{\n    "Version": "2012-10-17",\n    "Statement": {"Effect": "Allow", '
        '"Action": ["s3:*"], "Resource": "*"}\n}'
    )
    result = _refine(text, ["s3:PutObject"])
    out = render_policy(result)
    assert out is not None
    assert out.startswith('{\n    "Version"')
    assert not out.endswith("\n")
    assert json.loads(out)["Statement"]["Action"] == ["s3:Get*"]


def test_policy_of_a_detached_result_is_none() -> None:
    result = _refine(
        '{"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}',
        ["s3:PutObject"],
    )
    assert render_policy(result) is None
    assert render(result, "policy", policy_id="p.json") is None


def test_diff_of_the_worked_example(example: RefineResult) -> None:
    diff = render_diff(example)
    lines = diff.splitlines()
    assert lines[0] == "--- a/policy.json" and lines[1] == "+++ b/policy.json"
    assert '-        "s3:Get*",' in lines
    assert '+        "s3:GetAccess*",' in lines
    assert '-        "lambda:AddPermission",' in lines
    assert '         "lambda:Invoke*"' in lines
    removed = [ln for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    added = [ln for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    assert (len(removed), len(added)) == (9, 9)


def test_diff_is_empty_when_nothing_changes() -> None:
    result = _refine('{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}', [])
    assert render_diff(result) == ""


def test_diff_marks_a_missing_final_newline() -> None:
    text = '{"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}'
    result = _refine(text, ["s3:PutObject"])
    diff = render_diff(result, fromfile="x", tofile="y")
    assert diff.count("\\ No newline at end of file\n") == 2
    assert diff.endswith("\n")


def test_diff_of_a_detached_policy_removes_everything() -> None:
    text = (
        '{\n  "Statement": [\n'
        '    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}\n  ]\n}\n'
    )
    result = _refine(text, ["s3:PutObject"])
    body = render_diff(result).splitlines()[3:]
    assert body and all(line.startswith("-") for line in body)


def test_recommendation_shape(example: RefineResult) -> None:
    rec = recommendation(example, "arn:aws:iam::aws:policy/Example")
    assert rec["recommendationType"] == "UnusedPermissionRecommendation"
    assert rec["status"] == "SUCCEEDED"
    (step,) = rec["recommendedSteps"]
    inner = step["unusedPermissionsRecommendedStep"]
    assert inner["recommendedAction"] == "CREATE_POLICY"
    assert inner["existingPolicyId"] == "arn:aws:iam::aws:policy/Example"
    assert parse_policy(inner["recommendedPolicy"]) == example.policy
    assert "\n" not in inner["recommendedPolicy"]
    assert rec["iamrefine"]["catalog"]["digest"].startswith("sha256:")


def test_recommendation_to_detach() -> None:
    result = _refine(
        '{"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}',
        ["s3:PutObject"],
    )
    rec = recommendation(result, "p")
    inner = rec["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    assert inner == {"recommendedAction": "DETACH_POLICY", "existingPolicyId": "p"}


def test_recommendation_fails_without_anything_to_remove() -> None:
    result = _refine(
        '{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}', ["iam:GetUser"]
    )
    rec = json.loads(render_recommendation(result, "p"))
    assert rec["status"] == "FAILED"
    assert rec["error"]["code"] == NO_CHANGE_CODE
    assert "recommendedSteps" not in rec


def test_recommendation_fails_with_an_explicit_error(example: RefineResult) -> None:
    rec = recommendation(example, "p", error=("PROOF_FAILED", "the proof was refuted"))
    assert rec["status"] == "FAILED"
    assert rec["error"] == {"code": "PROOF_FAILED", "message": "the proof was refuted"}


def test_render_dispatches_and_names_the_diff(example: RefineResult) -> None:
    assert render(example, "diff", policy_id="x.json").startswith("--- a/x.json\n+++ b/x.json")
    text = render(example, "recommendation", policy_id="x.json")
    assert text is not None and json.loads(text)["status"] == "SUCCEEDED"
    with pytest.raises(ValueError, match="unknown output format"):
        render(example, "yaml", policy_id="x")  # type: ignore[arg-type]
