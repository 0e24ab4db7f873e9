"""The ARN segment rule for Resource wildcards (issue 13): the evaluator, the encoder and
the checker agree, and the review's false PROVED is REFUTED."""

from __future__ import annotations

import json

import pytest
import z3

from iamrefine.catalog import Catalog
from iamrefine.conditions import concrete
from iamrefine.encode import Encoder
from iamrefine.glob import resource_matches
from iamrefine.parse import parse_policy
from iamrefine.solver import new_context, string_value
from iamrefine.verify import Verdict, verify_equivalence

CATALOG = Catalog.from_names(["ec2:StartInstances", "s3:GetObject"], source="segments")

CASES = [
    ("arn:aws:ec2:*3:instance/i-1", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", False),
    ("arn:aws:ec2:*:instance/i-1", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", True),
    ("*", "arn:aws:s3:::a:b", True),
    ("arn:aws:s3:::b/*", "arn:aws:s3:::b/x:y", True),
    ("arn:aws:s3:::b/*x", "arn:aws:s3:::b/a:x", False),
    ("arn:aws:s3:::b/*x", "arn:aws:s3:::b/ax", True),
    ("a?c", "a:c", False),
    ("a?c", "abc", True),
    ("arn:aws:iam::*:role/x", "arn:aws:iam::1:2:role/x", True),
    ("*a*", "b:a:c", False),
    ("*a*", "ba:c", True),
    ("x*y*", "x:y", False),
    ("x**:y", "x:z:y", True),
    ("", "", True),
    ("a", "a:", False),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), CASES)
def test_matcher_follows_the_segment_rule(pattern: str, resource: str, expected: bool) -> None:
    assert resource_matches(pattern, resource) is expected


@pytest.mark.parametrize(("pattern", "resource", "expected"), CASES)
def test_encoder_agrees_with_the_matcher(pattern: str, resource: str, expected: bool) -> None:
    ctx = new_context()
    enc = Encoder(ctx)
    s = z3.Solver(ctx=ctx)
    s.add(enc.resource == string_value(resource, ctx))
    s.add(z3.InRe(enc.resource, enc.resource_regex(pattern)))
    assert (s.check() == z3.sat) is expected


@pytest.mark.parametrize(("pattern", "resource", "expected"), CASES)
def test_variable_resources_follow_the_same_rule(
    pattern: str, resource: str, expected: bool
) -> None:
    # A variable in front changes nothing but what it substitutes (literally).
    element = "${aws:username}" + pattern
    request = {"aws:username": ["u"]}
    assert concrete.resource_holds(element, "u" + resource, request) is expected


def _doc(resource: str) -> object:
    st = {"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": resource}
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [st]}))


def test_review_case_is_refuted() -> None:
    exact = _doc("arn:aws:ec2:us-east-1:111122223333:instance/i-1")
    wild = _doc("arn:aws:ec2:*3:instance/i-1")
    report = verify_equivalence(exact, wild, CATALOG, subset=True, timeout=30)  # type: ignore[arg-type]
    assert report.verdict is Verdict.REFUTED


def test_segment_final_star_still_covers() -> None:
    exact = _doc("arn:aws:ec2:us-east-1:111122223333:instance/i-1")
    wild = _doc("arn:aws:ec2:*:instance/i-1")
    report = verify_equivalence(exact, wild, CATALOG, subset=True, timeout=30)  # type: ignore[arg-type]
    assert report.verdict is Verdict.PROVED
