"""``iamrefine refine`` and ``iamrefine explain`` through the typer app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cases import WORKED, WORKED_S3_EXPECTED
from iamrefine.api import refine_and_prove
from iamrefine.cli.app import app

EXAMPLE = WORKED
S3_EXPECTED = WORKED_S3_EXPECTED


@pytest.fixture
def work(tmp_path: Path) -> Path:
    for name in ("policy.json", "unused.json"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    return tmp_path


def _run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_refine_prints_the_refined_policy(work: Path) -> None:
    code, out, err = _run("refine", work / "policy.json", "--unused", work / "unused.json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["Statement"][0]["Action"] == ["lambda:Invoke*"]
    assert doc["Statement"][1]["Action"] == S3_EXPECTED
    assert out.startswith('{\n  "Version": "2012-10-17"')
    # Only the proof's verdict goes to stderr: there is no warning.
    assert [ln.split(" in ")[0] for ln in err.splitlines()] == [
        f"{work / 'policy.json'}: note: PROVED"
    ]


def test_refine_diff_and_recommendation(work: Path) -> None:
    code, out, _ = _run("refine", work / "policy.json", "-u", work / "unused.json", "-f", "diff")
    assert code == 0
    assert out.startswith("--- a/policy.json\n+++ b/policy.json\n")
    assert '-        "s3:Get*",\n' in out
    code, out, _ = _run(
        "refine",
        work / "policy.json",
        "--unused",
        work / "unused.json",
        "--format",
        "recommendation",
        "--policy-id",
        "arn:aws:iam::123456789012:policy/blog",
    )
    assert code == 0
    rec = json.loads(out)
    step = rec["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    assert step["existingPolicyId"] == "arn:aws:iam::123456789012:policy/blog"
    assert json.loads(step["recommendedPolicy"])["Statement"][1]["Action"] == S3_EXPECTED


def test_refine_writes_output_atomically(work: Path) -> None:
    target = work / "out" / "refined.json"
    target.parent.mkdir()
    code, out, err = _run("refine", work / "policy.json", "-u", work / "unused.json", "-o", target)
    assert code == 0, err
    assert out == ""
    _, expected, _ = _run("refine", work / "policy.json", "-u", work / "unused.json")
    assert target.read_text() == expected
    assert sorted(p.name for p in target.parent.iterdir()) == ["refined.json"]


@pytest.mark.parametrize("victim", ["policy.json", "unused.json"])
def test_refine_refuses_to_overwrite_an_input(work: Path, victim: str) -> None:
    before = (work / victim).read_bytes()
    code, out, err = _run(
        "refine", work / "policy.json", "-u", work / "unused.json", "-o", work / victim
    )
    assert code == 2
    assert "refusing to overwrite the input file" in err
    assert (work / victim).read_bytes() == before
    assert out == ""


def test_refine_never_overwrites_the_policy(work: Path) -> None:
    # There is no option to replace an input: `--force` is gone.
    before = (work / "policy.json").read_bytes()
    code, _, err = _run(
        "refine",
        work / "policy.json",
        "-u",
        work / "unused.json",
        "-o",
        work / "policy.json",
        "--force",
    )
    assert code == 2 and "--force" in err
    assert (work / "policy.json").read_bytes() == before


def test_refine_warnings_go_to_stderr(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(
        '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n      "Effect": "Allow",\n'
        '      "Action": ["s3:GetObjekt", "s3:PutObject"],\n      "Resource": "*"\n    }\n'
        "  ]\n}\n"
    )
    unused = tmp_path / "u.txt"
    unused.write_text("s3:PutObject\ns3:NoSuchAction\n")
    code, out, err = _run("refine", policy, "--unused", unused)
    assert code == 0
    assert json.loads(out)["Statement"][0]["Action"] == ["s3:GetObjekt"]
    lines = err.splitlines()
    assert (
        f"{policy}:6:18: warning: unknown action `s3:GetObjekt` (not in the catalog); "
        "kept as written" in lines
    )
    assert any(
        ln.startswith(f"{unused}:2: warning: unknown action `s3:NoSuchAction`") for ln in lines
    )


def test_refine_detach_writes_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(
        '{"Statement": {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}}'
    )
    unused = tmp_path / "u.txt"
    unused.write_text("s3:PutObject\n")
    target = tmp_path / "out.json"
    code, out, err = _run("refine", policy, "-u", unused, "-o", target)
    assert code == 0
    assert "detach the policy" in err
    assert not target.exists() and out == ""
    code, out, _ = _run("refine", policy, "-u", unused, "-f", "recommendation")
    step = json.loads(out)["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    assert step["recommendedAction"] == "DETACH_POLICY"


def test_refine_options(work: Path, tmp_path: Path) -> None:
    code, out, _ = _run(
        "refine", work / "policy.json", "-u", work / "unused.json", "--granularity", "char"
    )
    assert code == 0
    assert "s3:GetAcces*" in json.loads(out)["Statement"][1]["Action"]
    catalog = tmp_path / "catalog.txt"
    catalog.write_text("s3:GetObject\ns3:GetObjectAcl\ns3:PutObject\n")
    policy = tmp_path / "star.json"
    policy.write_text('{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
    unused = tmp_path / "u.json"
    unused.write_text('["s3:PutObject"]')
    code, out, err = _run(
        "refine", policy, "-u", unused, "--catalog", catalog, "--strategy", "notaction"
    )
    assert code == 0, err
    assert json.loads(out)["Statement"][0] == {
        "Effect": "Allow",
        "NotAction": "s3:PutObject",
        "Resource": "*",
    }


def test_refine_bad_inputs_exit_2(work: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Statement": [')
    code, out, err = _run("refine", bad, "-u", work / "unused.json")
    assert code == 2 and out == ""
    assert err.startswith(f"{bad}:")
    code, _, err = _run("refine", work / "policy.json", "-u", tmp_path / "missing.json")
    assert code == 2 and "cannot read unused-actions file" in err
    code, _, err = _run("refine", work / "policy.json", "-u", work / "unused.json", "-f", "yaml")
    assert code == 2


def test_explain_prints_and_draws(work: Path) -> None:
    svg, dot = work / "tree.svg", work / "tree.dot"
    code, out, err = _run(
        "explain",
        work / "policy.json",
        "--unused",
        work / "unused.json",
        "--svg",
        svg,
        "--dot",
        dot,
    )
    assert code == 0, err
    assert "s3:GetAccelerate*  unsafe because of `s3:GetAccelerateConfiguration`" in out
    assert svg.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
    assert dot.read_text().startswith("digraph refinement {")
    code, _, err = _run(
        "explain", work / "policy.json", "-u", work / "unused.json", "--svg", work / "policy.json"
    )
    assert code == 2 and "refusing to overwrite" in err


def test_api_returns_the_result_before_output(work: Path) -> None:
    outcome = refine_and_prove(work / "policy.json", work / "unused.json", prove=False)
    assert outcome.result.recommended_action == "CREATE_POLICY"
    assert outcome.warnings == []
    text = outcome.render("recommendation", policy_id="id-1")
    assert text is not None and '"existingPolicyId": "id-1"' in text
