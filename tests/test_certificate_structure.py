"""`verify` re-derives the structure of a refinement (issue 13, item 3).

A certificate is only as good as what its checker re-derives. These tests forge
certificates whose claims the solvers do prove, or would prove under a wrong condition
semantics, but whose refined policy is not what the refiner makes: a Deny statement
changed, dropped or added, a frame changed, origins out of order, an Allow statement
dropped while it allows used actions, and so on. Each one must make `verify` report
INVALID in its `structure` part, for the reason named.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.certificate import (
    CertificateReport,
    build_certificate,
    certificate_text,
    check_certificate,
    parse_certificate,
)
from iamrefine.errors import CertificateError
from iamrefine.model import Policy
from iamrefine.parse import policy_from_json
from iamrefine.refine import refine_policy
from iamrefine.structure import structure_problems
from iamrefine.unused import UnusedSet

Json = dict[str, Any]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _policy(statements: list[Json], name: str = "p.json") -> Policy:
    return policy_from_json({"Version": "2012-10-17", "Statement": statements}, name)


def _forge(
    original: list[Json],
    refined: list[Json],
    origin: list[int],
    catalog: Catalog,
    unused: frozenset[str] = frozenset(),
    solvers: tuple[str, ...] = ("z3",),
) -> CertificateReport:
    """Build a certificate of ``refined`` as the refinement of ``original`` through
    :func:`build_certificate`, from the refiner's own result with the policy and the
    statement origins replaced, record every claim as PROVED as a forger would, and
    check it."""
    old = _policy(original, "orig.json")
    new = _policy(refined, "forged.json")
    uset = UnusedSet(unused, "u.json")
    result = refine_policy(old, uset, catalog)
    forged = dataclasses.replace(
        result,
        policy=new,
        statement_origin=origin,
        pattern_origins=[
            (i, p, p)
            for i, st in zip(origin, new.statements, strict=True)
            if st.is_allow and st.action is not None
            for p in st.action.values
        ],
        changed=True,
    )
    cert = build_certificate(forged, uset, catalog)
    data = json.loads(certificate_text(cert))
    for claim in data["claims"]:
        claim.update(verdict="PROVED", reason=None)
    return check_certificate(parse_certificate(json.dumps(data)), catalog, solvers=solvers)


def _structure(report: CertificateReport) -> str:
    return "\n".join(f.message for f in report.failures if f.part == "structure")


ALLOW_S3 = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
TEAM_PRESENT = {"Null": {"aws:PrincipalTag/team": "false"}}
TEAM_BOOL = {"Bool": {"aws:PrincipalTag/team": ["true", "false"]}}


def _solver_sets() -> list[tuple[str, ...]]:
    try:
        import cvc5  # noqa: F401
    except ImportError:
        return [("z3",)]
    return [("z3",), ("z3", "cvc5")]


@pytest.mark.parametrize("solvers", _solver_sets(), ids="+".join)
def test_the_forged_certificate_of_issue_13_is_invalid(
    catalog: Catalog, solvers: tuple[str, ...]
) -> None:
    # Original: Allow s3:*; Deny PutObject when the team tag is present; Deny DeleteObject
    # when the tag is `true` or `false`. Forged: the PutObject Deny is dropped and
    # PutObject moved into the Bool Deny. For `team=engineering` the original denies
    # PutObject and the forged policy allows it.
    report = _forge(
        [
            ALLOW_S3,
            {
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": TEAM_PRESENT,
            },
            {
                "Effect": "Deny",
                "Action": "s3:DeleteObject",
                "Resource": "*",
                "Condition": TEAM_BOOL,
            },
        ],
        [
            ALLOW_S3,
            {
                "Effect": "Deny",
                "Action": ["s3:DeleteObject", "s3:PutObject"],
                "Resource": "*",
                "Condition": TEAM_BOOL,
            },
        ],
        [0, 2],
        catalog,
        solvers=solvers,
    )
    assert report.status == "INVALID", report.render()
    assert "structure" in report.failed_parts
    text = _structure(report)
    assert "refined Statement[1] (from original Statement[2]) changes a Deny statement's" in text
    assert "original Statement[1], a Deny statement, is missing from the refined policy" in text


def test_a_forgery_the_condition_encoding_decides_exactly_is_invalid(catalog: Catalog) -> None:
    # StringEquals and StringLike without wildcards mean the same, and the encoder
    # decides both exactly, so both claims are re-derived as PROVED: only the structure
    # tells that a Deny statement was dropped and another one changed.
    alice_equals = {"StringEquals": {"aws:username": "alice"}}
    alice_like = {"StringLike": {"aws:username": "alice"}}
    report = _forge(
        [
            ALLOW_S3,
            {
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": alice_equals,
            },
            {
                "Effect": "Deny",
                "Action": "s3:DeleteObject",
                "Resource": "*",
                "Condition": alice_like,
            },
        ],
        [
            ALLOW_S3,
            {
                "Effect": "Deny",
                "Action": ["s3:DeleteObject", "s3:PutObject"],
                "Resource": "*",
                "Condition": alice_like,
            },
        ],
        [0, 2],
        catalog,
    )
    assert report.claims["exact over the catalog"] == "PROVED", report.render()
    assert report.claims["no escalation for any action string"] == "PROVED"
    assert report.failed_parts == ["structure"], report.render()
    text = _structure(report)
    assert "changes a Deny statement's action element" in text
    assert "original Statement[1], a Deny statement, is missing" in text


def test_a_deny_statement_moved_to_another_allow_frame_is_invalid(catalog: Catalog) -> None:
    # The refined Deny claims an Allow statement as its origin.
    report = _forge(
        [ALLOW_S3, {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
        [ALLOW_S3, {"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}],
        [0, 1],
        catalog,
    )
    assert report.status == "INVALID"
    assert (
        "refined Statement[1] (from original Statement[1]) is Deny where the original is Allow"
        in _structure(report)
    )


def test_partition_numbers_must_name_the_rederived_partitions_one_to_one(
    catalog: Catalog,
) -> None:
    policy = _policy([ALLOW_S3])
    uset = UnusedSet(frozenset({"s3:putobject"}), "u.json")
    cert = build_certificate(refine_policy(policy, uset, catalog), uset, catalog)
    data = json.loads(certificate_text(cert))
    users = [o for o in data["obligations"] if o["partition"] == 0]
    assert len(users) >= 2
    data["partitions"].append(copy.deepcopy(data["partitions"][0]))
    users[1]["partition"] = 1
    report = check_certificate(parse_certificate(json.dumps(data)), catalog)
    assert report.status == "INVALID", report.render()
    assert "partition 1, which another obligation built on a different partition" in "\n".join(
        f.message for f in report.failures
    )


def test_an_unknown_engine_is_a_malformed_certificate(catalog: Catalog) -> None:
    policy = _policy([ALLOW_S3])
    uset = UnusedSet(frozenset({"s3:putobject"}), "u.json")
    cert = build_certificate(refine_policy(policy, uset, catalog), uset, catalog)
    data = json.loads(certificate_text(cert))
    data["refinement"]["engine"] = "oracle"
    with pytest.raises(CertificateError, match="unknown engine `oracle`"):
        check_certificate(parse_certificate(json.dumps(data)), catalog)


# --- each structural assumption, on its own ------------------------------------------------

GET = {"Effect": "Allow", "Action": ["s3:Get*", "s3:ListBucket"], "Resource": "*"}
DENY = {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::b"}
NOT_ACTION = {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}


def _problems(
    original: list[Json],
    refined: list[Json] | None,
    origin: list[int],
    catalog: Catalog,
    unused: set[str],
    version: str = "2012-10-17",
) -> list[str]:
    new = None
    if refined is not None:
        new = policy_from_json({"Version": version, "Statement": refined}, "r.json")
    return structure_problems(
        _policy(original), new, frozenset(unused), catalog, origin, pattern_origins=()
    )


def _refiner_output(original: list[Json], unused: set[str], catalog: Catalog) -> list[Json]:
    from iamrefine.write import policy_to_json

    result = refine_policy(_policy(original), UnusedSet(frozenset(unused), "u"), catalog)
    assert result.policy is not None
    out: list[Json] = policy_to_json(result.policy)["Statement"]
    return out


UNUSED = {"s3:getobjectacl", "s3:listbucket", "iam:passrole", "ec2:runinstances"}


def test_the_refiners_own_output_has_its_structure(catalog: Catalog) -> None:
    original = [GET, DENY, NOT_ACTION]
    for strategy in ("patterns", "notaction"):
        result = refine_policy(
            _policy(original), UnusedSet(frozenset(UNUSED), "u"), catalog, strategy=strategy
        )
        assert result.changed
        assert (
            structure_problems(
                result.original,
                result.policy,
                frozenset(UNUSED),
                catalog,
                result.statement_origin,
                result.pattern_origins,
            )
            == []
        )


def _case(catalog: Catalog, edit: Any) -> list[str]:
    """The problems of the refiner's output for [GET, DENY, NOT_ACTION] after ``edit``,
    which returns (statements, origin) or (statements, origin, version)."""
    refined = copy.deepcopy(_refiner_output([GET, DENY, NOT_ACTION], UNUSED, catalog))
    args = edit(refined)
    return _problems([GET, DENY, NOT_ACTION], *args[:2], catalog, UNUSED, *args[2:])


def _set(statement: Json, **changes: Any) -> Json:
    statement.update(changes)
    return statement


def _swap(statement: Json, old: str, new: str, value: Any) -> Json:
    del statement[old]
    statement[new] = value
    return statement


CASES: list[tuple[str, Any, str]] = [
    ("untouched", lambda r: (r, [0, 1, 2]), ""),
    (
        "deny resource changed",
        lambda r: ([r[0], _set(r[1], Resource="arn:aws:s3:::c"), r[2]], [0, 1, 2]),
        "refined Statement[1] (from original Statement[1]) differs from its original in more",
    ),
    (
        "deny action changed",
        lambda r: ([r[0], _set(r[1], Action=["s3:DeleteBucket", "s3:PutObject"]), r[2]], [0, 1, 2]),
        "changes a Deny statement's action element",
    ),
    (
        "deny action form changed",
        lambda r: ([r[0], _set(r[1], Action=["s3:DeleteBucket"]), r[2]], [0, 1, 2]),
        "changes a Deny statement's action element",
    ),
    (
        "deny dropped",
        lambda r: ([r[0], r[2]], [0, 2]),
        "original Statement[1], a Deny statement, is missing",
    ),
    (
        "deny condition added",
        lambda r: (
            [r[0], _set(r[1], Condition={"Bool": {"aws:SecureTransport": "false"}}), r[2]],
            [0, 1, 2],
        ),
        "differs from its original in more than its action element",
    ),
    (
        "allow sid added",
        lambda r: ([_set(r[0], Sid="New"), r[1], r[2]], [0, 1, 2]),
        "refined Statement[0] (from original Statement[0]) differs from its original",
    ),
    (
        "origins out of order",
        lambda r: ([r[1], r[0], r[2]], [1, 0, 2]),
        "refined Statement[1] names original Statement[0] as its origin, out of order",
    ),
    (
        "origins repeated",
        lambda r: ([r[0], r[0], r[1], r[2]], [0, 0, 1, 2]),
        "names original Statement[0] as its origin, out of order",
    ),
    ("origins out of range", lambda r: (r, [0, 1, 3]), "out of order or out of range"),
    ("origins too few", lambda r: (r, [0, 1]), "2 statement origin(s) for 3 refined statement(s)"),
    (
        "allow dropped with used actions",
        lambda r: ([r[1], r[2]], [1, 2]),
        "original Statement[0] is dropped, but `s3:Get*` allows",
    ),
    (
        "not-action allow dropped",
        lambda r: ([r[0], r[1]], [0, 1]),
        "original Statement[2], an Allow statement with NotAction, is missing",
    ),
    (
        "kept pattern matches an unused action",
        lambda r: ([_set(r[0], Action=["s3:Get*"]), r[1], r[2]], [0, 1, 2]),
        "`s3:Get*` matches unused action(s) `s3:GetObjectAcl`",
    ),
    (
        "generated pattern outside the original",
        lambda r: ([_set(r[0], Action=[*r[0]["Action"], "s3:PutObject"]), r[1], r[2]], [0, 1, 2]),
        "`s3:PutObject` is contained in no pattern of the original statement",
    ),
    (
        "used action lost",
        lambda r: (
            [_set(r[0], Action=[p for p in r[0]["Action"] if p != "s3:GetObject"]), r[1], r[2]],
            [0, 1, 2],
        ),
        "the original pattern `s3:Get*` allows `s3:GetObject`, which is not unused",
    ),
    (
        "not-action values reordered",
        lambda r: (
            [r[0], r[1], _set(r[2], NotAction=[*r[2]["NotAction"][1:], "iam:*"])],
            [0, 1, 2],
        ),
        "the NotAction list does not start with the original's values",
    ),
    (
        "not-action gains a used action",
        lambda r: (
            [r[0], r[1], _set(r[2], NotAction=[*r[2]["NotAction"], "s3:GetObject"])],
            [0, 1, 2],
        ),
        "`s3:GetObject`, added to NotAction, is not an unused catalog action",
    ),
    (
        "not-action misses an unused action",
        lambda r: (
            [
                r[0],
                r[1],
                _set(r[2], NotAction=[v for v in r[2]["NotAction"] if v != "ec2:RunInstances"]),
            ],
            [0, 1, 2],
        ),
        "still allows unused action(s) `ec2:RunInstances`",
    ),
    (
        "action turned into not-action without a star",
        lambda r: ([_swap(r[0], "Action", "NotAction", sorted(UNUSED)), r[1], r[2]], [0, 1, 2]),
        "turns Action into NotAction, but no original pattern is `*`",
    ),
    (
        "not-action turned into action",
        lambda r: ([r[0], r[1], _swap(r[2], "NotAction", "Action", "iam:GetUser")], [0, 1, 2]),
        "turns NotAction into Action",
    ),
    (
        "version changed",
        lambda r: (r, [0, 1, 2], "2008-10-17"),
        "the refined document differs from the original outside its statements",
    ),
]


@pytest.mark.parametrize(("edit", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_structural_assumption_is_checked(catalog: Catalog, edit: Any, reason: str) -> None:
    problems = _case(catalog, edit)
    if not reason:
        assert problems == []
    else:
        assert any(reason in p for p in problems), problems


def test_statements_are_compared_as_text_not_as_python_values(catalog: Catalog) -> None:
    # 1 == 1.0 == True in Python; a refinement never rewrites a condition value.
    def numeric(value: Any) -> list[Json]:
        return [dict(GET, Condition={"NumericLessThan": {"s3:max-keys": value}})]

    for value, other in ((1, 1.0), (1, True), ("1", 1)):
        assert _problems(numeric(value), numeric(value), [0], catalog, set()) == []
        problems = _problems(numeric(value), numeric(other), [0], catalog, set())
        assert any("differs from its original in more than its action" in p for p in problems)


def test_a_star_allow_may_become_not_action(catalog: Catalog) -> None:
    star = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    unused = {"s3:getobject", "iam:passrole"}
    ok = _problems(
        [star],
        [{"Effect": "Allow", "NotAction": ["iam:PassRole", "s3:GetObject"], "Resource": "*"}],
        [0],
        catalog,
        unused,
    )
    assert ok == []
    short = _problems(
        [star],
        [{"Effect": "Allow", "NotAction": ["iam:PassRole"], "Resource": "*"}],
        [0],
        catalog,
        unused,
    )
    assert any("still allows unused action(s) `s3:GetObject`" in p for p in short)


def test_a_star_allow_written_as_not_action_leaves_its_context(catalog: Catalog) -> None:
    # `Action: "*"` beside another Allow statement of its context: the NotAction form is
    # the star's own refinement, and the other statement is checked against its own
    # patterns, not against `*`.
    star = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    read = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
    unused = {"s3:putobject", "iam:passrole"}
    not_action = {"Effect": "Allow", "NotAction": ["iam:PassRole", "s3:PutObject"], "Resource": "*"}
    assert _problems([star, read], [not_action, read], [0, 1], catalog, unused) == []
    # The other statement is still held to its own actions.
    short = dict(read, Action=["s3:GetObject"])
    lost = _problems([star, read], [not_action, short], [0, 1], catalog, unused)
    assert any("`s3:ListBucket`" in p and "no refined pattern matches" in p for p in lost)
    wide = dict(read, Action=["s3:GetObject", "s3:ListBucket", "s3:Put*"])
    grown = _problems([star, read], [not_action, wide], [0, 1], catalog, unused)
    assert any("`s3:Put*` is contained in no pattern" in p for p in grown)


def test_a_detached_policy_needs_every_statement_fully_unused(catalog: Catalog) -> None:
    one = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}
    assert _problems([one], None, [], catalog, {"s3:getobject", "s3:putobject"}) == []
    half = _problems([one], None, [], catalog, {"s3:getobject"})
    assert any("`s3:PutObject` allows `s3:PutObject`, which is not unused" in p for p in half)
    ghost = {"Effect": "Allow", "Action": "s3:NoSuchAction", "Resource": "*"}
    assert any(
        "matches no catalog action" in p for p in _problems([ghost], None, [], catalog, set())
    )
    denied = _problems([one, DENY], None, [], catalog, {"s3:getobject", "s3:putobject"})
    assert any("a Deny statement, is missing" in p for p in denied)


def test_statements_of_one_context_may_be_merged(catalog: Catalog) -> None:
    # The size optimizer merges the Allow statements with Action of one context (the
    # Sid aside) into the first: their union is checked against the originals' union.
    get = {"Sid": "Get", "Effect": "Allow", "Action": "s3:GetObject*", "Resource": "*"}
    put = {"Sid": "Put", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"}
    other = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}
    unused = {"s3:getobjectacl"}
    wanted = {a for a in catalog.expand("s3:GetObject*") if a != "s3:getobjectacl"}
    cover = sorted(catalog.canonical(a) for a in wanted)
    ok = dict(get, Action=[*cover, "s3:PutObject"])
    assert _problems([get, put], [ok], [0], catalog, unused) == []
    # A merged statement must still cover every used action of each original.
    lost = dict(get, Action=cover)
    assert any(
        "the original pattern `s3:PutObject` allows `s3:PutObject`" in p
        for p in _problems([get, put], [lost], [0], catalog, unused)
    )
    # Statements of different contexts are never merged.
    across = _problems(
        [get, other], [dict(get, Action=[*cover, "s3:PutObject"])], [0], catalog, unused
    )
    assert any("original Statement[1] is dropped" in p for p in across)
    assert any("contained in no pattern of the original statement" in p for p in across)
    # A pattern contained in no original pattern of the context is refused.
    wide = _problems([get, put], [dict(get, Action=[*cover, "s3:Put*"])], [0], catalog, unused)
    assert any("`s3:Put*` is contained in no pattern of the original statements" in p for p in wide)
