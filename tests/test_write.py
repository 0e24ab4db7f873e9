"""The policy writer: element order, string-versus-list form, value types and layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

from iamrefine.model import Layout, Policy, Statement, ValueList
from iamrefine.parse import parse_policy
from iamrefine.write import dump_policy, non_whitespace_length, policy_to_json, statement_to_json

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "access-analyzer-blog" / "policy.json"


def test_worked_example_is_written_back_unchanged() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert dump_policy(parse_policy(text)) == text


def test_layouts_are_kept() -> None:
    obj = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"},
    }
    for indent in (None, 0, 2, 4):
        for newline in ("", "\n"):
            text = json.dumps(obj, indent=indent) + newline
            assert dump_policy(parse_policy(text)) == text


def test_layout_argument_overrides_the_detected_layout() -> None:
    policy = parse_policy(EXAMPLE.read_bytes())
    compact = dump_policy(policy, Layout(indent=None, trailing_newline=False))
    assert "\n" not in compact
    assert json.loads(compact) == json.loads(EXAMPLE.read_text())
    assert dump_policy(policy, Layout(indent=4)).startswith('{\n    "Version"')


def test_indented_document_root_is_measured_from_its_brace() -> None:
    text = '  {\n      "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}\n  }'
    assert parse_policy(text).layout == Layout(indent=4, trailing_newline=False)


def test_element_order_and_forms_follow_the_source() -> None:
    text = json.dumps(
        {
            "Statement": [
                {
                    "Resource": ["arn:aws:s3:::b"],
                    "Action": "s3:GetObject",
                    "Effect": "Allow",
                    "Sid": "One",
                    "Condition": {
                        "Bool": {"aws:SecureTransport": False},
                        "NumericLessThan": {"s3:max-keys": [10, 2.5]},
                    },
                }
            ],
            "Version": "2012-10-17",
            "Id": "P",
        },
        indent=2,
    )
    dumped = dump_policy(parse_policy(text))
    assert dumped == text
    assert list(json.loads(dumped)) == ["Statement", "Version", "Id"]


def test_trailing_newline_is_not_added_when_the_source_had_none() -> None:
    text = '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
    assert dump_policy(parse_policy(text)) == text


def test_single_element_lists_and_single_statement_objects_keep_their_form() -> None:
    text = json.dumps(
        {"Statement": {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}}
    )
    out = json.loads(dump_policy(parse_policy(text)))
    assert isinstance(out["Statement"], dict)
    assert out["Statement"]["Action"] == ["s3:GetObject"]
    assert out["Statement"]["Resource"] == "*"


def test_rewritten_statements() -> None:
    policy = parse_policy(EXAMPLE.read_bytes())
    lam, s3 = policy.statements
    narrowed = policy.model_copy(
        update={"statements": [lam.with_actions(["lambda:Invoke*"]), s3.with_actions(["s3:List*"])]}
    )
    out = policy_to_json(narrowed)
    assert out["Statement"][0]["Action"] == ["lambda:Invoke*"]
    assert out["Statement"][1]["Action"] == ["s3:List*"]
    assert list(out["Statement"][0]) == ["Effect", "Action", "Resource"]
    assert parse_policy(dump_policy(narrowed)) == narrowed


def test_string_element_becomes_a_list_when_it_gains_values() -> None:
    text = '{"Statement": {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}}'
    stmt = parse_policy(text).statements[0]
    assert statement_to_json(stmt.with_actions(["s3:GetA"]))["Action"] == "s3:GetA"
    assert statement_to_json(stmt.with_actions(["s3:GetA", "s3:GetB"]))["Action"] == [
        "s3:GetA",
        "s3:GetB",
    ]


def test_switching_the_action_form_keeps_one_action_element_in_place() -> None:
    text = '{"Statement": {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"}}'
    stmt = parse_policy(text).statements[0]
    negated = stmt.with_actions(["iam:*"], not_action=True)
    assert negated.action is None and negated.not_action is not None
    assert list(statement_to_json(negated)) == ["Sid", "Effect", "NotAction", "Resource"]
    back = negated.with_actions(["s3:GetObject"], not_action=False)
    assert back.not_action is None and back.action is not None
    assert list(statement_to_json(back)) == ["Sid", "Effect", "Action", "Resource"]
    # What is written parses back to the same statement.
    doc = parse_policy(text).model_copy(update={"statements": [negated]})
    assert parse_policy(dump_policy(doc)) == doc


def test_elements_missing_from_keys_follow_in_canonical_order() -> None:
    stmt = Statement(
        effect="Allow",
        resource=ValueList(values=["*"], is_list=False),
        action=ValueList(values=["s3:A"], is_list=False),
        sid="S",
        keys=["Resource", "NotAction"],
    )
    assert list(statement_to_json(stmt)) == ["Resource", "Sid", "Effect", "Action"]
    policy = Policy(statements=[stmt], keys=[], version="2012-10-17", statement_is_list=False)
    assert list(policy_to_json(policy)) == ["Version", "Statement"]
    assert isinstance(policy_to_json(policy)["Statement"], dict)


def test_latin1_characters_are_written_as_themselves() -> None:
    text = '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::Caf\u00e9"}}'
    dumped = dump_policy(parse_policy(text))
    assert "Caf\u00e9" in dumped
    assert "\\u00e9" not in dumped


def test_principals_and_conditions_are_written_as_parsed() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111122223333:root"], "Service": "s3.amazonaws.com"},
        "Action": "s3:GetObject",
        "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}, "Null": {}},
    }
    text = json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=4) + "\n"
    assert dump_policy(parse_policy(text)) == text


def test_non_whitespace_length() -> None:
    assert non_whitespace_length("") == 0
    assert non_whitespace_length(' {\n\t"a" : 1 }\r\n') == 7
    assert non_whitespace_length("a\u00a0b") == 3
    text = EXAMPLE.read_text()
    assert non_whitespace_length(text) == len(re.sub(r"[ \t\r\n]", "", text))
    compact = dump_policy(parse_policy(text), Layout(indent=None, trailing_newline=False))
    assert non_whitespace_length(compact) == non_whitespace_length(text)
