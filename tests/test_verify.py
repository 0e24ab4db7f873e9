"""The verifier on hand-made cases: verdicts, counterexamples, obligations, engines."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import z3

from cases import WORKED, worked_refined_json
from iamrefine import prove, reference, verify
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.errors import InternalError
from iamrefine.model import Policy
from iamrefine.parse import load_policy, policy_from_json
from iamrefine.solver import solve_cvc5
from iamrefine.unused import UnusedSet, load_unused
from iamrefine.verify import (
    CATALOG_CLAIM,
    STRINGS_CLAIM,
    Verdict,
    obligations,
    verify_equivalence,
    verify_refinement,
)

EXAMPLE = WORKED

# The refinement of the worked example (see tests/cases.py).
BLOG_REFINED = worked_refined_json()

NAMES = [
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetBucketAcl",
    "s3:PutObject",
    "s3:ListBucket",
    "iam:CreateUser",
    "iam:GetUser",
    "ec2:RunInstances",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_names(NAMES, source="test")


def pol(*statements: dict[str, Any], version: str = "2012-10-17") -> Policy:
    return policy_from_json({"Version": version, "Statement": list(statements)})


def allow(actions: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def unused_of(catalog: Catalog, *names: str) -> UnusedSet:
    return UnusedSet.from_names(list(names), catalog)


def claim(report: verify.CheckReport, name: str) -> verify.ClaimResult:
    return next(c for c in report.claims if c.name == name)


def check_replays(cex: verify.Counterexample, sides: dict[str, Policy | None]) -> None:
    """Independently of the verifier, the counterexample's decisions are the reference's."""
    for label, p in sides.items():
        got = reference.evaluate(p, cex.action, cex.resource, cex.context)
        assert got == cex.decisions[label]


# --- refinement -----------------------------------------------------------------------


def test_worked_example_by_hand_is_proved() -> None:
    cat = load_catalog()
    orig = load_policy(EXAMPLE / "policy.json")
    unused = load_unused(EXAMPLE / "unused.json", cat)
    report = verify_refinement(orig, policy_from_json(BLOG_REFINED), unused, cat, engine="z3")
    assert report.verdict is Verdict.PROVED, report.to_json()
    assert all(c.counterexample is None for c in report.claims)
    assert claim(report, CATALOG_CLAIM).stats["classes"] >= 2


def test_worked_example_by_the_refiner_is_proved_with_provenance() -> None:
    from iamrefine import refine

    cat = load_catalog()
    orig = load_policy(EXAMPLE / "policy.json")
    unused = load_unused(EXAMPLE / "unused.json", cat)
    result = refine.refine_policy(orig, unused, cat)
    report = verify.verify_result(result, unused, cat, engine="z3")
    assert report.verdict is Verdict.PROVED, report.to_json()


def test_keeping_an_unused_action_is_refuted(catalog: Catalog) -> None:
    orig = pol(allow("s3:Get*"))
    new = pol(allow(["s3:GetObject", "s3:GetObjectAcl", "s3:GetBucketAcl"]))
    report = verify_refinement(orig, new, unused_of(catalog, "s3:GetBucketAcl"), catalog)
    assert report.verdict is Verdict.REFUTED
    exact = claim(report, CATALOG_CLAIM)
    assert exact.verdict is Verdict.REFUTED
    cex = exact.counterexample
    assert cex is not None and cex.action == "s3:GetBucketAcl"
    assert cex.message == "the refined policy still allows unused `s3:GetBucketAcl` on `*`"
    check_replays(cex, {"original": orig, "refined": new})
    # Listing exact names never escalates.
    assert claim(report, STRINGS_CLAIM).verdict is Verdict.PROVED


def test_dropping_a_kept_action_is_refuted(catalog: Catalog) -> None:
    orig = pol(allow("s3:Get*", "arn:aws:s3:::b/*"))
    new = pol(allow(["s3:GetObject"], "arn:aws:s3:::b/*"))
    report = verify_refinement(orig, new, unused_of(catalog, "s3:GetBucketAcl"), catalog)
    cex = claim(report, CATALOG_CLAIM).counterexample
    assert cex is not None and cex.action == "s3:GetObjectAcl"
    assert (
        cex.message
        == "the refined policy no longer allows `s3:GetObjectAcl` on `arn:aws:s3:::b/example`"
    )
    check_replays(cex, {"original": orig, "refined": new})


def test_widening_a_pattern_escalates_beyond_the_catalog(catalog: Catalog) -> None:
    # Exact over this catalog, yet `s3:GetO*t` matches a future `s3:GetOutput` that
    # `s3:*Object` never allowed.
    orig = pol(allow("s3:*Object"))
    new = pol(allow("s3:GetO*t"))
    report = verify_refinement(orig, new, unused_of(catalog, "s3:PutObject"), catalog)
    assert claim(report, CATALOG_CLAIM).verdict is Verdict.PROVED
    strings = claim(report, STRINGS_CLAIM)
    assert strings.verdict is Verdict.REFUTED
    cex = strings.counterexample
    assert cex is not None and not cex.in_catalog
    assert reference.evaluate(new, cex.action, cex.resource, cex.context).allowed
    assert not reference.evaluate(orig, cex.action, cex.resource, cex.context).allowed
    assert "(not a catalog action)" in cex.message


def test_case_changes_are_proved(catalog: Catalog) -> None:
    orig = pol(
        allow(["s3:GetObject", "IAM:Get*"]), {"Effect": "Deny", "Action": "EC2:*", "Resource": "*"}
    )
    new = pol(
        allow(["S3:getobject", "iam:gET*"]), {"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}
    )
    report = verify_refinement(orig, new, unused_of(catalog), catalog)
    assert report.verdict is Verdict.PROVED
    assert claim(report, STRINGS_CLAIM).stats["syntactic"] == 2


def test_dropping_a_deny_is_refuted(catalog: Catalog) -> None:
    deny = {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::locked/*"}
    orig = pol(allow("s3:*"), deny)
    new = pol(allow("s3:*"))
    report = verify_refinement(orig, new, unused_of(catalog), catalog)
    assert report.verdict is Verdict.REFUTED
    for c in report.claims:
        assert c.verdict is Verdict.REFUTED
        assert c.counterexample is not None
        check_replays(c.counterexample, {"original": orig, "refined": new})


def test_widening_a_resource_is_refuted(catalog: Catalog) -> None:
    orig = pol(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    new = pol(allow("s3:GetObject", "arn:aws:s3:::*"))
    report = verify_refinement(orig, new, unused_of(catalog), catalog)
    cex = claim(report, CATALOG_CLAIM).counterexample
    assert cex is not None
    assert not cex.resource.startswith("arn:aws:s3:::b/")
    check_replays(cex, {"original": orig, "refined": new})


def test_not_action_refinement_adds_unused_actions(catalog: Catalog) -> None:
    orig = pol({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    new = pol({"Effect": "Allow", "NotAction": ["iam:*", "s3:PutObject"], "Resource": "*"})
    assert verify_refinement(orig, new, unused_of(catalog, "s3:PutObject"), catalog).verdict is (
        Verdict.PROVED
    )
    swapped = pol({"Effect": "Allow", "Action": ["iam:*", "s3:PutObject"], "Resource": "*"})
    report = verify_refinement(orig, swapped, unused_of(catalog, "s3:PutObject"), catalog)
    assert report.verdict is Verdict.REFUTED


def test_conditions_shared_by_both_policies_are_proved(catalog: Catalog) -> None:
    cond = {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}
    cond_reordered = {"StringEquals": {"aws:requestedregion": ["eu-west-1", "us-east-1"]}}
    orig = pol(allow("s3:Get*", Condition=cond))
    new = pol(allow(["s3:GetObject*"], Condition=cond_reordered))
    report = verify_refinement(orig, new, unused_of(catalog, "s3:GetBucketAcl"), catalog)
    assert report.verdict is Verdict.PROVED


def test_a_counterexample_names_the_condition_it_needs(catalog: Catalog) -> None:
    cond = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    orig = pol(
        allow("s3:GetObject"),
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": cond},
    )
    new = pol(allow("s3:GetObject"))
    report = verify_refinement(orig, new, unused_of(catalog), catalog)
    cex = claim(report, CATALOG_CLAIM).counterexample
    assert cex is not None
    key = next(iter(cex.relevant))
    assert cex.context[key] is True
    assert "holds" in cex.message


def test_policy_variables_are_opaque_but_shared(catalog: Catalog) -> None:
    home = "arn:aws:s3:::home/${aws:username}/*"
    orig = pol(allow("s3:Get*", home))
    new = pol(allow(["s3:GetObject", "s3:GetObjectAcl"], home))
    assert verify_refinement(orig, new, unused_of(catalog, "s3:GetBucketAcl"), catalog).verdict is (
        Verdict.PROVED
    )
    # Under 2008-10-17 the same text is a literal glob: the versions differ in meaning.
    old = pol(allow(["s3:GetObject", "s3:GetObjectAcl"], home), version="2008-10-17")
    report = verify_refinement(orig, old, unused_of(catalog, "s3:GetBucketAcl"), catalog)
    assert report.verdict is Verdict.REFUTED


def test_detached_refinement(catalog: Catalog) -> None:
    orig = pol(allow("s3:GetObject"))
    assert verify_refinement(orig, None, unused_of(catalog, "s3:GetObject"), catalog).verdict is (
        Verdict.PROVED
    )
    report = verify_refinement(orig, None, unused_of(catalog), catalog)
    assert report.verdict is Verdict.REFUTED
    cex = claim(report, CATALOG_CLAIM).counterexample
    assert cex is not None and "no longer allows `s3:GetObject`" in cex.message


def test_provenance_is_checked_not_trusted(catalog: Catalog) -> None:
    orig = pol(allow(["s3:GetObject", "iam:Get*"]))
    new = pol(allow(["s3:GetObject", "iam:GetUser", "iam:CreateUser"]))
    lying = [(0, "iam:CreateUser", "iam:Get*"), (0, "iam:GetUser", "iam:Get*")]
    report = verify_refinement(
        orig, new, unused_of(catalog), catalog, provenance=lying, statement_origin=[0]
    )
    assert claim(report, STRINGS_CLAIM).verdict is Verdict.REFUTED


def test_unknown_when_the_budget_runs_out(catalog: Catalog) -> None:
    orig = pol(allow("s3:*Object"))
    new = pol(allow("s3:Get*Object"))
    report = verify_refinement(orig, new, unused_of(catalog), catalog, timeout=1e-9)
    assert report.verdict is Verdict.UNKNOWN
    assert all(c.verdict is Verdict.UNKNOWN for c in report.claims)
    assert all(c.reason for c in report.claims)


def test_a_counterexample_that_does_not_replay_is_an_internal_error(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    orig = pol(allow("s3:Get*"))
    new = pol(allow("s3:*"))
    monkeypatch.setattr(reference, "evaluate", lambda *a, **k: reference.Decision(False, [], []))
    with pytest.raises(InternalError, match="does not replay"):
        verify_refinement(orig, new, unused_of(catalog), catalog)


# --- equivalence ----------------------------------------------------------------------


def test_equivalence(catalog: Catalog) -> None:
    a = pol(allow(["s3:Get*", "s3:List*"]))
    b = pol(allow(["S3:get*"]), allow("s3:ListBucket"))
    report = verify_equivalence(a, b, catalog)
    names = [c.name for c in report.claims]
    assert len(names) == 4
    # Equal over the catalog, but `s3:ListFoo` tells them apart.
    verdicts = {c.name: c.verdict for c in report.claims}
    assert verdicts["A within B over the catalog"] is Verdict.PROVED
    assert verdicts["B within A over the catalog"] is Verdict.PROVED
    assert verdicts["A within B for any action string"] is Verdict.REFUTED
    assert verdicts["B within A for any action string"] is Verdict.PROVED
    subset = verify_equivalence(b, a, catalog, subset=True)
    assert len(subset.claims) == 2 and subset.verdict is Verdict.PROVED


def test_equivalence_of_restructured_policies_uses_full_queries(catalog: Catalog) -> None:
    a = pol(allow(["s3:GetObject", "iam:GetUser"], ["arn:aws:s3:::b/*", "arn:aws:iam::1:user/*"]))
    b = pol(
        allow("s3:GetObject", ["arn:aws:s3:::b/*", "arn:aws:iam::1:user/*"]),
        allow("iam:GetUser", "arn:aws:*"),
        {
            "Effect": "Deny",
            "Action": "iam:*",
            "NotResource": ["arn:aws:s3:::b/*", "arn:aws:iam::1:user/*"],
        },
    )
    report = verify_equivalence(a, b, catalog)
    assert report.verdict is Verdict.PROVED, report.to_json()
    kinds = {o.kind for o in report.obligations}
    assert "statement" in kinds


# --- obligations and engines ------------------------------------------------------------


def test_obligations_are_complete_smtlib(catalog: Catalog) -> None:
    orig = pol(
        allow(["s3:*Object", "iam:Get*"], Condition={"Bool": {"aws:SecureTransport": "true"}})
    )
    new = pol(
        allow(
            ["s3:GetObject", "s3:PutObject", "iam:GetUser"],
            Condition={"Bool": {"aws:SecureTransport": "true"}},
        )
    )
    obs = obligations(orig, new, unused_of(catalog), catalog)
    assert {o.kind for o in obs} >= {"classes", "containment"}
    z3_binary = shutil.which("z3") or str(Path(sys.executable).parent / "z3")
    for o in obs:
        assert o.status == "unsat"
        text = o.smtlib()
        assert "(check-sat)" in text and "(set-logic ALL)" in text
        s = z3.Solver()
        s.from_string(text)
        assert s.check() == z3.unsat
        assert solve_cvc5(text, [], timeout=30).status == "unsat"
        if Path(z3_binary).exists():
            out = subprocess.run([z3_binary, "-in"], input=text, capture_output=True, text=True)
            assert out.stdout.strip() == "unsat"
        if o.kind == "classes":
            assert o.partition is not None
            data = o.partition.to_json(catalog)
            assert sum(len(c["members"]) for c in data) == len(catalog)


@pytest.mark.parametrize("engine", ["z3", "cvc5", "both"])
def test_engines_agree(catalog: Catalog, engine: str) -> None:
    orig = pol(allow("s3:*Object"), {"Effect": "Deny", "Action": "s3:Put*", "Resource": "arn:x:*"})
    good = pol(
        allow(["s3:GetObject", "s3:Put*Object"]),
        {"Effect": "Deny", "Action": "s3:Put*", "Resource": "arn:x:*"},
    )
    bad = pol(allow(["s3:GetObj*"]), {"Effect": "Deny", "Action": "s3:Put*", "Resource": "arn:x:*"})
    unused = unused_of(catalog)
    assert verify_refinement(orig, good, unused, catalog, engine=engine).verdict is Verdict.PROVED
    report = verify_refinement(orig, bad, unused, catalog, engine=engine)
    assert report.verdict is Verdict.REFUTED
    for c in report.claims:
        if c.counterexample is not None:
            check_replays(c.counterexample, {"original": orig, "refined": bad})


def test_report_json_is_serializable(catalog: Catalog) -> None:
    report = verify_refinement(
        pol(allow("s3:*")), pol(allow("s3:Get*")), unused_of(catalog), catalog
    )
    data = json.loads(json.dumps(report.to_json()))
    assert data["verdict"] == "REFUTED"
    assert data["catalog"]["digest"] == catalog.digest
    assert {c["name"] for c in data["claims"]} == {CATALOG_CLAIM, STRINGS_CLAIM}


# --- chunked class queries (Lemma 10) ---------------------------------------------------


@pytest.mark.parametrize("total", [0, 1, 2, 399, 400, 401, 1572, 5000])
def test_class_chunks_cover_every_class_once(total: int) -> None:
    chunks = verify.class_chunks(total)
    assert [i for c in chunks for i in c] == list(range(total))
    assert all(len(c) <= verify.CLASS_CHUNK for c in chunks)
    assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    assert len(chunks) == max(1, -(-total // verify.CLASS_CHUNK))


@pytest.mark.parametrize("seed", range(6))
def test_weighted_class_chunks_cover_every_class_once(seed: int) -> None:
    rng = random.Random(seed)
    total = rng.choice([1, 2, 50, 401, 2133])
    weights = [rng.choice([1, 2, 30, 300, 5000]) for _ in range(total)]
    chunks = verify.class_chunks(total, weights=weights)
    assert [i for c in chunks for i in c] == list(range(total))
    assert all(len(c) <= verify.CLASS_CHUNK for c in chunks)
    cap = prove.catalog_claim.CHUNK_WEIGHT
    assert all(len(c) == 1 or sum(weights[i] for i in c) <= cap for c in chunks)


def test_heavy_classes_are_chunked_by_their_matches() -> None:
    # 2,000 classes matched by 30 statements each: 400 classes a chunk would hold 12,400
    # memberships; chunks by weight hold at most CHUNK_WEIGHT.
    chunks = verify.class_chunks(2000, weights=[31] * 2000)
    assert len(chunks) > len(verify.class_chunks(2000))
    assert max(map(len, chunks)) <= prove.catalog_claim.CHUNK_WEIGHT // 31


CHUNK_CASES = [
    # (original, refined, unused, verdict of the catalog claim)
    (
        allow("s3:*"),
        allow(["s3:GetObject*", "s3:PutObject", "s3:ListBucket"]),
        ["s3:GetBucketAcl"],
        Verdict.PROVED,
    ),
    (
        allow("s3:*"),
        allow(["s3:GetObject*", "s3:PutObject", "s3:ListBucket"]),
        ["s3:GetObjectAcl"],
        Verdict.REFUTED,
    ),
    (
        allow("*"),
        allow(["s3:*", "iam:GetUser", "ec2:RunInstances"]),
        ["iam:CreateUser"],
        Verdict.PROVED,
    ),
    (allow("*"), allow(["s3:*", "iam:*"]), ["iam:CreateUser"], Verdict.REFUTED),
    (allow("*"), allow(["s3:GetObject", "iam:GetUser"]), ["ec2:RunInstances"], Verdict.REFUTED),
]


@pytest.mark.parametrize(("orig", "new", "unused", "verdict"), CHUNK_CASES)
def test_chunked_class_queries_give_the_same_verdicts(
    catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
    orig: dict[str, Any],
    new: dict[str, Any],
    unused: list[str],
    verdict: Verdict,
) -> None:
    a, b, u = pol(orig), pol(new), unused_of(catalog, *unused)
    whole = claim(verify_refinement(a, b, u, catalog), CATALOG_CLAIM)
    monkeypatch.setattr(prove.catalog_claim, "CLASS_CHUNK", 1)
    report = verify_refinement(a, b, u, catalog)
    monkeypatch.setattr(prove.catalog_claim, "CLASS_CHUNK", 400)
    monkeypatch.setattr(prove.catalog_claim, "CHUNK_WEIGHT", 2)
    weighted = verify_refinement(a, b, u, catalog)
    assert claim(weighted, CATALOG_CLAIM).verdict is verdict
    chunked = claim(report, CATALOG_CLAIM)
    assert whole.verdict is chunked.verdict is verdict
    classes = chunked.stats["classes"]
    assert classes >= 2
    names = [o.name for o in report.obligations if o.claim == CATALOG_CLAIM]
    # One query per class and direction when proved; the first sat one ends a refutation.
    assert all(", classes " in n for n in names)
    if verdict is Verdict.PROVED:
        assert len(names) == 2 * classes
    else:
        for result in (whole, chunked):
            assert result.counterexample is not None
            check_replays(result.counterexample, {"original": a, "refined": b})


def test_a_certificate_with_chunked_class_queries_checks(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iamrefine.certificate import build_certificate, check_certificate
    from iamrefine.refine import refine_policy

    monkeypatch.setattr(prove.catalog_claim, "CLASS_CHUNK", 1)
    orig = pol(allow("*"), allow("s3:Get*", "arn:aws:s3:::b/*"))
    unused = unused_of(catalog, "iam:CreateUser", "s3:GetBucketAcl")
    cert = build_certificate(refine_policy(orig, unused, catalog), unused, catalog)
    chunked = [o for o in cert.obligations if ", classes " in o.name]
    assert len(chunked) >= 4
    assert check_certificate(cert, catalog).status == "VALID"
