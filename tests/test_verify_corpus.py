"""Mutation tests on real managed policies (skipped without ``../shared``).

Each policy is refined (by ``refine_policy``) against a fixed 30% of the catalog
actions it allows, which must be PROVED. Then the refinement is mutated. A mutant is
*semantic* when the reference evaluator finds a request on which it breaks a claim;
every semantic mutant must be REFUTED, with counterexamples that replay. Changing the
case of patterns must stay PROVED.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from conftest import SHARED_DIR, requires_shared
from iamrefine import reference
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.model import Policy
from iamrefine.parse import load_policy, policy_from_json
from iamrefine.unused import UnusedSet
from iamrefine.verify import CATALOG_CLAIM, STRINGS_CLAIM, CheckReport, Verdict, verify_refinement
from iamrefine.write import policy_to_json

pytestmark = [pytest.mark.corpus, pytest.mark.slow, requires_shared]

POLICIES = [
    "AmazonS3ReadOnlyAccess",
    "AWSLambda_ReadOnlyAccess",
    "PowerUserAccess",
    "AWSCleanRoomsFullAccessNoQuerying",
    "AmazonDataZoneProjectRolePermissionsBoundary",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def allowed_names(policy: Policy, catalog: Catalog) -> list[str]:
    out = set()
    for st in policy.statements:
        if st.is_allow and not st.uses_not_action:
            for p in st.action_element.values:
                out.update(catalog.expand(p))
    return sorted(out)


def refined(name: str, catalog: Catalog) -> tuple[Policy, Policy | None, UnusedSet, Any]:
    from iamrefine import refine

    policy = load_policy(SHARED_DIR / "corpus" / "aws-managed" / f"{name}.json")
    names = allowed_names(policy, catalog)
    unused = UnusedSet(frozenset(random.Random(name).sample(names, int(len(names) * 0.3))))
    result = refine.refine_policy(policy, unused, catalog)
    return policy, result.policy, unused, result


def contexts(*policies: Policy | None) -> list[dict[str, bool]]:
    keys = {k for p in policies for k in reference.atom_keys(p)}
    return [dict.fromkeys(keys, value) for value in (True, False)]


def resources(*policies: Policy | None) -> list[str]:
    out = ["arn:aws:s3:::example/key"]
    for p in policies:
        for st in p.statements if p is not None else []:
            for element in (st.resource, st.not_resource):
                out.extend(element.values if element is not None else [])
    return sorted(set(out))


def breaks_exactness(
    orig: Policy, new: Policy | None, unused: UnusedSet, catalog: Catalog, actions: list[str]
) -> bool:
    for ctx in contexts(orig, new):
        for r in resources(orig, new):
            for a in actions:
                want = reference.evaluate(orig, a, r, ctx).allowed and a not in unused
                if reference.evaluate(new, a, r, ctx).allowed != want:
                    return True
    return False


def escalates(orig: Policy, new: Policy | None, actions: list[str]) -> bool:
    for ctx in contexts(orig, new):
        for r in resources(orig, new):
            for a in actions:
                if (
                    reference.evaluate(new, a, r, ctx).allowed
                    and not reference.evaluate(orig, a, r, ctx).allowed
                ):
                    return True
    return False


def check_counterexamples(report: CheckReport, orig: Policy, new: Policy | None) -> None:
    for c in report.claims:
        if c.verdict is Verdict.REFUTED:
            cex = c.counterexample
            assert cex is not None and cex.message
            assert (
                reference.evaluate(orig, cex.action, cex.resource, cex.context)
                == (cex.decisions["original"])
            )
            assert (
                reference.evaluate(new, cex.action, cex.resource, cex.context)
                == (cex.decisions["refined"])
            )


# --- mutations on the refined policy's JSON ---------------------------------------------

Mutation = Callable[[dict[str, Any], UnusedSet, Catalog], None]


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    stmts = doc["Statement"]
    return stmts if isinstance(stmts, list) else [stmts]


def _values(st: dict[str, Any], key: str) -> list[str]:
    v = st[key]
    return list(v) if isinstance(v, list) else [v]


def drop_kept(doc: dict[str, Any], unused: UnusedSet, catalog: Catalog) -> None:
    for st in _statements(doc):
        if st["Effect"] == "Allow" and "Action" in st and len(_values(st, "Action")) > 1:
            st["Action"] = _values(st, "Action")[1:]
            return


def keep_unused(doc: dict[str, Any], unused: UnusedSet, catalog: Catalog) -> None:
    for st in _statements(doc):
        if st["Effect"] == "Allow" and "Action" in st:
            st["Action"] = [*_values(st, "Action"), unused.canonical(catalog)[0]]
            return


def widen_resource(doc: dict[str, Any], unused: UnusedSet, catalog: Catalog) -> None:
    for st in _statements(doc):
        if st["Effect"] == "Allow" and st.get("Resource") not in ("*", ["*"]):
            st.pop("NotResource", None)
            st["Resource"] = "*"
            return


def drop_deny(doc: dict[str, Any], unused: UnusedSet, catalog: Catalog) -> None:
    stmts = _statements(doc)
    doc["Statement"] = [s for s in stmts if s["Effect"] != "Deny"] or stmts


def swap_not_action(doc: dict[str, Any], unused: UnusedSet, catalog: Catalog) -> None:
    for st in _statements(doc):
        if "NotAction" in st:
            st["Action"] = st.pop("NotAction")
            return
    st = _statements(doc)[0]
    st["NotAction"] = st.pop("Action")


def new_service(doc: dict[str, Any], unused: UnusedSet, catalog: Catalog) -> None:
    doc["Statement"] = [
        *_statements(doc),
        {"Effect": "Allow", "Action": "newsvc:*", "Resource": "*"},
    ]


def change_case(doc: dict[str, Any], unused: UnusedSet, catalog: Catalog) -> None:
    for st in _statements(doc):
        key = "Action" if "Action" in st else "NotAction"
        st[key] = [p.swapcase() for p in _values(st, key)]


SEMANTIC = [drop_kept, keep_unused, widen_resource, drop_deny, swap_not_action, new_service]


@pytest.mark.parametrize("name", POLICIES)
def test_refinement_is_proved_and_mutants_are_refuted(name: str, catalog: Catalog) -> None:
    orig, new, unused, result = refined(name, catalog)
    assert new is not None
    report = verify_refinement(
        orig,
        new,
        unused,
        catalog,
        provenance=result.pattern_origins,
        statement_origin=result.statement_origin,
    )
    assert report.verdict is Verdict.PROVED, report.to_json()
    # Without provenance the decomposition finds the origins by itself.
    assert verify_refinement(orig, new, unused, catalog).verdict is Verdict.PROVED

    # The judge evaluates every (action, resource, context): fixed samples of the allowed
    # and of the unused actions (the ones refinement moves) keep it quick.
    rng = random.Random(0)
    allowed = allowed_names(orig, catalog)
    dead = sorted(unused.actions)
    sample = rng.sample(allowed, min(len(allowed), 60)) + rng.sample(dead, min(len(dead), 40))
    actions = [catalog.by_lower[n] for n in sorted(set(sample))]
    actions += ["iam:CreateUser", "organizations:ListAccounts"]
    strings = [*actions, "newsvc:Anything"]
    semantic = 0
    for mutate in [*SEMANTIC, change_case]:
        doc = policy_to_json(new)
        mutate(doc, unused, catalog)
        mutant = policy_from_json(doc)
        report = verify_refinement(orig, mutant, unused, catalog)
        check_counterexamples(report, orig, mutant)
        if mutate is change_case:
            assert report.verdict is Verdict.PROVED, report.to_json()
            continue
        inexact = breaks_exactness(orig, mutant, unused, catalog, actions)
        escalating = escalates(orig, mutant, strings)
        exact_claim = next(c for c in report.claims if c.name == CATALOG_CLAIM)
        strings_claim = next(c for c in report.claims if c.name == STRINGS_CLAIM)
        if inexact:
            assert exact_claim.verdict is Verdict.REFUTED, (mutate.__name__, report.to_json())
        if escalating:
            assert strings_claim.verdict is Verdict.REFUTED, (mutate.__name__, report.to_json())
        semantic += inexact or escalating
    # drop_kept and keep_unused are semantic on every policy here.
    assert semantic >= 2
