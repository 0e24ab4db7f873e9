"""What `check` and `equiv` show people and programs (issue 19 items 2, 4 and 5): one
statement-numbering convention, JSON with documented fields only, and counterexamples
that read like real requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from typer.testing import CliRunner

from iamrefine.catalog import Catalog
from iamrefine.cli.app import app
from iamrefine.parse import parse_policy
from iamrefine.render import render_check
from iamrefine.verify import Verdict, verify_equivalence

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "proofs" / "schema" / "check.schema.json").read_text()
)
CATALOG = Catalog.from_names(
    ["s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectTagging", "s3:PutObject"], source="readable"
)


def doc(*statements: dict[str, Any]) -> Any:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def test_messages_name_statements_one_based_with_their_sid() -> None:
    a = doc(
        {"Sid": "Other", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::x"},
        {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    )
    b = doc({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::x"})
    report = verify_equivalence(a, b, CATALOG, subset=True, timeout=30)
    assert report.verdict is Verdict.REFUTED
    text = render_check(report)
    assert "statement 2 (Sid Read)" in text
    assert "Statement[" not in text


def _write(tmp: Path, name: str, statements: list[dict[str, Any]]) -> Path:
    path = tmp / name
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return path


def test_equiv_json_has_documented_fields_only(tmp_path: Path) -> None:
    cond = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    a = _write(
        tmp_path,
        "a.json",
        [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": cond}],
    )
    b = _write(tmp_path, "b.json", [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}])
    result = CliRunner().invoke(app, ["equiv", str(a), str(b), "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.output)
    jsonschema.validate(out, SCHEMA)
    cex = next(c["counterexample"] for c in out["claims"] if c["counterexample"])
    assert "context" not in cex
    assert "{" not in json.dumps(list(cex["request"]))


def test_counterexample_values_read_like_real_ones() -> None:
    # A request value the solver may spell `eu-weST-1`: the readable model asks for a
    # lowercase word or a value the policy names.
    key = "aws:RequestedRegion"
    a = doc(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringEqualsIgnoreCase": {key: "eu-west-1"}},
        }
    )
    b = doc(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringEquals": {key: "us-east-1"}},
        }
    )
    report = verify_equivalence(a, b, CATALOG, subset=True, timeout=30)
    assert report.verdict is Verdict.REFUTED
    cex = report.claims[0].counterexample
    assert cex is not None
    (value,) = cex.request[key.lower()] if key.lower() in cex.request else cex.request[key]
    assert value == value.lower() and ".." not in value and "*" not in value


def test_resource_counterexample_has_no_literal_star() -> None:
    a = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports*"})
    b = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other"})
    report = verify_equivalence(a, b, CATALOG, subset=True, timeout=30)
    cex = report.claims[0].counterexample
    assert cex is not None
    assert cex.resource.startswith("arn:aws:s3:::reports") and "*" not in cex.resource


def test_one_more_action_is_singular() -> None:
    a = doc({"Effect": "Allow", "Action": "s3:GetObject*", "Resource": "*"})
    b = doc({"Effect": "Allow", "Action": "s3:GetObjectAcl", "Resource": "*"})
    report = verify_equivalence(a, b, CATALOG, subset=True, timeout=30)
    cex = report.claims[0].counterexample
    assert cex is not None
    assert "(and 1 more action of the same class)" in cex.message
