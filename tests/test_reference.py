"""The reference evaluator: IAM evaluation of one policy, and the enumerating judges."""

from __future__ import annotations

from typing import Any

import pytest

from iamrefine.catalog import Catalog
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
    request_context,
    resource_variable_key,
)
from iamrefine.solver import cvc5_available
from iamrefine.unused import UnusedSet
from iamrefine.verify import Verdict, verify_refinement


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


# --- concrete mode -------------------------------------------------------------

HOME = "arn:aws:s3:::home/${aws:username}/*"
DOCS = "arn:aws:s3:::home/${aws:username}/docs/*"
ACTIONS = ["s3:GetObject", "s3:PutObject"]
CATALOG = Catalog.from_names(ACTIONS, source="test")
RESOURCES = ["arn:aws:s3:::home/alice/docs/a", "arn:aws:s3:::home/alice/b", "arn:aws:s3:::other"]
REQUESTS: list[dict[str, list[str]]] = [
    {},
    {"aws:username": ["alice"]},
    {"aws:username": ["bob"]},
    {"k": ["v1"]},
    {"k": ["v2"]},
]


def allow(resource: str | list[str], condition: dict[str, Any] | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Action": "s3:*", "Resource": resource}
    return st if condition is None else {**st, "Condition": condition}


def test_request_context_reads_the_request() -> None:
    p = policy(allow([HOME, DOCS]), allow("*", {"StringLike": {"k": "v*"}}))
    cond = p.statements[1].condition
    assert cond is not None
    home = resource_variable_key(HOME, "2012-10-17")
    docs = resource_variable_key(DOCS, "2012-10-17")
    ctx = request_context([p], "arn:aws:s3:::home/alice/b", {"aws:username": ["alice"]})
    assert ctx == {home: True, docs: False, condition_key(cond, "2012-10-17"): False}
    ctx = request_context([p, None], "arn:aws:s3:::home/bob/b", {"aws:username": ["alice"]})
    assert ctx[home] is False


# Each original has a redundant part that real requests cannot tell apart (a Resource
# element within another one; a condition implying another) and its refinement drops it.
# Opaque atoms are independent, so the opaque judge sees the dropped part match alone
# (the variable element on `arn:aws:s3:::other`); no real request does, and the checker
# proves the refinement. Z3 alone does not decide the element-within-element query with
# one variable on both sides in 30 s; cvc5 does.
REDUNDANT = [
    (policy(allow(["arn:aws:s3:::home/*", HOME])), policy(allow("arn:aws:s3:::home/*")), "z3"),
    (
        policy(allow("*", {"StringLike": {"k": "v*"}}), allow("*", {"StringEquals": {"k": "v1"}})),
        policy(allow("*", {"StringLike": {"k": "v*"}})),
        "z3",
    ),
    pytest.param(
        policy(allow([HOME, DOCS])),
        policy(allow(HOME)),
        "cvc5",
        marks=pytest.mark.skipif(not cvc5_available(), reason="cvc5 is not installed"),
    ),
]


@pytest.mark.parametrize(("original", "refined", "engine"), REDUNDANT)
def test_concrete_mode_sees_only_real_requests(
    original: Policy, refined: Policy, engine: str
) -> None:
    opaque = judge_refinement(original, refined, [], ACTIONS, RESOURCES)
    assert opaque is not None and opaque.kind == "under" and opaque.request is None
    assert judge_refinement(original, refined, [], ACTIONS, RESOURCES, REQUESTS) is None
    assert judge_containment(original, refined, ACTIONS, RESOURCES, REQUESTS) is None
    report = verify_refinement(original, refined, UnusedSet(frozenset()), CATALOG, engine=engine)
    assert report.verdict is Verdict.PROVED, report.to_json()


def test_concrete_mode_finds_real_violations() -> None:
    original = policy(allow([HOME, DOCS]))
    refined = policy(allow(DOCS))
    report = verify_refinement(original, refined, UnusedSet(frozenset()), CATALOG, engine="z3")
    assert report.verdict is Verdict.REFUTED
    cex = next(c.counterexample for c in report.claims if c.counterexample is not None)
    assert cex.request
    v = judge_refinement(original, refined, [], ACTIONS, RESOURCES, REQUESTS)
    assert v is not None and v.kind == "under"
    assert v.resource == "arn:aws:s3:::home/alice/b" and v.request == {"aws:username": ["alice"]}
    assert judge_containment(refined, original, ACTIONS, RESOURCES, REQUESTS) is None
    v = judge_containment(original, refined, ACTIONS, RESOURCES, REQUESTS)
    assert v is not None and v.kind == "escalation"
    # The checker's own counterexample replays in concrete mode.
    v = judge_refinement(original, refined, [], [cex.action], [cex.resource], [cex.request])
    assert v is not None and v.request == cex.request
    assert judge_refinement(original, refined, [], ACTIONS, RESOURCES, []) is None


def test_concrete_mode_enumerates_principals() -> None:
    p = policy({**allow("*"), "Principal": "*"})
    key = principal_key(p.statements[0])
    v = judge_containment(p, None, ACTIONS, RESOURCES, [{}])
    assert v is not None and key is not None and v.context == {key: True}
    assert judge_containment(p, p, ACTIONS, RESOURCES, [{}]) is None


# --- atom keys --------------------------------------------------------------------

USER_PREFIX = {"StringEquals": {"s3:prefix": "${aws:username}"}}


def test_principal_keys_name_the_principal_whatever_its_key_order() -> None:
    p = policy(
        {"Effect": "Allow", "Principal": {"AWS": "a", "Service": "s"}, "Action": "s3:*"},
        {"Effect": "Allow", "Principal": {"Service": "s", "AWS": "a"}, "Action": "s3:*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": "a", "Service": "s"}, "Action": "s3:Put*"},
        {"Effect": "Deny", "NotPrincipal": {"Service": "s", "AWS": "a"}, "Action": "s3:Put*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": "b"}, "Action": "s3:Delete*"},
        {"Effect": "Deny", "Principal": {"AWS": "b"}, "Action": "s3:Delete*"},
    )
    keys = [principal_key(st) for st in p.statements]
    assert keys[0] == keys[1] and keys[2] == keys[3]
    # The verifier's counterexample messages read the kind back from the key's first word.
    assert keys[0] == 'Principal {"AWS": "a", "Service": "s"}'
    assert keys[2] == 'NotPrincipal {"AWS": "a", "Service": "s"}'
    assert len({keys[0], keys[2], keys[4], keys[5]}) == 4
    assert atom_keys(p) == [keys[0], keys[2], keys[4], keys[5]]
    ctx = {keys[0]: True, keys[2]: False, keys[4]: True, keys[5]: False}
    assert evaluate(p, "s3:PutObject", "r", ctx) == Decision(True, [0, 1], [])
    assert evaluate(p, "s3:DeleteObject", "r", ctx) == Decision(False, [0, 1], [4])


def test_atom_keys_cover_every_element_kind() -> None:
    p = policy(
        {"Effect": "Allow", "Action": "s3:*", "NotResource": ["arn:aws:s3:::x", HOME]},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Condition": USER_PREFIX},
    )
    cond = p.statements[1].condition
    principal = principal_key(p.statements[1])
    assert cond is not None and principal is not None
    home = resource_variable_key(HOME, "2012-10-17")
    user = condition_key(cond, "2012-10-17")
    assert user.endswith(" @2012-10-17")
    assert atom_keys(p) == [home, principal, user]
    # Every enumerated context has exactly the keys evaluation reads.
    for ctx in contexts([p]):
        evaluate(p, "s3:GetObject", "arn:aws:s3:::home/a", ctx)
    ctx = {home: False, principal: False, user: True}
    assert evaluate(p, "s3:GetObject", "arn:aws:s3:::home/a", ctx).allowed
    assert not evaluate(p, "s3:GetObject", "arn:aws:s3:::x", ctx).allowed
    assert not evaluate(p, "s3:GetObject", "arn:aws:s3:::home/a", {**ctx, home: True}).allowed
    request = {"aws:username": ["alice"], "s3:prefix": ["alice"]}
    got = request_context([None, p], "arn:aws:s3:::home/alice/b", request)
    assert got == {home: True, user: True}
    got = request_context([p], "arn:aws:s3:::home/bob/b", {**request, "s3:prefix": ["bob"]})
    assert got == {home: False, user: False}


def test_an_empty_resource_list_matches_nothing() -> None:
    # The parser refuses empty lists; the evaluator is still total on them.
    p = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    st = p.statements[0]
    empty = st.resource.model_copy(update={"values": []}) if st.resource is not None else None
    assert empty is not None
    none = p.model_copy(update={"statements": [st.model_copy(update={"resource": empty})]})
    assert not evaluate(none, "s3:GetObject", "r", {}).allowed
    every = st.model_copy(update={"resource": None, "not_resource": empty})
    assert evaluate(p.model_copy(update={"statements": [every]}), "s3:GetObject", "r", {}).allowed


def test_violations_carry_the_request_that_shows_them() -> None:
    original = policy(allow([HOME, DOCS]))
    refined = policy(allow(DOCS))
    v = judge_containment(original, refined, ACTIONS, RESOURCES, REQUESTS)
    assert v is not None
    assert v.resource == "arn:aws:s3:::home/alice/b" and v.request == {"aws:username": ["alice"]}
    home = resource_variable_key(HOME, "2012-10-17")
    docs = resource_variable_key(DOCS, "2012-10-17")
    assert v.context == {home: True, docs: False}
    v = judge_refinement(original, refined, [], ACTIONS, RESOURCES)
    assert v is not None and v.context == {home: True, docs: False}
