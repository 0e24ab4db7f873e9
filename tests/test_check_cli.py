"""``iamrefine check`` and ``iamrefine equiv`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cases import worked_refined_json
from iamrefine.cli.app import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "access-analyzer-blog"
runner = CliRunner()

CATALOG = ["s3:GetObject", "s3:GetObjectAcl", "s3:GetBucketAcl", "s3:PutObject", "iam:GetUser"]


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: Any, resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "catalog": write(tmp_path / "catalog.json", CATALOG),
        "orig": write(tmp_path / "orig.json", doc(allow("s3:Get*"))),
        "good": write(tmp_path / "good.json", doc(allow(["s3:GetObject*"]))),
        "bad": write(tmp_path / "bad.json", doc(allow(["s3:GetObject*", "s3:GetBucketAcl"]))),
        "unused": write(tmp_path / "unused.json", ["s3:GetBucketAcl"]),
    }


def run(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def test_check_proved(files: dict[str, Path]) -> None:
    result = run(
        "check", files["orig"], files["good"], "-u", files["unused"], "--catalog", files["catalog"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("PROVED   exact over the catalog")
    assert lines[1].startswith("PROVED   no escalation for any action string")
    assert lines[-1] == "verdict: PROVED"


def test_check_refuted_in_words(files: dict[str, Path]) -> None:
    result = run(
        "check",
        files["orig"],
        files["bad"],
        "--unused",
        files["unused"],
        "--catalog",
        files["catalog"],
    )
    assert result.exit_code == 1, result.output
    assert "REFUTED  exact over the catalog" in result.output
    assert (
        "counterexample: the refined policy still allows unused `s3:GetBucketAcl` on `*`"
        in result.output
    )
    assert "refined allows it (Allow statement 1 matches)" in result.output
    assert result.output.splitlines()[-1] == "verdict: REFUTED"


def test_check_json(files: dict[str, Path]) -> None:
    result = run(
        "check",
        files["orig"],
        files["bad"],
        "-u",
        files["unused"],
        "--catalog",
        files["catalog"],
        "--json",
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["verdict"] == "REFUTED"
    assert data["original"] == str(files["orig"])
    exact = data["claims"][0]
    assert exact["verdict"] == "REFUTED"
    assert exact["stats"]["classes"] >= 2 and exact["stats"]["queries"] >= 1
    assert exact["counterexample"]["action"] == "s3:GetBucketAcl"
    assert exact["counterexample"]["decisions"]["refined"]["allowed"] is True
    assert data["catalog"]["actions"] == len(CATALOG)


def test_check_accepts_a_recommendation(files: dict[str, Path], tmp_path: Path) -> None:
    detach = {
        "recommendationType": "UnusedPermissionRecommendation",
        "status": "SUCCEEDED",
        "recommendedSteps": [
            {"unusedPermissionsRecommendedStep": {"recommendedAction": "DETACH_POLICY"}}
        ],
    }
    all_unused = write(
        tmp_path / "all.json", ["s3:GetObject", "s3:GetObjectAcl", "s3:GetBucketAcl"]
    )
    rec = write(tmp_path / "rec.json", detach)
    result = run("check", files["orig"], rec, "-u", all_unused, "--catalog", files["catalog"])
    assert result.exit_code == 0, result.output
    result = run("check", files["orig"], rec, "-u", files["unused"], "--catalog", files["catalog"])
    assert result.exit_code == 1
    assert "no longer allows" in result.output
    create = json.loads(json.dumps(detach))
    step = create["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    step["recommendedAction"] = "CREATE_POLICY"
    step["recommendedPolicy"] = json.dumps(doc(allow(["s3:GetObject*"])))
    rec = write(tmp_path / "rec2.json", create)
    result = run("check", files["orig"], rec, "-u", files["unused"], "--catalog", files["catalog"])
    assert result.exit_code == 0, result.output


def test_check_bad_input_exits_2(files: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Version": "2012-10-17", "Statement": [', encoding="utf-8")
    result = run(
        "check", files["orig"], broken, "-u", files["unused"], "--catalog", files["catalog"]
    )
    assert result.exit_code == 2
    assert f"{broken}:" in result.output


def test_check_failed_recommendation_keeps_the_original(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # One rule for reading refiner output (iamrefine.recommendation): FAILED recommends
    # no change, so the policy in force is the original, which still allows the unused.
    failed = write(tmp_path / "failed.json", {"recommendedSteps": [], "status": "FAILED"})
    result = run(
        "check", files["orig"], failed, "-u", files["unused"], "--catalog", files["catalog"]
    )
    assert result.exit_code == 1, result.output
    assert "REFUTED" in result.output
    nothing = write(tmp_path / "none.json", [])
    result = run("check", files["orig"], failed, "-u", nothing, "--catalog", files["catalog"])
    assert result.exit_code == 0, result.output


def test_check_unknown_exits_3(files: dict[str, Path]) -> None:
    result = run(
        "check",
        files["orig"],
        files["good"],
        "-u",
        files["unused"],
        "--catalog",
        files["catalog"],
        "--timeout",
        "0.001",
    )
    assert result.exit_code == 3, result.output
    assert "UNKNOWN" in result.output and "reason:" in result.output


def test_check_worked_example_with_the_default_catalog(tmp_path: Path) -> None:
    refined = write(tmp_path / "refined.json", worked_refined_json())
    result = run("check", EXAMPLE / "policy.json", refined, "-u", EXAMPLE / "unused.json")
    assert result.exit_code == 0, result.output


def test_equiv(files: dict[str, Path]) -> None:
    result = run("equiv", files["good"], files["orig"], "--catalog", files["catalog"])
    assert result.exit_code == 1
    assert "REFUTED  B within A over the catalog" in result.output
    assert "B allows `s3:GetBucketAcl` on `*`, which A does not" in result.output
    result = run("equiv", files["good"], files["orig"], "--subset", "--catalog", files["catalog"])
    assert result.exit_code == 0, result.output
    assert result.output.count("PROVED") == 3
    result = run("equiv", files["orig"], files["orig"], "--catalog", files["catalog"], "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["verdict"] == "PROVED" and len(data["claims"]) == 4


def test_equiv_engines(files: dict[str, Path]) -> None:
    for engine in ("z3", "cvc5", "both"):
        result = run(
            "equiv",
            files["good"],
            files["orig"],
            "--subset",
            "--engine",
            engine,
            "--catalog",
            files["catalog"],
        )
        assert result.exit_code == 0, (engine, result.output)


def test_help_does_not_import_z3() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from iamrefine.cli.app import app\n"
        "assert 'z3' not in sys.modules, 'z3 imported at start-up'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
