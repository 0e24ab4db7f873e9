"""The reference evaluator: IAM evaluation of one policy, and the enumerating judges."""

from __future__ import annotations

from typing import Any

import pytest

from iamrefine.model import Policy
from iamrefine.parse import policy_from_json
from iamrefine.reference import (
    Decision,
    atom_keys,
    condition_key,
    contexts,
    evaluate,
    judge_containment,
    judge_refinement,
    principal_key,
    resource_variable_key,
)


def policy(*statements: dict[str, Any], version: str | None = "2012-10-17") -> Policy:
    doc: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        doc = {"Version": version, **doc}
    return policy_from_json(doc)


def test_allow_and_implicit_deny() -> None:
    p = policy({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"})
    assert evaluate(p, "s3:GetObject", "arn:aws:s3:::b/k", {}) == Decision(True, [0], [])
    assert evaluate(p, "s3:PutObject", "arn:aws:s3:::b/k", {}) == Decision(False, [], [])


def test_explicit_deny_wins() -> None:
    p = policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::b/*"},
    )
    assert evaluate(p, "s3:DeleteObject", "arn:aws:s3:::b/k", {}) == Decision(False, [0], [1])
    assert evaluate(p, "s3:DeleteObject", "arn:aws:s3:::c/k", {}).allowed


def test_actions_fold_ascii_case_only() -> None:
    p = policy({"Effect": "Allow", "Action": "IAM:listAccessKeys", "Resource": "*"})
    assert evaluate(p, "iam:ListAccessKeys", "*", {}).allowed
    # The Kelvin sign folds to `k` under str.lower, never under IAM's ASCII folding.
    assert not evaluate(p, "iam:listaccess\u212aeys", "*", {}).allowed


def test_resources_are_case_sensitive_and_brackets_literal() -> None:
    p = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::B/[a]?"})
    assert evaluate(p, "s3:GetObject", "arn:aws:s3:::B/[a]x", {}).allowed
    assert not evaluate(p, "s3:GetObject", "arn:aws:s3:::b/[a]x", {}).allowed
    assert not evaluate(p, "s3:GetObject", "arn:aws:s3:::B/ax", {}).allowed


def test_not_action_and_not_resource() -> None:
    p = policy({"Effect": "Allow", "NotAction": ["iam:*"], "NotResource": "arn:aws:s3:::secret*"})
    assert evaluate(p, "s3:GetObject", "arn:aws:s3:::public", {}).allowed
    assert evaluate(p, "newsvc:Anything", "x", {}).allowed
    assert not evaluate(p, "IAM:CreateUser", "x", {}).allowed
    assert not evaluate(p, "s3:GetObject", "arn:aws:s3:::secret/1", {}).allowed


def test_missing_resource_matches_every_resource() -> None:
    p = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"})
    key = principal_key(p.statements[0])
    assert key is not None
    assert evaluate(p, "s3:GetObject", "anything", {key: True}).allowed
    assert not evaluate(p, "s3:GetObject", "anything", {key: False}).allowed


def test_conditions_are_read_from_the_context() -> None:
    p = policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        }
    )
    cond = p.statements[0].condition
    assert cond is not None
    key = condition_key(cond, "2012-10-17")
    assert key == cond.canonical()
    assert evaluate(p, "s3:GetObject", "*", {key: True}).allowed
    assert not evaluate(p, "s3:GetObject", "*", {key: False}).allowed
    with pytest.raises(KeyError):
        evaluate(p, "s3:GetObject", "*", {})


def test_condition_key_carries_the_version_only_with_variables() -> None:
    p = policy(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:username": "${aws:username}"}},
        }
    )
    cond = p.statements[0].condition
    assert cond is not None
    assert condition_key(cond, "2012-10-17") != condition_key(cond, "2008-10-17")


def test_policy_variables_are_opaque_only_under_2012() -> None:
    element = "arn:aws:s3:::home/${aws:username}/*"
    st = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": element}
    new = policy(st)
    key = resource_variable_key(element, "2012-10-17")
    assert atom_keys(new) == [key]
    assert evaluate(new, "s3:GetObject", "whatever", {key: True}).allowed
    assert not evaluate(
        new, "s3:GetObject", "arn:aws:s3:::home/${aws:username}/x", {key: False}
    ).allowed
    old = policy(st, version=None)
    assert atom_keys(old) == []
    assert evaluate(old, "s3:GetObject", "arn:aws:s3:::home/${aws:username}/x", {}).allowed
    assert not evaluate(old, "s3:GetObject", "arn:aws:s3:::home/alice/x", {}).allowed


def test_detached_policy_allows_nothing() -> None:
    assert evaluate(None, "s3:GetObject", "*", {}) == Decision(False, [], [])
    assert atom_keys(None) == []


def test_contexts_enumerate_every_assignment() -> None:
    p = policy(
        {"Effect": "Allow", "Action": "a:x", "Resource": "*", "Condition": {"Bool": {"k": "1"}}},
        {"Effect": "Deny", "Action": "a:x", "Resource": "*", "Condition": {"Bool": {"k": "2"}}},
    )
    all_ctx = list(contexts([p, p]))
    assert len(all_ctx) == 4
    assert {tuple(sorted(c.values())) for c in all_ctx} == {
        (False, False),
        (False, True),
        (True, True),
    }


def test_judges() -> None:
    orig = policy({"Effect": "Allow", "Action": "a:*", "Resource": "*"})
    good = policy({"Effect": "Allow", "Action": ["a:x"], "Resource": "*"})
    bad = policy({"Effect": "Allow", "Action": ["a:x", "a:y"], "Resource": "*"})
    actions = ["a:x", "a:y"]
    assert judge_refinement(orig, good, ["a:Y"], actions, ["r"]) is None
    v = judge_refinement(orig, bad, ["a:y"], actions, ["r"])
    assert v is not None and v.kind == "over" and v.action == "a:y"
    v = judge_refinement(orig, good, [], actions, ["r"])
    assert v is not None and v.kind == "under"
    assert judge_containment(good, orig, ["a:x", "b:x", "a:"], ["r"]) is None
    v = judge_containment(orig, good, ["a:x", "a:z"], ["r"])
    assert v is not None and v.kind == "escalation" and v.action == "a:z"
