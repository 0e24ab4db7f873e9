"""The false PROVED answers of the outside review (issue 13), each reproduced exactly.

Every case here was PROVED before its fix. Each test asks the checker and, where the
claim is false, also the concrete evaluator on the real request that refutes it, so a
test fails if either side regresses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from iamrefine.catalog import Catalog
from iamrefine.conditions import concrete
from iamrefine.model import Policy
from iamrefine.parse import parse_policy
from iamrefine.unused import UnusedSet
from iamrefine.verify import Verdict, verify_equivalence, verify_refinement

CATALOG = Catalog.from_names(
    ["s3:GetObject", "s3:PutObject", "iam:TagRole", "iam:UntagRole", "ec2:RunInstances"],
    source="soundness",
)


def doc(*statements: dict[str, Any]) -> Policy:
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def allow(actions: list[str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    if condition is not None:
        st["Condition"] = condition
    return st


def deny(actions: list[str], condition: dict[str, Any]) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": "*", "Condition": condition}


def check(original: Policy, refined: Policy, unused: list[str]) -> Verdict:
    report = verify_refinement(
        original, refined, UnusedSet.from_names(unused, CATALOG), CATALOG, timeout=30
    )
    return report.verdict


def holds(block: dict[str, Any], request: dict[str, list[str]]) -> bool:
    condition = doc(allow(["s3:GetObject"], block)).statements[0].condition
    assert condition is not None
    return concrete.condition_holds(condition, "2012-10-17", request)


# --- 1. keys that differ only in case: AND, not OR ------------------------------------

CASE_AND = {"StringEquals": {"aws:username": "alice", "AWS:USERNAME": "bob"}}
CASE_OR = {"StringEquals": {"aws:username": ["alice", "bob"]}}


def test_case_variant_keys_are_two_entries_not_one_list() -> None:
    # For alice the AND block fails and the OR block holds: the blocks differ.
    alice = {"aws:username": ["alice"]}
    assert not holds(CASE_AND, alice)
    assert holds(CASE_OR, alice)
    a, b = doc(allow(["s3:GetObject"], CASE_AND)), doc(allow(["s3:GetObject"], CASE_OR))
    assert a.statements[0].condition != b.statements[0].condition
    assert a.statements[0].condition.canonical() != b.statements[0].condition.canonical()  # type: ignore[union-attr]


def test_case_variant_keys_check_is_refuted() -> None:
    original = doc(allow(["s3:GetObject", "s3:PutObject"], CASE_AND))
    refined = doc(allow(["s3:GetObject"], CASE_OR))
    assert check(original, refined, ["s3:PutObject"]) is Verdict.REFUTED


def test_case_variant_keys_equiv_is_refuted() -> None:
    a, b = doc(allow(["s3:GetObject"], CASE_AND)), doc(allow(["s3:GetObject"], CASE_OR))
    report = verify_equivalence(a, b, CATALOG, timeout=30)
    assert report.verdict is Verdict.REFUTED
    # The AND block is within the OR block, which is true.
    assert verify_equivalence(a, b, CATALOG, subset=True, timeout=30).verdict is Verdict.PROVED


def test_case_variant_keys_with_equal_values_are_one_entry() -> None:
    # Both entries test the same key with the same values: AND of equal terms.
    twice = {"StringEquals": {"aws:username": "alice", "AWS:USERNAME": "alice"}}
    once = {"StringEquals": {"aws:username": "alice"}}
    a, b = doc(allow(["s3:GetObject"], twice)), doc(allow(["s3:GetObject"], once))
    assert verify_equivalence(a, b, CATALOG, timeout=30).verdict is Verdict.PROVED


# --- 2. malformed values in typed views --------------------------------------------------

MALFORMED_CASES = [
    ("Bool", ["true", "false"], "yes"),
    ("NumericLessThan", "5", "high"),
    ("DateLessThan", "2026-01-01T00:00:00Z", "n/a"),
    ("IpAddress", "0.0.0.0/0", "localhost"),
]


@pytest.mark.parametrize(("operator", "values", "bad"), MALFORMED_CASES)
def test_malformed_value_refutes_present_means_typed(operator: str, values: Any, bad: str) -> None:
    key = "aws:PrincipalTag/admin"
    typed = {operator: {key: values}}
    present = {"Null": {key: "false"}}
    request = {key: [bad]}
    assert holds(present, request) and not holds(typed, request)
    original = doc(allow(["s3:GetObject", "s3:PutObject"], typed))
    refined = doc(allow(["s3:GetObject"], present))
    assert check(original, refined, ["s3:PutObject"]) is Verdict.REFUTED


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("NumericLessThan", "NumericGreaterThanEquals"),
        ("DateLessThan", "DateGreaterThanEquals"),
    ],
)
def test_complementary_comparisons_do_not_cover_malformed(left: str, right: str) -> None:
    value = "5" if left.startswith("Numeric") else "2026-01-01T00:00:00Z"
    key = "aws:PrincipalTag/level"
    present = doc(allow(["s3:GetObject"], {"Null": {key: "false"}}))
    either = doc(
        allow(["s3:GetObject"], {left: {key: value}}),
        allow(["s3:GetObject"], {right: {key: value}}),
    )
    report = verify_equivalence(present, either, CATALOG, subset=True, timeout=30)
    assert report.verdict is Verdict.REFUTED


def test_ip_blocks_do_not_cover_malformed() -> None:
    key = "aws:SourceIp"
    present = doc(allow(["s3:GetObject"], {"Null": {key: "false"}}))
    every = doc(allow(["s3:GetObject"], {"IpAddress": {key: ["0.0.0.0/0", "::/0"]}}))
    report = verify_equivalence(present, every, CATALOG, subset=True, timeout=30)
    assert report.verdict is Verdict.REFUTED


def test_well_formed_typed_claims_still_prove() -> None:
    key = "aws:PrincipalTag/level"
    lt = doc(allow(["s3:GetObject"], {"NumericLessThan": {key: "5"}}))
    le = doc(allow(["s3:GetObject"], {"NumericLessThanEquals": {key: "5"}}))
    assert verify_equivalence(lt, le, CATALOG, subset=True, timeout=30).verdict is Verdict.PROVED
    t = doc(allow(["s3:GetObject"], {"Bool": {key: "true"}}))
    tf = doc(allow(["s3:GetObject"], {"Bool": {key: ["true", "false"]}}))
    assert verify_equivalence(t, tf, CATALOG, subset=True, timeout=30).verdict is Verdict.PROVED


# --- 4. multi-valued keys without a set operator ---------------------------------------


def test_key_without_set_operator_may_carry_several_values() -> None:
    block = {"StringEquals": {"aws:TagKeys": "Owner"}, "StringLike": {"aws:TagKeys": "Project"}}
    request = {"aws:TagKeys": ["Owner", "Project"]}
    assert holds(block, request)
    original = doc(
        allow(["iam:TagRole", "iam:UntagRole"]),
        deny(["iam:TagRole"], block),
    )
    refined = doc(allow(["iam:TagRole"]))
    assert check(original, refined, ["iam:UntagRole"]) is Verdict.REFUTED


def test_policy_variable_keys_stay_single_valued() -> None:
    # AWS allows only single-valued keys as policy variables; such a key keeps one slot,
    # so a claim that relies on it having one value is still decided.
    a = doc(allow(["s3:GetObject"], {"StringEquals": {"s3:prefix": "${aws:username}"}}))
    assert verify_equivalence(a, a, CATALOG, timeout=30).verdict is Verdict.PROVED


# --- *IgnoreCase beyond ASCII ----------------------------------------------------------


def test_ignore_case_beyond_ascii_is_unknown_not_proved() -> None:
    # Under ASCII folding `é` never equals `É`; under Unicode folding it does. AWS does
    # not document which, so the claim that tells them apart is UNKNOWN, never PROVED.
    key = "aws:PrincipalTag/name"
    folded = doc(allow(["s3:GetObject"], {"StringEqualsIgnoreCase": {key: "é"}}))
    exact = doc(allow(["s3:GetObject"], {"StringEquals": {key: "é"}}))
    report = verify_equivalence(folded, exact, CATALOG, subset=True, timeout=30)
    assert report.verdict is Verdict.UNKNOWN
    assert any("folds case beyond ASCII" in (c.reason or "") for c in report.claims)


def test_ignore_case_claims_true_under_both_readings_are_proved() -> None:
    key = "aws:PrincipalTag/name"
    folded = doc(allow(["s3:GetObject"], {"StringEqualsIgnoreCase": {key: "é"}}))
    upper = doc(allow(["s3:GetObject"], {"StringEqualsIgnoreCase": {key: "É"}}))
    assert verify_equivalence(folded, upper, CATALOG, timeout=30).verdict is Verdict.UNKNOWN
    same = doc(allow(["s3:GetObject"], {"StringEqualsIgnoreCase": {key: ["é", "x"]}}))
    assert verify_equivalence(same, same, CATALOG, timeout=30).verdict is Verdict.PROVED
    exact = doc(allow(["s3:GetObject"], {"StringEquals": {key: "é"}}))
    # StringEquals é is within StringEqualsIgnoreCase é under both readings.
    report = verify_equivalence(exact, folded, CATALOG, subset=True, timeout=30)
    assert report.verdict is Verdict.PROVED


def test_ignore_case_false_under_both_readings_is_refuted() -> None:
    key = "aws:PrincipalTag/name"
    a = doc(allow(["s3:GetObject"], {"StringEqualsIgnoreCase": {key: "ké"}}))
    b = doc(allow(["s3:GetObject"], {"StringEqualsIgnoreCase": {key: "ké", "aws:username": "x"}}))
    assert verify_equivalence(a, b, CATALOG, subset=True, timeout=30).verdict is Verdict.REFUTED
