"""Condition blocks decided key by key (issue 15 item 17; Lemma 12 of THEOREMS.md).

``equiv`` between policies whose blocks test many keys with many values used to send
one query with every key's semantics to the solver (UNKNOWN after 124 s at 18 operators
x 30 keys x 50 values); a query is now decided per key component, and its proof is the
abstraction plus the clauses those per-key queries justify."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import z3

from iamrefine.catalog import Catalog
from iamrefine.conditions import concrete
from iamrefine.conditions.split import components, restrict
from iamrefine.model import Policy
from iamrefine.parse import parse_policy
from iamrefine.verify import Verdict, verify_equivalence

CATALOG = Catalog.from_names(["s3:GetObject", "s3:PutObject"], source="by-key")
V = "2012-10-17"


def _policy(block: dict[str, Any]) -> Policy:
    st = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": block}
    return parse_policy(json.dumps({"Version": V, "Statement": [st]}))


def _block(keys: int, values: int, *, changed: bool = False) -> dict[str, Any]:
    """String, numeric, date, address and ARN operators, each on its own keys (a key's
    operators are satisfiable together); with ``changed`` one StringEquals value differs."""
    r = range(values)
    ops: dict[str, Any] = {}
    for j in range(keys):
        s, n, d, i, a = (f"aws:PrincipalTag/{f}{j}" for f in "sndia")
        equals = [f"v{j}x{k}" for k in r]
        if changed and j == 0:
            equals[-1] += "changed"
        rows = {
            "StringEquals": (s, equals),
            "StringEqualsIgnoreCase": (s, [f"V{j}X{k}" for k in r]),
            "StringLike": (s, [f"v{j}x{k}*" for k in r]),
            "StringNotEquals": (s, [f"n{j}x{k}" for k in r]),
            "StringNotLike": (s, [f"n{j}*z{k}" for k in r]),
            "NumericEquals": (n, [str(1000 * j + k) for k in r]),
            "NumericNotEquals": (n, [str(1000 * j + 500 + k) for k in r]),
            "NumericLessThan": (n, [str(1000 * j + 900 + k) for k in r]),
            "DateGreaterThan": (d, [f"2019-{1 + j % 12:02d}-{1 + k:02d}T00:00:00Z" for k in r]),
            "DateLessThan": (d, [f"2022-{1 + j % 12:02d}-{1 + k:02d}T00:00:00Z" for k in r]),
            "IpAddress": (i, [f"10.{j}.{k}.0/24" for k in r]),
            "NotIpAddress": (i, [f"11.{j}.{k}.0/24" for k in r]),
            "ArnLike": (a, [f"arn:aws:s3:::b{j}-{k}/*" for k in r]),
            "ArnNotLike": (a, [f"arn:aws:s3:::n{j}-{k}/*" for k in r]),
        }
        for op, (key, vals) in rows.items():
            ops.setdefault(op, {})[key] = vals
    return ops


def _by_key(report: Any) -> list[str]:
    return [o.name for o in report.obligations if ": condition keys {" in o.name]


def test_one_changed_value_is_refuted_one_way_and_proved_the_other() -> None:
    a, b = _policy(_block(2, 3)), _policy(_block(2, 3, changed=True))
    report = verify_equivalence(a, b, CATALOG, engine="z3")
    verdicts = {c.name: c.verdict for c in report.claims}
    assert verdicts == {
        "A within B over the catalog": Verdict.REFUTED,
        "A within B for any action string": Verdict.REFUTED,
        "B within A over the catalog": Verdict.PROVED,
        "B within A for any action string": Verdict.PROVED,
    }
    for claim in report.claims:
        if claim.verdict is Verdict.REFUTED:
            cex = claim.counterexample
            assert cex is not None and cex.request is not None
            ca, cb = a.statements[0].condition, b.statements[0].condition
            assert ca is not None and cb is not None
            assert concrete.condition_holds(ca, V, cex.request)
            assert not concrete.condition_holds(cb, V, cex.request)
            assert cex.request["aws:PrincipalTag/s0"] == ["v0x2"]
    # The proof went key by key: the one key whose parts differ needed the semantics.
    names = _by_key(report)
    assert any("{aws:principaltag/s0}" in n for n in names)
    proofs = [o for o in report.obligations if o.claim.startswith("B within A")]
    assert all(o.status.value == "unsat" for o in proofs if o.role == "proof")
    # Each obligation of the proof, abstraction and part queries alike, is SMT-LIB text
    # that Z3 decides unsat on its own (what a certificate carries).
    for o in proofs:
        if o.role == "proof":
            s = z3.Solver()
            s.from_string(o.smtlib())
            assert s.check() == z3.unsat, o.name


def test_a_block_that_no_request_satisfies_is_within_anything() -> None:
    # Two values for one single-valued key: A allows nothing, so A is within B.
    a = _policy(
        {"StringEquals": {"aws:SourceVpc": "vpc-1"}, "StringLike": {"aws:SourceVpc": "vpc-2*"}}
    )
    b = _policy({"StringEquals": {"aws:SourceVpc": "vpc-3"}})
    report = verify_equivalence(a, b, CATALOG, subset=True, engine="z3")
    assert report.verdict is Verdict.PROVED
    assert _by_key(report)


def test_keys_linked_by_a_policy_variable_are_one_component() -> None:
    a = _policy(
        {
            "StringEquals": {"aws:PrincipalTag/team": "${aws:PrincipalTag/dept}"},
            "StringLike": {"aws:PrincipalTag/dept": "eng-*", "aws:SourceVpc": "vpc-*"},
        }
    )
    b = _policy(
        {
            "StringEquals": {"aws:PrincipalTag/team": "${aws:PrincipalTag/dept}"},
            "StringLike": {"aws:PrincipalTag/dept": "eng*", "aws:SourceVpc": "vpc-*"},
        }
    )
    cond = a.statements[0].condition
    assert cond is not None
    of = components([(cond, V)])
    assert of["aws:principaltag/team"] == of["aws:principaltag/dept"]
    assert of["aws:sourcevpc"] != of["aws:principaltag/team"]
    report = verify_equivalence(a, b, CATALOG, engine="z3")
    verdicts = {c.name: c.verdict for c in report.claims}
    assert verdicts["A within B over the catalog"] is Verdict.PROVED
    assert verdicts["B within A over the catalog"] is Verdict.REFUTED
    cex = next(c.counterexample for c in report.claims if c.counterexample is not None)
    assert cex.request is not None
    assert cex.request["aws:PrincipalTag/dept"][0].startswith("eng")
    assert not cex.request["aws:PrincipalTag/dept"][0].startswith("eng-")


@pytest.mark.parametrize("seed", range(4))
def test_a_block_holds_iff_each_of_its_parts_does(seed: int) -> None:
    rng = random.Random(seed)
    block = _block(2, 3)
    policy = _policy(block)
    cond = policy.statements[0].condition
    assert cond is not None
    of = components([(cond, V)])
    parts = [restrict(cond, V, comp, of) for comp in set(of.values())]
    entries = sum(len(c.entries) for c in cond.clauses)
    assert sum(len(c.entries) for p in parts if p for c in p.clauses) == entries
    named = [v for clause in block.values() for vals in clause.values() for v in vals]
    keys = [k for clause in block.values() for k in clause]
    for _ in range(40):
        request = {
            k: [rng.choice(named).replace("*", "x").split("/")[0]]
            for k in rng.sample(keys, rng.randint(0, len(keys)))
        }
        whole = concrete.condition_holds(cond, V, request)
        assert whole == all(concrete.condition_holds(p, V, request) for p in parts if p)
