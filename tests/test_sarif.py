"""``--format sarif`` of parse, check, equiv and regress, validated against the SARIF
2.1.0 JSON schema vendored in ``tests/sarif/`` (see its README)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import run_cli as _cli

HERE = Path(__file__).resolve().parent
SCHEMA = json.loads((HERE / "sarif" / "sarif-schema-2.1.0.json").read_text("utf-8"))
IAC = HERE / "fixtures" / "iac"
GOOD = HERE / "bad_inputs" / "good"
CATALOG = GOOD / "catalog.json"
UNUSED = GOOD / "unused.json"


def _valid(text: str) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(text)
    jsonschema.Draft7Validator(SCHEMA).validate(log)
    return log


def _results(log: dict[str, Any]) -> list[dict[str, Any]]:
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "iamrefine"
    results: list[dict[str, Any]] = run["results"]
    return results


def _region(result: dict[str, Any]) -> tuple[str, dict[str, int]]:
    physical = result["locations"][0]["physicalLocation"]
    return physical["artifactLocation"]["uri"], physical.get("region", {})


def test_the_schema_rejects_a_broken_log() -> None:
    """The validation can fail: a log without a version, and a result whose level is
    not a SARIF level, are both rejected."""
    code, out, err = _cli("parse", "--format", "sarif", GOOD / "policy.json")
    assert code == 0, err
    log = _valid(out)
    del log["version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(log)
    log = _valid(out)
    log["runs"][0]["results"] = [{"message": {"text": "x"}, "level": "fatal"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(log)


def test_parse_reports_bad_input_with_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "intrinsic-action.yaml"
    shutil.copy(HERE / "bad_inputs" / "iac" / "intrinsic-action.yaml", bad)
    code, out, err = _cli("parse", "--format", "sarif", bad.name, cwd=tmp_path)
    assert code == 2
    assert "intrinsic-action.yaml:9:21: error:" in err
    (result,) = _results(_valid(out))
    assert result["ruleId"] == "invalid-input" and result["level"] == "error"
    assert _region(result) == ("intrinsic-action.yaml", {"startLine": 9, "startColumn": 21})
    assert "`Fn::Sub` in `Action`" in result["message"]["text"]


def test_parse_reports_opaque_values_as_notes() -> None:
    code, out, err = _cli("parse", "--format", "sarif", IAC / "template.yaml")
    assert code == 0, err
    results = _results(_valid(out))
    assert [r["level"] for r in results] == ["note", "note"]
    assert [_region(r)[1]["startLine"] for r in results] == [15, 21]


def test_equiv_refuted_points_at_the_statement_at_fault(tmp_path: Path) -> None:
    wider = tmp_path / "wider.yaml"
    wider.write_text((IAC / "template.yaml").read_text().replace("[lambda:Invoke*", "[lambda:*"))
    code, out, err = _cli(
        "equiv", "--subset", "--format", "sarif", wider, IAC / "template.yaml",
        "--catalog", CATALOG,
    )  # fmt: skip
    assert code == 1, err
    results = [r for r in _results(_valid(out)) if r["ruleId"] == "refuted"]
    assert results
    for result in results:
        uri, region = _region(result)
        assert uri.endswith("wider.yaml")
        # The second statement of the template (line 16) grants lambda:*.
        assert region["startLine"] == 16 and region["startColumn"] == 13
        assert "lambda:" in result["message"]["text"]
        assert result["properties"]["counterexample"]["decisions"]["A"]["allowed"] is True


def test_check_proved_has_no_findings_and_refuted_has_a_counterexample(tmp_path: Path) -> None:
    refined = tmp_path / "refined.json"
    code, out, err = _cli("refine", GOOD / "policy.json", "-u", UNUSED, "--catalog", CATALOG)
    assert code == 0, err
    refined.write_text(out)
    code, out, err = _cli(
        "check", GOOD / "policy.json", refined, "-u", UNUSED, "--catalog", CATALOG,
        "--format", "sarif",
    )  # fmt: skip
    assert code == 0, err
    assert _results(_valid(out)) == []
    code, out, err = _cli(
        "check", GOOD / "policy.json", GOOD / "policy.json", "-u", UNUSED, "--catalog", CATALOG,
        "--format", "sarif",
    )  # fmt: skip
    assert code == 1
    refuted = [r for r in _results(_valid(out)) if r["ruleId"] == "refuted"]
    assert refuted
    assert "s3:GetBucket" in refuted[0]["message"]["text"]


def test_json_and_format_must_agree() -> None:
    code, _, err = _cli("parse", "--json", "--format", "sarif", GOOD / "policy.json")
    assert code == 2 and "disagree" in err


def test_regress_sarif_lists_the_cases_that_are_not_exact(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    case = corpus / "reader"
    case.mkdir(parents=True)
    shutil.copy(GOOD / "policy.json", case / "policy.json")
    shutil.copy(UNUSED, case / "unused.json")
    # `cat` returns the policy unchanged: it keeps the unused actions.
    code, out, err = _cli(
        "regress", corpus, "--refiner", "sh -c 'cat \"$1\"' sh {policy} {unused}",
        "--catalog", CATALOG, "--format", "sarif",
    )  # fmt: skip
    assert code == 1, err
    (result,) = _results(_valid(out))
    assert result["ruleId"] == "refiner-regression"
    assert result["properties"]["verdict"] == "over-permissive"
    uri, region = _region(result)
    assert uri.endswith("reader/policy.json")
    assert region["startLine"] == 4  # the statement granting s3:Get*
