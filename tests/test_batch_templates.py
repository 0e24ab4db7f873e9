"""``refine-batch`` over cases whose policy file is a CloudFormation template or a
Terraform plan: every policy the file holds is refined and proved, each into its own
outputs, and a template gets a copy with every refined document written back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from iamrefine.catalog import load_catalog
from iamrefine.harness.batch import refine_batch
from iamrefine.parse import load_policy
from iamrefine.refine import refine_policy
from iamrefine.render import render_policy
from iamrefine.sources import read_document
from iamrefine.unused import load_unused

pytest.importorskip("cfnlint")

IAC = Path(__file__).parent / "fixtures" / "iac"

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
# a comment that must survive
Resources:
  Reader:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action:
              - s3:Get*
              - s3:ListBucket
            Resource: !Sub "arn:aws:s3:::${Bucket}/*"
  Worker:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
      Policies:
        - PolicyName: invoke
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [lambda:Invoke*, lambda:GetFunction]
                Resource: "*"
        - PolicyName: untouched
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: sqs:SendMessage
                Resource: "*"
"""
UNUSED = ["s3:GetObjectAcl", "s3:GetBucketTagging", "lambda:InvokeAsync"]


def _case(corpus: Path, name: str, file: str, text: str, unused: list[str]) -> Path:
    folder = corpus / name
    folder.mkdir(parents=True)
    (folder / file).write_text(text)
    (folder / "unused.json").write_text(json.dumps(unused))
    return folder


def _expected(source_policy: object, unused_path: Path) -> str:
    catalog = load_catalog()
    return render_policy(
        refine_policy(source_policy, load_unused(unused_path, catalog), catalog)  # type: ignore[arg-type]
    )


def test_every_policy_of_a_template_is_refined_and_written_back(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    case = _case(corpus, "stack", "template.yaml", TEMPLATE, UNUSED)
    out = tmp_path / "out"
    report = refine_batch(corpus, out)
    (result,) = report.cases
    assert (result.outcome, result.verdict) == ("refined", "PROVED"), result.reason
    folder = out / "stack"
    names = sorted(p.name for p in folder.iterdir())
    worker = [n for n in names if n.startswith("Worker_invoke-")]
    assert {n.rsplit(".", 2)[-2] for n in worker} == {"refined", "recommendation"}
    assert "Reader.refined.json" in names and "refined.yaml" in names

    template = read_document(case / "template.yaml")
    written = read_document(folder / "refined.yaml")
    assert written.ids == template.ids
    stems = {"Reader": "Reader", "Worker/invoke": worker[0].split(".")[0]}
    for policy_id, stem in stems.items():
        original = template.select(policy_id).policy
        expected = _expected(original, case / "unused.json")
        assert (folder / f"{stem}.refined.json").read_text() == expected
        assert written.select(policy_id).policy == load_policy(folder / f"{stem}.refined.json")
        assert written.select(policy_id).policy != original
    untouched = template.select("Worker/untouched").policy
    assert written.select("Worker/untouched").policy == untouched
    text = (folder / "refined.yaml").read_text()
    assert "# a comment that must survive" in text
    assert '!Sub "arn:aws:s3:::${Bucket}/*"' in text
    rec = json.loads((folder / "Reader.recommendation.json").read_text())
    step = rec["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    assert step["existingPolicyId"] == "Reader"
    assert (case / "template.yaml").read_text() == TEMPLATE

    again = refine_batch(corpus, out)
    assert [c.resumed for c in again.cases] == [True]

    # Drop a policy from the template: its outputs go, the others are redone.
    (case / "template.yaml").write_text(TEMPLATE.split("  Worker:")[0])
    third = refine_batch(corpus, out)
    assert not third.cases[0].resumed and third.cases[0].outcome == "refined"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Reader.recommendation.json",
        "Reader.refined.json",
        "done",
        "refined.yaml",
    ]


def test_every_policy_of_a_terraform_plan_is_refined(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    plan = (IAC / "plan.json").read_text()
    case = _case(corpus, "plan", "plan.json", plan, ["s3:GetObjectAcl", "s3:PutObject"])
    out = tmp_path / "out"
    (result,) = refine_batch(corpus, out).cases
    assert (result.outcome, result.verdict) == ("refined", "PROVED"), result.reason
    document = read_document(case / "plan.json")
    names = sorted(p.name for p in (out / "plan").iterdir())
    refined = [n for n in names if n.endswith(".refined.json")]
    assert len(refined) == len(document.ids) >= 3
    assert not any(n.startswith("refined.") for n in names)  # a plan is not written back
    # Ids made only of safe characters name their outputs as they are.
    assert {n.removesuffix(".refined.json") for n in refined} == set(document.ids)
    for source in document.all():
        mine = out / "plan" / f"{source.id}.refined.json"
        assert mine.read_text() == _expected(source.policy, case / "unused.json")
    assert any("unknown string" in w for w in result.warnings)


def test_a_bad_policy_in_a_template_fails_the_case_with_its_position(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    bad = TEMPLATE.replace("lambda:GetFunction]", "!Ref Fn]")
    _case(corpus, "bad", "template.yaml", bad, UNUSED)
    (result,) = refine_batch(corpus, tmp_path / "out").cases
    assert result.outcome == "failed"
    line = bad.splitlines().index("                Action: [lambda:Invoke*, !Ref Fn]") + 1
    assert f"template.yaml:{line}:" in result.reason and "error:" in result.reason
    assert sorted(p.name for p in (tmp_path / "out" / "bad").iterdir()) == ["error.json"]


def test_a_case_with_two_policy_files_is_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from iamrefine.cli.app import app

    corpus = tmp_path / "corpus"
    case = _case(corpus, "two", "template.yaml", TEMPLATE, UNUSED)
    shutil.copy(IAC / "template.json", case / "policy.json")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["refine-batch", str(corpus), str(out)])
    assert result.exit_code == 2
    assert f"{case}: error: case folder holds `policy.json` and `template.yaml`" in result.stderr
    assert not out.exists()
