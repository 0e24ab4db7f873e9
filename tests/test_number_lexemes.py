"""JSON numbers keep their source text through refine, its diff and its certificate
(issue 13, item 5): the refiner never changes a condition, so `1.00000000000000000001`
is not written back as `1.0`, nor `1e2` as `100.0`, and the diff compares against
the original file as it was read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iamrefine.catalog import load_catalog
from iamrefine.certificate import check_certificate, load_certificate
from iamrefine.cli.app import app
from iamrefine.parse import load_policy

LEXEMES = ["1.00000000000000000001", "1e2", "-0", "1.50", "1E+2", "2.5e-3"]

# Written as json.dumps(indent=2) writes it, except for the numbers, so that the only
# difference the writer could make to the conditions is the numbers' text.
POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "s3:GetObject",
        "s3:PutObject"
      ],
      "Resource": "*",
      "Condition": {
        "NumericLessThan": {
          "s3:max-keys": 1.00000000000000000001
        },
        "StringEquals": {
          "s3:prefix": [
            1e2,
            -0,
            1.50,
            1E+2,
            2.5e-3
          ]
        }
      }
    }
  ]
}
"""

CONDITION = POLICY[POLICY.index('      "Condition"') : POLICY.index("\n    }\n  ]")]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "policy.json"
    policy.write_text(POLICY, encoding="utf-8")
    unused = tmp_path / "unused.json"
    unused.write_text('["s3:PutObject"]', encoding="utf-8")
    return policy, unused


def _refine(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["refine", *(str(a) for a in args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_refine_keeps_every_condition_byte_for_byte(files: tuple[Path, Path]) -> None:
    policy, unused = files
    code, out, err = _refine(policy, "--unused", unused)
    assert code == 0, err
    assert "PROVED" in err
    assert CONDITION in out
    for lexeme in LEXEMES:
        assert lexeme in out
    assert "100.0" not in out and "1.0\n" not in out
    assert json.loads(out)["Statement"][0]["Action"] == ["s3:GetObject"]


def test_the_diff_is_against_the_original_text(files: tuple[Path, Path]) -> None:
    policy, unused = files
    code, out, err = _refine(policy, "--unused", unused, "--format", "diff")
    assert code == 0, err
    original = POLICY.splitlines()
    body = [line for line in out.splitlines()[2:] if not line.startswith("@@")]
    # Every context and removed line is a line of the file as it was read ...
    assert all(line[1:] in original for line in body if line[:1] in " -"), out
    # ... and the only change is the dropped action.
    changed = [line for line in body if line[:1] in "+-"]
    assert changed == [
        '-        "s3:GetObject",',
        '-        "s3:PutObject"',
        '+        "s3:GetObject"',
    ]


def test_the_diff_shows_what_the_writer_changes(tmp_path: Path) -> None:
    # A compact input is re-laid out: the diff against the original bytes shows it,
    # with the numbers' text unchanged on both sides.
    policy = tmp_path / "compact.json"
    text = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
        '["s3:GetObject", "s3:PutObject"], "Resource": "*", "Condition": '
        '{"NumericLessThan": {"s3:max-keys": 1.00000000000000000001}}}]}'
    )
    policy.write_text(text, encoding="utf-8")
    unused = tmp_path / "unused.json"
    unused.write_text('["s3:PutObject"]', encoding="utf-8")
    code, out, err = _refine(policy, "--unused", unused, "--format", "diff")
    assert code == 0, err
    assert "-" + text + "\n" in out
    assert (
        '+{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"]'
        in out
    )
    assert "1.00000000000000000001}}}]}" in out.split("\n+", 1)[1]


def test_the_certificate_embeds_the_numbers_as_written(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    policy, unused = files
    cert = tmp_path / "cert.json"
    code, _, err = _refine(
        policy, "--unused", unused, "--certificate", cert, "-o", tmp_path / "r.json"
    )
    assert code == 0, err
    text = cert.read_text("utf-8")
    for lexeme in LEXEMES:
        assert f"{lexeme}" in text
    loaded = load_certificate(cert)
    assert loaded.inputs.refined is not None
    refined = load_policy(tmp_path / "r.json")
    assert refined.statements[0].condition == load_policy(policy).statements[0].condition
    report = check_certificate(loaded, load_catalog())
    assert report.status == "VALID", report.render()
    # A certificate whose embedded number is rewritten is another policy: INVALID.
    forged = text.replace("1.00000000000000000001", "1.0")
    bad = tmp_path / "forged.json"
    bad.write_text(forged, encoding="utf-8")
    again = check_certificate(load_certificate(bad), load_catalog())
    assert again.status == "INVALID"
    assert "original policy" in again.failed_parts


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_a_template_rewritten_whole_keeps_its_numbers(tmp_path: Path, suffix: str) -> None:
    # A dropped statement makes the document be written whole: the numbers of the
    # statement that stays are written back as numbers with the same value.
    pytest.importorskip("cfnlint")
    from iamrefine.sources import read_document
    from iamrefine.sources.writeback import write_back

    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:max-keys": [10, 2.5]}},
            },
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
        ],
    }
    template = {
        "Resources": {
            "Pol": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": document}}
        }
    }
    path = tmp_path / f"template.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps(template, indent=2), encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump(template, sort_keys=False), encoding="utf-8")
    source = read_document(path).select()
    refined = source.policy.model_copy(update={"statements": source.policy.statements[:1]})
    text = write_back(source, refined)
    again = tmp_path / f"again.{suffix}"
    again.write_text(text, encoding="utf-8")
    back = read_document(again).select().policy
    assert len(back.statements) == 1
    assert back.statements[0].condition == refined.statements[0].condition
