"""Unit tests of the refinement engine: word splitting, the trie index, every rule,
statements, warnings and the worked example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cases import WORKED_S3_EXPECTED
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.choices import Optimize
from iamrefine.model import Policy, Statement, ValueList
from iamrefine.parse import load_policy, parse_policy
from iamrefine.refine import (
    MANAGED_POLICY_QUOTA,
    catalog_index,
    refine_policy,
    split_words,
    word_boundaries,
)
from iamrefine.unused import UnusedSet, load_unused, parse_unused

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "access-analyzer-blog"


def _catalog(*names: str) -> Catalog:
    return Catalog.from_names(names, source="test")


def _policy(*statements: dict[str, object]) -> Policy:
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    return parse_policy(json.dumps(doc, indent=2), "p.json")


def _allow(*actions: str, resource: str = "*") -> dict[str, object]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resource}


def _refine(catalog: Catalog, policy: Policy, unused: list[str], **kw: object):  # type: ignore[no-untyped-def]
    return refine_policy(policy, UnusedSet.from_names(unused, catalog), catalog, **kw)  # type: ignore[arg-type]


def _actions(result, i: int = 0) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.policy is not None
    return list(result.policy.statements[i].action_element.values)


# --- words and index ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("s3:GetBucketCORS", ["s3:", "Get", "Bucket", "CORS"]),
        ("s3:GetBucketCORSConfiguration", ["s3:", "Get", "Bucket", "CORS", "Configuration"]),
        ("ec2:AssignIpv6Addresses", ["ec2:", "Assign", "Ipv", "6", "Addresses"]),
        ("s3:GetS3Object", ["s3:", "Get", "S", "3", "Object"]),
        (
            "vpc-lattice:AssociateViaAWSService-Events",
            ["vpc-lattice:", "Associate", "Via", "AWS", "Service", "-", "Events"],
        ),
        ("cloudsearch:search", ["cloudsearch:", "search"]),
        ("apigateway:GET", ["apigateway:", "GET"]),
        ("appsync:GraphQL", ["appsync:", "Graph", "QL"]),
    ],
)
def test_split_words(name: str, words: list[str]) -> None:
    assert split_words(name) == words
    assert "".join(words) == name


def test_word_boundaries_exclude_the_full_length() -> None:
    assert word_boundaries("s3:GetObject") == [3, 6]
    assert word_boundaries("s3:GetObjectAcl") == [3, 6, 12]


def test_word_boundaries_agree_with_split_words_on_the_catalog() -> None:
    for name in load_catalog().actions[::7]:
        total, cuts = 0, []
        for word in split_words(name):
            total += len(word)
            cuts.append(total)
        assert word_boundaries(name) == [c for c in cuts if c < len(name)]


def test_node_covers_names_that_do_not_break_there() -> None:
    cat = _catalog("s3:GetAccessPoint", "s3:GetAccessible", "s3:GetAcl")
    index = catalog_index(cat, "word")
    lo, hi = index.range_of("s3:get")
    kids = [(cut, end - start) for cut, start, end in index.children(lo, hi, len("s3:get"))]
    # `s3:getaccess` is a node (from GetAccessPoint) and covers GetAccessible too.
    assert kids == [(len("s3:getaccess"), 2), (len("s3:getacl"), 1)] or kids == [
        (len("s3:getaccess"), 2),
        (None, 1),
    ]


def test_index_is_cached_per_digest_and_granularity() -> None:
    cat = _catalog("s3:GetObject", "s3:PutObject")
    assert catalog_index(cat, "word") is catalog_index(cat, "word")
    assert catalog_index(cat, "char") is not catalog_index(cat, "word")


# --- the worked example --------------------------------------------------------------


def test_worked_example_matches_the_documented_result() -> None:
    catalog = load_catalog()
    policy = load_policy(EXAMPLE / "policy.json")
    unused = load_unused(EXAMPLE / "unused.json", catalog)
    result = refine_policy(policy, unused, catalog)
    assert result.recommended_action == "CREATE_POLICY"
    assert _actions(result, 0) == ["lambda:Invoke*"]
    assert _actions(result, 1) == WORKED_S3_EXPECTED
    assert result.warnings == []
    assert result.statement_origin == [0, 1]
    s3 = next(r for r in result.replacements if r.original_pattern == "s3:Get*")
    assert s3.trace.rule == "prefix"
    unsafe = {n.pattern: n.witness for n in s3.trace.nodes if not n.safe}
    assert unsafe["s3:GetAccelerate*"] == "s3:GetAccelerateConfiguration"
    assert ("s3:GetAccess*", "s3:Get*", "s3:GetAccelerateConfiguration") in (
        s3.trace.least_generality()
    )


def test_worked_example_with_character_granularity() -> None:
    catalog = load_catalog()
    policy = load_policy(EXAMPLE / "policy.json")
    unused = load_unused(EXAMPLE / "unused.json", catalog)
    result = refine_policy(policy, unused, catalog, granularity="char")
    s3 = _actions(result, 1)
    assert "s3:GetAcces*" in s3
    trace = next(r.trace for r in result.replacements if r.original_pattern == "s3:Get*")
    unsafe = {n.pattern: n.witness for n in trace.nodes if not n.safe}
    assert unsafe["s3:GetAcc*"] == "s3:GetAccelerateConfiguration"


# --- rule 1: trailing star -------------------------------------------------------------

S3 = _catalog(
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectTagging",
    "s3:GetBucketAcl",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:PutObject",
    "s3:ListBucket",
    "ec2:DescribeInstances",
    "ec2:DescribeImages",
    "ec2:RunInstances",
    "iam:GetUser",
    "iam:GetRole",
)


def test_exact_leaf_for_an_action_that_is_also_a_node() -> None:
    result = _refine(S3, _policy(_allow("s3:GetObject*")), ["s3:GetObjectAcl"])
    assert _actions(result) == ["s3:GetObject", "s3:GetObjectTagging"]


def test_shortest_safe_prefix_is_kept_general() -> None:
    result = _refine(S3, _policy(_allow("s3:*")), ["s3:GetBucketAcl"])
    assert _actions(result) == [
        "s3:GetBucketPolicy*",
        "s3:GetObject*",
        "s3:ListBucket",
        "s3:PutObject",
    ]


def test_bare_star_yields_one_pattern_per_fully_kept_service() -> None:
    result = _refine(S3, _policy(_allow("*")), ["s3:PutObject"])
    assert _actions(result) == ["ec2:*", "iam:*", "s3:Get*", "s3:ListBucket"]


def test_pattern_without_unused_actions_stays_as_written() -> None:
    result = _refine(S3, _policy(_allow("S3:get*", "ec2:Describe*")), ["iam:GetUser"])
    assert not result.changed
    assert result.policy == result.original
    assert result.replacements == []


def test_case_insensitive_input_gives_canonical_output() -> None:
    result = _refine(S3, _policy(_allow("S3:getobject*")), ["s3:getobjectacl"])
    assert _actions(result) == ["s3:GetObject", "s3:GetObjectTagging"]


# --- rule 2: infix star ------------------------------------------------------------------


def test_infix_star_keeps_the_tail() -> None:
    cat = _catalog(
        "ec2:DescribeInstances",
        "ec2:DescribeReservedInstances",
        "ec2:DescribeSpotInstances",
        "ec2:DescribeSpotPriceHistory",
        "ec2:DescribeImages",
    )
    result = _refine(cat, _policy(_allow("ec2:Describe*Instances")), ["ec2:DescribeSpotInstances"])
    # `ec2:DescribeInstances` is matched by no node `s*Instances` below `ec2:Describe`
    # whose prefix leaves room for the tail, so it falls back to its exact name.
    assert _actions(result) == ["ec2:DescribeInstances", "ec2:DescribeReservedInstances"]
    assert result.replacements[0].trace.rule == "infix"


def test_infix_star_emits_general_nodes() -> None:
    cat = _catalog(
        "cloudformation:CreateStack",
        "cloudformation:CreateStackSet",
        "cloudformation:DeleteStack",
        "cloudformation:DeleteStackSet",
        "cloudformation:ListStacks",
    )
    result = _refine(cat, _policy(_allow("cloudformation:*Stack*")), ["cloudformation:ListStacks"])
    assert _actions(result) == ["cloudformation:Create*Stack*", "cloudformation:Delete*Stack*"]


# --- rules 3 and 4: service split, question mark ------------------------------------------


def test_wildcard_service_splits_per_service() -> None:
    result = _refine(S3, _policy(_allow("*:Get*")), ["s3:GetBucketAcl", "iam:GetRole"])
    assert _actions(result) == ["iam:GetUser", "s3:GetBucketPolicy*", "s3:GetObject*"]
    assert result.replacements[0].trace.rule == "service"


def test_wildcard_service_keeps_fully_kept_services_as_sub_patterns() -> None:
    result = _refine(S3, _policy(_allow("*:Describe*", "s3:*")), ["s3:PutObject"])
    assert _actions(result)[0] == "*:Describe*"
    result = _refine(S3, _policy(_allow("*:Get*")), ["iam:GetRole"])
    assert _actions(result) == ["iam:GetUser", "s3:Get*"]


def test_question_mark_branches_on_the_character() -> None:
    cat = _catalog("iam:GetUser", "iam:GetRser", "iam:GetUserPolicy")
    result = _refine(cat, _policy(_allow("iam:Get?ser")), ["iam:GetRser"])
    assert _actions(result) == ["iam:GetUser"]
    assert result.replacements[0].trace.rule == "single"
    result = _refine(cat, _policy(_allow("iam:Get?ser*")), ["iam:GetRser"])
    assert _actions(result) == ["iam:GetUser*"]


# --- statements --------------------------------------------------------------------------


def test_statement_without_actions_left_is_removed() -> None:
    policy = _policy(
        _allow("s3:PutObject"),
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
        _allow("iam:GetUser"),
    )
    result = _refine(S3, policy, ["s3:PutObject"])
    assert result.statement_origin == [1, 2]
    assert result.policy is not None
    assert result.policy.statements[0] == policy.statements[1]


def test_everything_unused_detaches() -> None:
    result = _refine(S3, _policy(_allow("iam:Get*")), ["iam:GetUser", "iam:GetRole"])
    assert result.policy is None
    assert result.recommended_action == "DETACH_POLICY"
    assert result.changed and result.detached


def test_deny_is_never_changed() -> None:
    deny = {"Effect": "Deny", "Action": ["s3:*"], "Resource": "*"}
    result = _refine(S3, _policy(deny, _allow("ec2:*")), ["s3:PutObject", "ec2:RunInstances"])
    assert result.policy is not None
    assert result.policy.statements[0] == result.original.statements[0]
    assert _actions(result, 1) == ["ec2:Describe*"]


def test_not_action_grows_and_becomes_a_list() -> None:
    st = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    result = _refine(S3, _policy(st), ["s3:PutObject", "iam:GetUser", "ec2:RunInstances"])
    assert result.policy is not None
    new = result.policy.statements[0]
    assert new.not_action is not None and new.not_action.is_list
    assert new.not_action.values == ["iam:*", "ec2:RunInstances", "s3:PutObject"]
    assert result.notaction_changes[0].added == ("ec2:RunInstances", "s3:PutObject")
    assert result.pattern_origins == []


def test_strategy_notaction_rewrites_star_only() -> None:
    policy = _policy(
        {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}, _allow("s3:Get*")
    )
    unused = ["s3:PutObject", "iam:GetUser", "s3:GetBucketAcl"]
    result = _refine(S3, policy, unused, strategy="notaction")
    assert result.policy is not None
    first, second = result.policy.statements
    assert first.action is None and first.not_action is not None
    assert first.not_action.values == ["iam:GetUser", "s3:GetBucketAcl", "s3:PutObject"]
    assert first.keys == ["Sid", "Effect", "NotAction", "Resource"]
    assert second.action is not None and second.action.values == [
        "s3:GetBucketPolicy*",
        "s3:GetObject*",
    ]
    assert result.notaction_changes[0].from_action


def test_duplicates_are_not_repeated() -> None:
    result = _refine(S3, _policy(_allow("s3:GetObject*", "s3:GetObject")), ["s3:GetObjectAcl"])
    assert _actions(result) == ["s3:GetObject", "s3:GetObjectTagging"]
    origins = [(p, o) for _, p, o in result.pattern_origins]
    assert origins == [("s3:GetObject", "s3:GetObject*"), ("s3:GetObjectTagging", "s3:GetObject*")]


def test_other_elements_are_kept() -> None:
    st = {
        "Sid": "Read",
        "Effect": "Allow",
        "Resource": ["arn:aws:s3:::b/*"],
        "Action": "s3:GetObject*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }
    result = _refine(S3, _policy(st), ["s3:GetObjectAcl"])
    assert result.policy is not None
    new = result.policy.statements[0]
    old = result.original.statements[0]
    assert new.keys == old.keys
    assert (new.sid, new.resource, new.condition) == (old.sid, old.resource, old.condition)
    assert new.action is not None and new.action.is_list


def test_single_remaining_pattern_keeps_string_form() -> None:
    st = {"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}
    result = _refine(S3, _policy(st), ["iam:GetRole"])
    assert result.policy is not None
    action = result.policy.statements[0].action
    assert action == ValueList(values=["iam:GetUser"], is_list=False)


# --- warnings ----------------------------------------------------------------------------


def test_unknown_names_and_empty_patterns_warn_with_positions() -> None:
    text = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",\n'
        '  "Action": ["s3:GetObjekt", "s3:Nothing*", "nosuch:Get"], "Resource": "*"}]}'
    )
    policy = parse_policy(text, "w.json")
    result = refine_policy(policy, UnusedSet.from_names([], S3), S3)
    rendered = [w.render() for w in result.warnings]
    assert rendered == [
        "w.json:2:14: warning: unknown action `s3:GetObjekt` (not in the catalog); kept as written",
        "w.json:2:30: warning: `s3:Nothing*` matches no action in the catalog; kept as written",
        "w.json:2:45: warning: unknown service in `nosuch:Get` (not in the catalog); "
        "kept as written",
        "<unused>: warning: the unused-actions input lists no catalog actions; "
        "the policy is unchanged",
    ]
    assert not result.changed


def test_quota_warning_says_by_how_much() -> None:
    names = [f"svc:Action{i:05d}Name" for i in range(600)]
    cat = _catalog(*names)
    unused = names[::2]
    result = _refine(cat, _policy(_allow("svc:*")), unused, optimize=Optimize.readable)
    assert result.size is not None and result.size > MANAGED_POLICY_QUOTA
    (warning,) = result.warnings
    over = result.size - MANAGED_POLICY_QUOTA
    assert f"{over:,} over the managed-policy quota of 6,144" in warning.message
    assert warning.severity == "warning"


def test_quota_warning_suggests_notaction_for_star() -> None:
    names = [f"svc:Action{i:05d}Name" for i in range(600)]
    cat = _catalog(*names)
    result = _refine(cat, _policy(_allow("*")), names[::2], optimize=Optimize.readable)
    assert "--strategy notaction" in result.warnings[0].message
    compact = _refine(
        cat, _policy(_allow("*")), names[::2], strategy="notaction", optimize=Optimize.readable
    )
    assert compact.size is not None and compact.size > MANAGED_POLICY_QUOTA
    # By default the optimizer then writes NotAction patterns that match only unused
    # actions (`svc:*0Name`, ...), which fit.
    fitted = _refine(cat, _policy(_allow("*")), names[::2], strategy="notaction")
    assert fitted.size is not None and fitted.size <= MANAGED_POLICY_QUOTA
    assert fitted.quota is not None and fitted.quota.optimizer is not None


# --- unused input that changes nothing ----------------------------------------------------


def _ineffective(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [w.render() for w in result.warnings if w.file == "u.json"]


@pytest.mark.parametrize("text", ["[]", "", "# nothing\n", '{"findingDetails": []}'])
def test_empty_unused_input_warns(text: str) -> None:
    unused = parse_unused(text, S3, "u.json")
    result = refine_policy(_policy(_allow("s3:*")), unused, S3)
    assert not result.changed
    assert _ineffective(result) == [
        "u.json: warning: the unused-actions input lists no catalog actions; "
        "the policy is unchanged"
    ]


def test_unused_actions_the_policy_never_allowed_warn_once() -> None:
    policy = _policy(_allow("s3:Get*"), {"Effect": "Deny", "Action": "iam:*", "Resource": "*"})
    names = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "iam:GetUser", "iam:GetRole"]
    unused = UnusedSet.from_names([*names, "ec2:RunInstances", "ec2:DescribeImages"], S3, "u.json")
    result = refine_policy(policy, unused, S3)
    # A Deny statement allows nothing, so `iam:*` there does not count.
    (warning,) = result.warnings
    assert warning.render() == (
        "u.json: warning: 6 unused actions are not allowed by the policy and change nothing: "
        "`ec2:DescribeImages`, `ec2:RunInstances`, `iam:GetRole`, `iam:GetUser`, "
        "`s3:ListBucket` (and 1 more)"
    )
    assert warning.line is None and warning.severity == "warning"
    one = refine_policy(policy, UnusedSet.from_names(["s3:PutObject"], S3, "u.json"), S3)
    assert _ineffective(one) == [
        "u.json: warning: 1 unused action is not allowed by the policy and changes nothing: "
        "`s3:PutObject`"
    ]


def test_whole_service_without_allowed_actions_warns_by_service() -> None:
    text = json.dumps(
        [
            {"serviceNamespace": "ec2"},
            {"serviceNamespace": "IAM"},
            {"serviceNamespace": "s3", "actions": ["GetObject"]},
        ]
    )
    unused = parse_unused(text, S3, "u.json")
    result = refine_policy(_policy(_allow("iam:GetUser", "s3:GetObject")), unused, S3)
    # `iam:GetRole` is not allowed either, but its service was given whole and the
    # policy allows `iam:GetUser` from it, so nothing is said about it.
    assert _ineffective(result) == [
        "u.json: warning: 1 unused service given whole has no action that the policy "
        "allows and changes nothing: `ec2`"
    ]
    both = refine_policy(_policy(_allow("s3:GetObject")), unused, S3)
    assert _ineffective(both) == [
        "u.json: warning: 2 unused services given whole have no action that the policy "
        "allows and change nothing: `ec2`, `iam`"
    ]


@pytest.mark.parametrize(
    ("statement", "strategy", "outside"),
    [
        (_allow("s3:PutObject", "s3:GetObjectAcl", "ec2:RunInstances"), "patterns", "s3:GetObject"),
        (_allow("s3:*", "ec2:Run*"), "patterns", "ec2:DescribeImages"),
        (_allow("*:*Object*", "ec2:R?nInstances"), "patterns", "s3:ListBucket"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "patterns", "iam:GetRole"),
        (_allow("*"), "patterns", None),
        (_allow("*"), "notaction", None),
    ],
)
def test_no_warning_when_the_policy_allows_every_unused_action(
    statement: dict[str, object], strategy: str, outside: str | None
) -> None:
    unused = ["s3:PutObject", "s3:GetObjectAcl", "ec2:RunInstances"]
    result = _refine(S3, _policy(statement), unused, strategy=strategy)
    assert result.warnings == []
    if outside is not None:
        # The same policy with one unused action that it does not allow does warn.
        result = _refine(S3, _policy(statement), [*unused, outside], strategy=strategy)
        assert [w.message for w in result.warnings] == [
            f"1 unused action is not allowed by the policy and changes nothing: `{outside}`"
        ]


def test_not_action_that_excludes_an_unused_action_does_not_allow_it() -> None:
    st = {"Effect": "Allow", "NotAction": ["s3:PutObject", "iam:*"], "Resource": "*"}
    result = _refine(S3, _policy(st), ["s3:PutObject", "ec2:RunInstances"])
    assert [w.message for w in result.warnings] == [
        "1 unused action is not allowed by the policy and changes nothing: `s3:PutObject`"
    ]


# --- results ------------------------------------------------------------------------------


def test_pattern_origins_cover_every_new_action_pattern() -> None:
    policy = _policy(_allow("s3:Get*", "iam:GetUser"), _allow("ec2:*"))
    result = _refine(S3, policy, ["s3:GetObjectAcl", "ec2:RunInstances"])
    assert result.policy is not None
    expected = [
        (si, p)
        for st, si in zip(result.policy.statements, result.statement_origin, strict=True)
        for p in st.action_element.values
    ]
    assert [(si, p) for si, p, _ in result.pattern_origins] == expected
    assert (0, "iam:GetUser", "iam:GetUser") in result.pattern_origins
    assert (1, "ec2:Describe*", "ec2:*") in result.pattern_origins


def test_removed_exact_name_is_recorded() -> None:
    result = _refine(S3, _policy(_allow("s3:PutObject", "s3:ListBucket")), ["s3:PutObject"])
    (rep,) = result.replacements
    assert rep.original_pattern == "s3:PutObject" and rep.new_patterns == ()
    assert rep.trace.rule == "exact"
    assert rep.trace.nodes[0].witness == "s3:PutObject"


def test_catalog_provenance_is_recorded() -> None:
    result = _refine(S3, _policy(_allow("s3:*")), [])
    assert result.catalog["digest"] == S3.digest
    assert result.catalog["source"] == "test"


def test_statement_model_is_constructed_directly() -> None:
    policy = Policy(
        version="2012-10-17",
        statements=[
            Statement(
                effect="Allow",
                action=ValueList(values=["s3:Get*"], is_list=False),
                resource=ValueList(values=["*"], is_list=False),
                keys=["Effect", "Action", "Resource"],
            )
        ],
        keys=["Version", "Statement"],
    )
    result = refine_policy(policy, UnusedSet.from_names(["s3:GetBucketAcl"], S3), S3)
    assert _actions(result) == ["s3:GetBucketPolicy*", "s3:GetObject*"]
    assert result.warnings == []
