"""Condition semantics: the Z3 encoding against the independent concrete evaluator,
operator by operator; known-equivalent and known-different rewrites; input errors."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import z3

from iamrefine.catalog import Catalog
from iamrefine.conditions import concrete
from iamrefine.conditions.operators import OPERATORS, parse_operator
from iamrefine.conditions.smt import FullConditions
from iamrefine.conditions.values import (
    parse_address,
    parse_date,
    parse_number,
    render_address,
    render_date,
)
from iamrefine.encode import Encoder
from iamrefine.errors import InputError
from iamrefine.model import Policy
from iamrefine.parse import parse_policy
from iamrefine.solver import cvc5_available, new_context, string_value
from iamrefine.verify import Verdict, verify_equivalence

CATALOG = Catalog.from_names(["s3:GetObject", "s3:PutObject", "ec2:RunInstances"], source="t")


def policy(condition: dict[str, Any] | None, version: str = "2012-10-17", **extra: Any) -> Policy:
    st: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    if condition is not None:
        st["Condition"] = condition
    st.update(extra)
    return parse_policy(json.dumps({"Version": version, "Statement": [st]}))


def _fix(enc: Encoder, full: FullConditions, request: dict[str, list[str]]) -> list[z3.BoolRef]:
    """Constraints that pin the request symbols built so far to ``request``."""
    req = full.symbols(enc)
    lowered = {k.lower(): v for k, v in request.items()}
    out: list[z3.BoolRef] = []
    for (key, i), slot in req.slots.items():
        vals = lowered.get(key, [])
        if i >= len(vals):
            out.append(z3.Not(slot.present))
            continue
        out.append(slot.present)
        text = vals[i]
        for family, view in slot.views.items():
            if family == "str":
                out.append(view == string_value(text, enc.ctx))
                continue
            value, ok = view
            if family in ("num", "date"):
                number = (parse_number if family == "num" else parse_date)(text)
                if number is None:
                    out.append(z3.Not(ok))
                    continue
                out += [
                    ok,
                    value == z3.RealVal(f"{number.numerator}/{number.denominator}", enc.ctx),
                ]
            elif family == "bool":
                if text.lower() not in ("true", "false"):
                    out.append(z3.Not(ok))
                    continue
                out += [ok, value if text.lower() == "true" else z3.Not(value)]
            else:
                parsed = parse_address(text)
                if parsed is None:
                    out.append(z3.Not(ok))
                    continue
                out += [ok, value[0] == z3.BitVecVal(parsed[1], 128, enc.ctx)]
                out.append(value[1] if parsed[0] == 4 else z3.Not(value[1]))
    return out


def z3_verdicts(
    block: dict[str, Any], requests: list[dict[str, list[str]]], version: str = "2012-10-17"
) -> list[bool]:
    """The encoder's verdict on each request: the block's formula (built once) must be
    determined once the request symbols are pinned (else the test fails)."""
    pol = policy(block, version)
    full = FullConditions([pol])
    for request in requests:
        for key, vals in request.items():
            if key.lower() in full.bounds:
                full.bounds[key.lower()] = max(full.bounds[key.lower()], len(vals))
    enc = Encoder(new_context(), condition_encoder=full)
    st = pol.statements[0]
    assert st.condition is not None
    term = full(st.condition, pol.effective_version, enc)
    s = z3.Solver(ctx=enc.ctx)
    out = []
    for request in requests:
        fixed = _fix(enc, full, request)
        s.push()
        s.add(*fixed)
        can_hold = s.check(term) == z3.sat
        can_fail = s.check(z3.Not(term)) == z3.sat
        s.pop()
        assert can_hold != can_fail, f"not determined by the request: {block} on {request}"
        out.append(can_hold)
    return out


def z3_holds(
    block: dict[str, Any], request: dict[str, list[str]], version: str = "2012-10-17"
) -> bool:
    """The encoder's verdict on one request (see :func:`z3_verdicts`)."""
    return z3_verdicts(block, [request], version)[0]


def evaluator_holds(
    block: dict[str, Any], request: dict[str, list[str]], version: str = "2012-10-17"
) -> bool:
    pol = policy(block, version)
    assert pol.statements[0].condition is not None
    return concrete.condition_holds(pol.statements[0].condition, version, request)


IP = "aws:SourceIp"
NOW = "aws:CurrentTime"
TEAM = "aws:PrincipalTag/team"
ARN = "aws:SourceArn"
TAGS = "aws:TagKeys"

# (block, request, expected): each decided by hand from the AWS documentation.
TABLE: list[tuple[dict[str, Any], dict[str, list[str]], bool]] = [
    # String
    ({"StringEquals": {TEAM: "a"}}, {TEAM: ["a"]}, True),
    ({"StringEquals": {TEAM: "a"}}, {TEAM: ["A"]}, False),
    ({"StringEquals": {TEAM: "a"}}, {}, False),
    ({"StringEquals": {TEAM: ["a", "b"]}}, {TEAM: ["b"]}, True),
    ({"StringEquals": {TEAM: "a*"}}, {TEAM: ["ab"]}, False),
    ({"StringNotEquals": {TEAM: ["a", "b"]}}, {TEAM: ["b"]}, False),
    ({"StringNotEquals": {TEAM: ["a", "b"]}}, {TEAM: ["c"]}, True),
    ({"StringNotEquals": {TEAM: "a"}}, {}, True),
    ({"StringEqualsIgnoreCase": {TEAM: "Dev-Ops"}}, {TEAM: ["dEV-oPS"]}, True),
    ({"StringEqualsIgnoreCase": {TEAM: "dev"}}, {TEAM: ["deV2"]}, False),
    ({"StringNotEqualsIgnoreCase": {TEAM: "dev"}}, {TEAM: ["DEV"]}, False),
    ({"StringNotEqualsIgnoreCase": {TEAM: "dev"}}, {TEAM: ["ops"]}, True),
    ({"StringLike": {TEAM: "a*"}}, {TEAM: ["abc"]}, True),
    ({"StringLike": {TEAM: "a?c"}}, {TEAM: ["abc"]}, True),
    ({"StringLike": {TEAM: "a?c"}}, {TEAM: ["ac"]}, False),
    ({"StringLike": {TEAM: "a*"}}, {TEAM: ["Abc"]}, False),
    ({"StringNotLike": {TEAM: ["a*", "b*"]}}, {TEAM: ["bz"]}, False),
    ({"StringNotLike": {TEAM: ["a*", "b*"]}}, {TEAM: ["cz"]}, True),
    ({"StringEqualsIfExists": {TEAM: "a"}}, {}, True),
    ({"StringEqualsIfExists": {TEAM: "a"}}, {TEAM: ["b"]}, False),
    ({"StringLikeIfExists": {TEAM: "a*"}}, {TEAM: ["ax"]}, True),
    # Numeric
    ({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10.0"]}, True),
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10"]}, False),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["9.5"]}, True),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10"]}, False),
    ({"NumericLessThanEquals": {"s3:max-keys": 10}}, {"s3:max-keys": ["10"]}, True),
    ({"NumericGreaterThan": {"s3:max-keys": "-1.5"}}, {"s3:max-keys": ["-1"]}, True),
    ({"NumericGreaterThanEquals": {"s3:max-keys": "3"}}, {"s3:max-keys": ["2.999"]}, False),
    ({"NumericLessThan": {"s3:max-keys": "10"}}, {}, False),
    ({"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, True),
    # Date
    ({"DateLessThan": {NOW: "2026-01-01T00:00:00Z"}}, {NOW: ["2025-12-31T23:59:59Z"]}, True),
    ({"DateLessThan": {NOW: "2026-01-01T00:00:00Z"}}, {NOW: ["2026-01-01T00:00:00Z"]}, False),
    ({"DateLessThanEquals": {NOW: "2026-01-01"}}, {NOW: ["2026-01-01T00:00:00Z"]}, True),
    ({"DateGreaterThan": {NOW: "1767225600"}}, {NOW: ["2026-01-01T00:00:01Z"]}, True),
    ({"DateEquals": {NOW: "2026-01-01T01:00:00+01:00"}}, {NOW: ["2026-01-01T00:00:00Z"]}, True),
    ({"DateNotEquals": {NOW: "2026-01-01T00:00:00Z"}}, {NOW: ["1767225600"]}, False),
    ({"DateGreaterThanEquals": {NOW: "2024-02-29T12:00:00Z"}}, {NOW: ["2024-02-29"]}, False),
    ({"DateGreaterThanIfExists": {NOW: "2024-02-29"}}, {}, True),
    # Bool, Binary
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": ["true"]}, True),
    ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": ["false"]}, False),
    ({"Bool": {"aws:SecureTransport": "false"}}, {}, False),
    ({"BoolIfExists": {"aws:SecureTransport": "false"}}, {}, True),
    ({"BinaryEquals": {"k:bin": "QmluYXJ5VmFsdWU="}}, {"k:bin": ["QmluYXJ5VmFsdWU="]}, True),
    ({"BinaryEquals": {"k:bin": "QmluYXJ5VmFsdWU="}}, {"k:bin": ["qmluyxj5vmfsdwu="]}, False),
    # IP
    ({"IpAddress": {IP: "10.0.0.0/8"}}, {IP: ["10.0.0.7"]}, True),
    ({"IpAddress": {IP: "10.0.0.0/8"}}, {IP: ["11.0.0.7"]}, False),
    ({"IpAddress": {IP: "10.1.2.3"}}, {IP: ["10.1.2.3"]}, True),
    ({"IpAddress": {IP: "10.1.2.3/32"}}, {IP: ["10.1.2.4"]}, False),
    ({"IpAddress": {IP: "0.0.0.0/0"}}, {IP: ["2001:db8::1"]}, False),
    ({"IpAddress": {IP: "2001:db8::/32"}}, {IP: ["2001:db8:ffff::1"]}, True),
    ({"IpAddress": {IP: "2001:db8::/32"}}, {IP: ["2001:db9::1"]}, False),
    ({"IpAddress": {IP: "::/0"}}, {IP: ["10.0.0.1"]}, False),
    ({"NotIpAddress": {IP: ["10.0.0.0/8", "192.168.0.0/16"]}}, {IP: ["192.168.3.4"]}, False),
    ({"NotIpAddress": {IP: "10.0.0.0/8"}}, {IP: ["172.16.0.1"]}, True),
    ({"NotIpAddress": {IP: "10.0.0.0/8"}}, {}, True),
    ({"IpAddressIfExists": {IP: "10.0.0.0/8"}}, {}, True),
    # Arn
    ({"ArnEquals": {ARN: "arn:aws:s3:::bucket"}}, {ARN: ["arn:aws:s3:::bucket"]}, True),
    ({"ArnLike": {ARN: "arn:aws:s3:::b*"}}, {ARN: ["arn:aws:s3:::bucket/x"]}, True),
    ({"ArnLike": {ARN: "arn:aws:*:*:*:*"}}, {ARN: ["arn:aws:sns:us-east-1:1:t"]}, True),
    ({"ArnLike": {ARN: "arn:aws:s*:::x"}}, {ARN: ["arn:aws:s3:eu:::x"]}, False),
    ({"ArnLike": {ARN: "arn:aws:iam::*:role/a:b"}}, {ARN: ["arn:aws:iam::1:role/a:b"]}, True),
    ({"ArnLike": {ARN: "arn:aws:iam::*"}}, {ARN: ["arn:aws:iam::1:role/x"]}, False),
    ({"ArnLike": {ARN: "arn:aws:iam::?:*"}}, {ARN: ["arn:aws:iam::12:x"]}, False),
    ({"ArnNotLike": {ARN: "arn:aws:s3:::b*"}}, {ARN: ["arn:aws:s3:::c"]}, True),
    ({"ArnNotEquals": {ARN: "arn:aws:s3:::b"}}, {}, True),
    ({"ArnLike": {ARN: "arn:aws:s3:::b"}}, {}, False),
    ({"ArnLikeIfExists": {ARN: "arn:aws:s3:::b"}}, {}, True),
    # Null
    ({"Null": {TEAM: "true"}}, {}, True),
    ({"Null": {TEAM: "true"}}, {TEAM: ["a"]}, False),
    ({"Null": {TEAM: False}}, {TEAM: ["a"]}, True),
    ({"Null": {TEAM: "false"}}, {}, False),
    # Set operators
    ({"ForAllValues:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["a", "b"]}, True),
    ({"ForAllValues:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["a", "c"]}, False),
    ({"ForAllValues:StringEquals": {TAGS: ["a", "b"]}}, {}, True),
    ({"ForAnyValue:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["c", "b"]}, True),
    ({"ForAnyValue:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["c", "d"]}, False),
    ({"ForAnyValue:StringEquals": {TAGS: ["a", "b"]}}, {}, False),
    ({"ForAnyValue:StringEqualsIfExists": {TAGS: "a"}}, {}, True),
    ({"ForAllValues:StringNotEquals": {TAGS: ["a"]}}, {TAGS: ["b", "c"]}, True),
    ({"ForAllValues:StringNotEquals": {TAGS: ["a"]}}, {TAGS: ["b", "a"]}, False),
    ({"ForAnyValue:StringNotLike": {TAGS: ["a*"]}}, {TAGS: ["ab", "b"]}, True),
    ({"ForAllValues:StringLike": {TAGS: ["team-*"]}}, {TAGS: ["team-a", "team-b"]}, True),
    ({"ForAnyValue:NumericGreaterThan": {"k:n": "5"}}, {"k:n": ["1", "6"]}, True),
    ({"ForAllValues:ArnLike": {ARN: "arn:aws:s3:::*"}}, {ARN: ["arn:aws:s3:::a", "x"]}, False),
    ({"ForAnyValue:IpAddress": {IP: "10.0.0.0/8"}}, {IP: ["1.1.1.1", "10.9.9.9"]}, True),
    # Combining rules: AND across keys and operators
    (
        {"StringEquals": {TEAM: "a"}, "Bool": {"aws:SecureTransport": "true"}},
        {TEAM: ["a"], "aws:SecureTransport": ["false"]},
        False,
    ),
    (
        {"StringEquals": {TEAM: "a", "aws:username": "u"}},
        {TEAM: ["a"], "aws:username": ["u"]},
        True,
    ),
    # Policy variables and escapes (2012-10-17 only)
    ({"StringEquals": {TEAM: "${aws:username}"}}, {TEAM: ["bob"], "aws:username": ["bob"]}, True),
    ({"StringEquals": {TEAM: "${aws:username}"}}, {TEAM: ["bob"]}, False),
    (
        {"StringLike": {TEAM: "x-${aws:username}-*"}},
        {TEAM: ["x-b*-1"], "aws:username": ["b*"]},
        True,
    ),
    ({"StringLike": {TEAM: "x-${aws:username}"}}, {TEAM: ["x-bob"], "aws:username": ["b*"]}, False),
    ({"StringLike": {TEAM: "a${*}"}}, {TEAM: ["a*"]}, True),
    ({"StringLike": {TEAM: "a${*}"}}, {TEAM: ["ab"]}, False),
    ({"StringEquals": {TEAM: "${?}${$}"}}, {TEAM: ["?$"]}, True),
    (
        {"ArnLike": {ARN: "arn:aws:iam::*:user/${aws:username}"}},
        {ARN: ["arn:aws:iam::1:user/u"], "aws:username": ["u"]},
        True,
    ),
]

TABLE_2008: list[tuple[dict[str, Any], dict[str, list[str]], bool]] = [
    ({"StringEquals": {TEAM: "${aws:username}"}}, {TEAM: ["${aws:username}"]}, True),
    ({"StringEquals": {TEAM: "${aws:username}"}}, {TEAM: ["bob"], "aws:username": ["bob"]}, False),
    ({"StringLike": {TEAM: "${*}"}}, {TEAM: ["anything"]}, False),
]


@pytest.mark.parametrize(("block", "request_", "expected"), TABLE)
def test_encoder_and_evaluator_agree_with_the_table(
    block: dict[str, Any], request_: dict[str, list[str]], expected: bool
) -> None:
    assert evaluator_holds(block, request_) is expected
    assert z3_holds(block, request_) is expected


@pytest.mark.parametrize(("block", "request_", "expected"), TABLE_2008)
def test_variables_are_literal_text_under_2008(
    block: dict[str, Any], request_: dict[str, list[str]], expected: bool
) -> None:
    assert evaluator_holds(block, request_, "2008-10-17") is expected
    assert z3_holds(block, request_, "2008-10-17") is expected


def test_the_table_covers_every_operator_family_and_qualifier() -> None:
    used = {name.partition(":")[2] or name for block, _, _ in TABLE for name in block}
    bases = {n.removesuffix("IfExists") for n in used}
    assert set(OPERATORS) <= bases
    assert {parse_operator(n).family for b, _, _ in TABLE for n in b} == {  # type: ignore[union-attr]
        "string",
        "numeric",
        "date",
        "bool",
        "binary",
        "ip",
        "arn",
        "null",
    }


def test_unknown_operators_and_null_if_exists_are_unknown() -> None:
    assert parse_operator("StringEqual") is None
    assert parse_operator("NullIfExists") is None
    assert parse_operator("ForSomeValues:StringEquals") is None
    op = parse_operator("ForAnyValue:StringNotLikeIfExists")
    assert op is not None and op.negated and op.like and op.if_exists


# --- rewrites through the checker ------------------------------------------------------


def _equivalence(a: dict[str, Any], b: dict[str, Any]) -> Any:
    return verify_equivalence(policy(a), policy(b), CATALOG, timeout=20)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"StringEquals": {TEAM: ["a", "b", "c"]}}, {"StringEquals": {TEAM: ["c", "a", "b"]}}),
        ({"StringEquals": {TEAM: "a"}}, {"StringEquals": {TEAM: ["a"]}}),
        (
            {"IpAddress": {IP: "10.0.0.0/8"}},
            {"IpAddress": {IP: ["10.0.0.0/9", "10.128.0.0/9"]}},
        ),
        (
            {"StringEquals": {TEAM: "a"}, "Bool": {"aws:SecureTransport": "true"}},
            {"Bool": {"aws:securetransport": True}, "StringLike": {"AWS:PrincipalTag/team": "a"}},
        ),
        ({"ArnEquals": {ARN: "arn:aws:s3:::b*"}}, {"ArnLike": {ARN: "arn:aws:s3:::b*"}}),
        ({"NumericLessThan": {"k:n": "10"}}, {"NumericLessThan": {"k:n": "10.00"}}),
        (
            {"DateLessThan": {NOW: "2026-01-01T00:00:00Z"}},
            {"DateLessThan": {NOW: "1767225600"}},
        ),
        (
            {"IpAddress": {IP: "2001:db8::/32"}},
            {"IpAddress": {IP: ["2001:db8::/33", "2001:db8:8000::/33"]}},
        ),
        ({"StringLike": {TEAM: "a**"}}, {"StringLike": {TEAM: "a*"}}),
        ({"Null": {TEAM: "true"}}, {"Null": {TEAM: True}}),
        (
            {"ForAllValues:StringLike": {TAGS: ["a*", "ab"]}},
            {"ForAllValues:StringLike": {TAGS: ["a*"]}},
        ),
    ],
)
def test_known_equivalent_rewrites_are_proved(a: dict[str, Any], b: dict[str, Any]) -> None:
    report = _equivalence(a, b)
    assert report.verdict is Verdict.PROVED, [c.reason for c in report.claims]


def _counterexample(a: dict[str, Any], b: dict[str, Any]) -> Any:
    report = _equivalence(a, b)
    assert report.verdict is Verdict.REFUTED
    cex = next(c.counterexample for c in report.claims if c.counterexample is not None)
    pa, pb = policy(a), policy(b)
    ca, cb = pa.statements[0].condition, pb.statements[0].condition
    assert ca is not None and cb is not None
    # The request the checker reports tells the two blocks apart in the evaluator.
    holds_a = concrete.condition_holds(ca, "2012-10-17", cex.request)
    holds_b = concrete.condition_holds(cb, "2012-10-17", cex.request)
    assert holds_a != holds_b
    return cex


def test_a_dropped_value_is_refuted_with_the_dropped_value() -> None:
    cex = _counterexample({"StringEquals": {TEAM: ["a", "b"]}}, {"StringEquals": {TEAM: ["a"]}})
    assert cex.request == {TEAM: ["b"]}
    assert f"{TEAM} = b" in cex.message
    assert "the condition of A statement 1 holds" in cex.message
    assert "the condition of B statement 1 fails" in cex.message


def test_like_replaced_by_equals_on_a_wildcard_value_is_refuted() -> None:
    cex = _counterexample({"StringLike": {TEAM: "dev-*"}}, {"StringEquals": {TEAM: "dev-*"}})
    (value,) = cex.request[TEAM]
    assert value.startswith("dev-") and value != "dev-*"


def test_if_exists_added_is_refuted_with_the_key_absent() -> None:
    cex = _counterexample({"StringEquals": {TEAM: "a"}}, {"StringEqualsIfExists": {TEAM: "a"}})
    assert cex.request == {}
    assert "no condition key is present" in cex.message


def test_ip_counterexample_is_written_as_an_address() -> None:
    cex = _counterexample({"IpAddress": {IP: "10.0.0.0/8"}}, {"IpAddress": {IP: "10.0.0.0/9"}})
    (value,) = cex.request[IP]
    assert ipaddress.ip_address(value) in ipaddress.ip_network("10.128.0.0/9")
    assert f"{IP} = {value}" in cex.message


def test_date_counterexample_is_written_as_iso_8601() -> None:
    cex = _counterexample(
        {"DateLessThan": {NOW: "2026-01-02T00:00:00Z"}},
        {"DateLessThan": {NOW: "2026-01-01T00:00:00Z"}},
    )
    (value,) = cex.request[NOW]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", value)
    stamp = datetime.fromisoformat(value)
    assert datetime(2026, 1, 1, tzinfo=UTC) <= stamp < datetime(2026, 1, 2, tzinfo=UTC)
    assert f"{NOW} = {value}" in cex.message


def test_for_all_values_counterexample_uses_several_values() -> None:
    cex = _counterexample(
        {"ForAnyValue:StringEquals": {TAGS: ["a"]}},
        {"ForAllValues:StringEquals": {TAGS: ["a"]}},
    )
    assert "a" in cex.request[TAGS] and len(cex.request[TAGS]) >= 2


def test_contradictory_conditions_allow_nothing() -> None:
    # Opaque atoms would find a counterexample; the semantics show the block never holds
    # for a key that AWS documents as single-valued (a tag key has one value).
    n, f = "aws:PrincipalTag/n", "aws:PrincipalTag/b"
    a = {"NumericLessThan": {n: "1"}, "NumericGreaterThan": {n: "2"}}
    b = {"Null": {n: "true"}, "NumericLessThanIfExists": {n: "1"}, "Bool": {f: "true"}}
    c = {"Null": {n: "true"}, "NumericLessThan": {n: "1"}}
    report = verify_equivalence(policy(a), policy(c), CATALOG, timeout=20)
    assert report.verdict is Verdict.PROVED
    report = verify_equivalence(policy(a), policy(b), CATALOG, timeout=20)
    assert report.verdict is Verdict.REFUTED
    report = verify_equivalence(policy(a), policy(b), CATALOG, subset=True, timeout=20)
    assert report.verdict is Verdict.PROVED


def test_contradiction_on_a_key_that_may_hold_several_values_is_refuted() -> None:
    # `k:n` is no documented single-valued key: with values 0 and 3 both comparisons
    # hold, and the evaluator agrees.
    a = {"NumericLessThan": {"k:n": "1"}, "NumericGreaterThan": {"k:n": "2"}}
    c = {"Null": {"k:n": "true"}, "NumericLessThan": {"k:n": "1"}}
    cex = _counterexample(a, c)
    assert len(cex.request["k:n"]) == 2
    condition = policy(a).statements[0].condition
    assert condition is not None
    assert concrete.condition_holds(condition, "2012-10-17", cex.request)


def test_resource_policy_variables_have_semantics() -> None:
    home = policy(None, Resource="arn:aws:s3:::b/${aws:username}/*")
    bob = policy({"StringEquals": {"aws:username": "bob"}}, Resource="arn:aws:s3:::b/bob/*")
    report = verify_equivalence(bob, home, CATALOG, subset=True, timeout=20)
    assert report.verdict is Verdict.PROVED
    report = verify_equivalence(home, bob, CATALOG, subset=True, timeout=20)
    assert report.verdict is Verdict.REFUTED
    cex = next(c.counterexample for c in report.claims if c.counterexample is not None)
    name = cex.request["aws:username"][0]
    assert name != "bob" and cex.resource.startswith(f"arn:aws:s3:::b/{name}/")


def test_resource_escapes_are_literal_characters() -> None:
    star = policy(None, Resource="arn:aws:s3:::b/${*}")
    literal = policy(None, Resource="arn:aws:s3:::b/*")
    report = verify_equivalence(star, literal, CATALOG, subset=True, timeout=20)
    assert report.verdict is Verdict.PROVED
    report = verify_equivalence(literal, star, CATALOG, subset=True, timeout=20)
    assert report.verdict is Verdict.REFUTED


# --- input errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"StringEqualz": {TEAM: "a"}}, "unknown condition operator `StringEqualz`"),
        ({"NullIfExists": {TEAM: "true"}}, "unknown condition operator `NullIfExists`"),
        ({"ForSome:StringEquals": {TEAM: "a"}}, "unknown condition operator"),
        ({"IpAddress": {IP: "10.0.0.0/33"}}, "not an IP address or CIDR block"),
        ({"IpAddress": {IP: "10.0.0.256"}}, "not an IP address or CIDR block"),
        ({"IpAddress": {IP: "2001:db8:::1/64"}}, "not an IP address or CIDR block"),
        ({"DateLessThan": {NOW: "2026-13-01T00:00:00Z"}}, "not an ISO 8601 date"),
        ({"DateLessThan": {NOW: "tomorrow"}}, "not an ISO 8601 date"),
        ({"NumericLessThan": {"k:n": "ten"}}, "not a number"),
        ({"NumericLessThan": {"k:n": "1e3"}}, "not a number"),
        ({"Bool": {"aws:SecureTransport": "yes"}}, "expected `true` or `false`"),
        ({"Null": {TEAM: "maybe"}}, "expected `true` or `false`"),
        ({"NumericLessThan": {"k:n": "${aws:username}"}}, "policy variables are supported only"),
        (
            {"StringEqualsIgnoreCase": {TEAM: "${aws:username}"}},
            "iamrefine does not model a policy variable in a case-insensitive value",
        ),
    ],
)
def test_unknown_operators_and_malformed_values_are_input_errors(
    block: dict[str, Any], message: str
) -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*", "Condition": block},
            ],
        },
        indent=2,
    )
    bad = parse_policy(text, "bad.json")
    good = policy(None)
    with pytest.raises(InputError) as info:
        verify_equivalence(good, bad, CATALOG, timeout=5)
    (diag,) = info.value.diagnostics
    assert message in diag.message
    assert diag.file == "bad.json" and diag.line is not None and diag.line > 5


# --- parsing and rendering helpers ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.7",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "2001:db8::1",
        "fe80::1:2:3:4",
        "1:2:3:4:5:6:7:8",
        "::ffff:10.0.0.1",
        "2001:db8:0:0:1::",
    ],
)
def test_addresses_parse_and_render_like_the_standard_library(text: str) -> None:
    parsed = parse_address(text)
    assert parsed is not None
    std = ipaddress.ip_address(text)
    assert parsed == (std.version, int(std))
    if std.version == 6 and "." not in text:
        assert render_address(parsed[1], False) == str(std)
    if std.version == 4:
        assert render_address(parsed[1], True) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        "2024-02-29T12:00:00Z",
        "1970-01-01T00:00:00Z",
        "1969-07-20T20:17:40Z",
        "2100-03-01T00:00:00.25Z",
    ],
)
def test_dates_round_trip(text: str) -> None:
    value = parse_date(text)
    assert value is not None
    assert render_date(value) == text
    std = datetime.fromisoformat(text)
    assert value == int(std.timestamp()) + (
        std.microsecond and __import__("fractions").Fraction(std.microsecond, 10**6)
    )


@pytest.mark.slow
@pytest.mark.skipif(not cvc5_available(), reason="cvc5 is not installed")
@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        (
            {"IpAddress": {IP: "10.0.0.0/8"}},
            {"IpAddress": {IP: ["10.0.0.0/9", "10.128.0.0/9"]}},
            "PROVED",
        ),
        (
            {"DateLessThan": {NOW: "2026-01-01T00:00:00Z"}},
            {"DateLessThan": {NOW: "1767225600"}},
            "PROVED",
        ),
        ({"NumericLessThan": {"k:n": "1.5"}}, {"NumericLessThan": {"k:n": "1.49"}}, "REFUTED"),
        (
            {"ForAllValues:StringLike": {TAGS: ["a*", "b"]}},
            {"ForAllValues:StringLike": {TAGS: ["a*"]}},
            "REFUTED",
        ),
        (
            {"ArnLike": {ARN: "arn:aws:iam::*:user/${aws:username}"}},
            {"ArnLike": {ARN: "arn:aws:iam::*:user/*"}, "Null": {"aws:username": "false"}},
            "REFUTED",
        ),
    ],
)
def test_z3_and_cvc5_agree_on_the_full_semantics(
    a: dict[str, Any], b: dict[str, Any], verdict: str
) -> None:
    # 5 s: for the last case neither engine decides `A within B` (it stays UNKNOWN), and
    # the REFUTED verdict comes from the other direction at once.
    report = verify_equivalence(policy(a), policy(b), CATALOG, engine="both", timeout=5)
    assert report.verdict.value == verdict


def test_equiv_cli_reports_the_request_and_rejects_a_bad_cidr(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from iamrefine.cli.app import app

    def write(name: str, block: dict[str, Any]) -> str:
        st = {"Sid": "Net", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
        doc = {"Version": "2012-10-17", "Statement": [{**st, "Condition": block}]}
        path = tmp_path / name
        path.write_text(json.dumps(doc, indent=2))
        return str(path)

    a = write("a.json", {"IpAddress": {IP: "10.0.0.0/8"}})
    b = write("b.json", {"IpAddress": {IP: ["10.0.0.0/9", "10.128.0.0/9"]}})
    c = write("c.json", {"IpAddress": {IP: "10.0.0.0/9"}})
    bad = write("bad.json", {"IpAddress": {IP: "10.0.0.0/33"}})
    runner = CliRunner()
    assert runner.invoke(app, ["equiv", a, b]).exit_code == 0
    refuted = runner.invoke(app, ["equiv", a, c])
    assert refuted.exit_code == 1
    assert f"{IP} = 10." in refuted.output
    assert "(Sid Net) fails" in refuted.output
    error = runner.invoke(app, ["equiv", a, bad])
    assert error.exit_code == 2
    assert "bad.json:" in error.output and "not an IP address or CIDR block" in error.output
