"""Differential tests: the solver's verdicts against the enumerating reference judges.

Random small catalogs of policies (Allow and Deny, Action and NotAction, Resource and
NotResource, conditions, policy variables) are refined correctly (each Allow statement
lists the exact names of its kept catalog actions; NotAction statements add the unused
actions they allow) and then possibly mutated. For each pair:

- when the verifier says PROVED, the judge finds no violation on its samples;
- when it says REFUTED, its counterexample replays, and the judge, given the
  counterexample's resource (and action), finds a violation too.

The exact claim is judged over every catalog action x sample resources x the concrete
requests of :func:`fuzz.strategies.request_pool` (every combination of absent, other and
named values of the condition keys and ``aws:username``, and the counterexample's
request), with the checker's full condition and policy-variable semantics; no escalation
over the catalog names, short strings on a small alphabet and the counterexample's action.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.strategies import request_pool
from iamrefine import reference
from iamrefine.catalog import Catalog
from iamrefine.glob import action_matches
from iamrefine.model import Policy
from iamrefine.parse import policy_from_json
from iamrefine.unused import UnusedSet
from iamrefine.verify import (
    CATALOG_CLAIM,
    STRINGS_CLAIM,
    Verdict,
    verify_equivalence,
    verify_refinement,
)

NAMES = ["a:x", "a:xy", "a:yx", "a:Y", "a:xx", "b:x", "b:yy", "ab:x"]
CATALOG = Catalog.from_names(NAMES, source="differential")
CONDITIONS = [
    None,
    {"Bool": {"k1": "true"}},
    {"StringLike": {"k2": ["v*", "w"]}},
    {"Bool": {"k3": ["true", "false"]}},
    {"StringEquals": {"k4": "o"}, "StringLike": {"K4": "p*"}},
    {"NumericGreaterThanEquals": {"k5": "2.50"}},
]
VARIABLE = "arn:r/${aws:username}"  # IAM takes `*` or an ARN as a resource

RESOURCES = [
    "arn:",
    "arn:t",
    "arn:r/t",
    VARIABLE,
    *("arn:" + "".join(p) for n in (1, 2) for p in itertools.product("rs/", repeat=n)),
]
ACTION_STRINGS = sorted(
    {
        *NAMES,
        "",
        "a",
        "a:",
        *(
            s + "".join(p)
            for s in ("a:", "b:", "ab:", "c:")
            for n in (1, 2)
            for p in itertools.product("xy#", repeat=n)
        ),
    }
)

services = st.sampled_from(["a", "b", "A", "*", "a*", "ab"])
names = st.text(st.sampled_from(list("xyX*?")), max_size=3)
patterns = st.one_of(st.just("*"), st.builds(lambda s, n: f"{s}:{n}", services, names))
resources = st.one_of(
    st.just("*"),
    st.just(VARIABLE),
    st.text(st.sampled_from(list("rs/*?")), min_size=1, max_size=3).map(lambda t: "arn:" + t),
)


@st.composite
def statements(draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Allow", "Allow", "Deny"]))}
    key = draw(st.sampled_from(["Action", "Action", "Action", "NotAction"]))
    out[key] = draw(st.lists(patterns, min_size=1, max_size=3))
    rkey = draw(st.sampled_from(["Resource", "Resource", "NotResource"]))
    out[rkey] = draw(st.lists(resources, min_size=1, max_size=2))
    cond = draw(st.sampled_from(CONDITIONS))
    if cond is not None:
        out["Condition"] = cond
    return out


@st.composite
def cases(draw: Any) -> tuple[dict[str, Any], frozenset[str], int, int]:
    doc = {
        "Version": draw(st.sampled_from(["2012-10-17", "2008-10-17"])),
        "Statement": draw(st.lists(statements(), min_size=1, max_size=4)),
    }
    unused = frozenset(draw(st.sets(st.sampled_from(CATALOG.lower_names))))
    mutation = draw(st.integers(0, len(MUTATIONS)))
    where = draw(st.integers(0, 7))
    return doc, unused, mutation, where


def correct_refinement(doc: dict[str, Any], unused: frozenset[str]) -> dict[str, Any] | None:
    """Each Allow/Action statement lists its kept catalog actions; NotAction statements add
    the unused actions they allow; Deny statements stay."""
    out = []
    for s in doc["Statement"]:
        if s["Effect"] == "Deny":
            out.append(s)
            continue
        if "Action" in s:
            kept = [
                CATALOG.by_lower[n]
                for n in CATALOG.lower_names
                if any(action_matches(p, n) for p in s["Action"]) and n not in unused
            ]
            if kept:
                out.append({**s, "Action": kept})
            continue
        allowed_unused = [
            CATALOG.by_lower[n]
            for n in sorted(unused)
            if not any(action_matches(p, n) for p in s["NotAction"])
        ]
        out.append({**s, "NotAction": s["NotAction"] + allowed_unused})
    if not out:
        return None
    return {**doc, "Statement": out}


def _allows(new: dict[str, Any], where: int) -> list[dict[str, Any]]:
    return [s for s in new["Statement"] if s["Effect"] == "Allow"]


def keep_unused(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    targets = [s for s in _allows(new, where) if "Action" in s]
    if targets and unused:
        targets[where % len(targets)]["Action"].append(CATALOG.by_lower[sorted(unused)[0]])


def drop_kept(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    targets = [s for s in _allows(new, where) if "Action" in s and len(s["Action"]) > 1]
    if targets:
        targets[where % len(targets)]["Action"].pop(where % 2)


def widen_resource(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    targets = _allows(new, where)
    if targets:
        s = targets[where % len(targets)]
        s.pop("NotResource", None)
        s["Resource"] = ["*"]


def drop_deny(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    denies = [i for i, s in enumerate(new["Statement"]) if s["Effect"] == "Deny"]
    if denies and len(new["Statement"]) > 1:
        new["Statement"].pop(denies[where % len(denies)])


def swap_not_action(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    s = new["Statement"][where % len(new["Statement"])]
    if "Action" in s:
        s["NotAction"] = s.pop("Action")
    else:
        s["Action"] = s.pop("NotAction")


def new_service(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    new["Statement"].append({"Effect": "Allow", "Action": ["newsvc:*"], "Resource": "*"})


def change_case(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    for s in new["Statement"]:
        key = "Action" if "Action" in s else "NotAction"
        s[key] = [p.swapcase() for p in s[key]]


def widen_name(new: dict[str, Any], unused: frozenset[str], where: int) -> None:
    targets = [s for s in _allows(new, where) if "Action" in s]
    if targets:
        s = targets[where % len(targets)]
        s["Action"][0] = s["Action"][0] + "*"


MUTATIONS = [
    keep_unused,
    drop_kept,
    widen_resource,
    drop_deny,
    swap_not_action,
    new_service,
    change_case,
    widen_name,
]


def build(
    doc: dict[str, Any], unused: frozenset[str], mutation: int, where: int
) -> tuple[Policy, Policy | None]:
    orig = policy_from_json(doc)
    refined = correct_refinement(doc, unused)
    if refined is not None and mutation < len(MUTATIONS):
        refined = {**refined, "Statement": [dict(s) for s in refined["Statement"]]}
        for s in refined["Statement"]:
            for key in ("Action", "NotAction", "Resource", "NotResource"):
                if key in s:
                    s[key] = list(s[key])
        MUTATIONS[mutation](refined, unused, where)
    return orig, None if refined is None else policy_from_json(refined)


SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.slow
@SETTINGS
@given(cases())
def test_verdicts_match_the_enumerating_judges(
    case: tuple[dict[str, Any], frozenset[str], int, int],
) -> None:
    doc, unused_names, mutation, where = case
    orig, new = build(doc, unused_names, mutation, where)
    unused = UnusedSet(unused_names)
    report = verify_refinement(orig, new, unused, CATALOG, engine="z3", timeout=60)
    exact = next(c for c in report.claims if c.name == CATALOG_CLAIM)
    strings = next(c for c in report.claims if c.name == STRINGS_CLAIM)
    assert exact.verdict is not Verdict.UNKNOWN, exact.reason
    assert strings.verdict is not Verdict.UNKNOWN, strings.reason

    samples = list(RESOURCES)
    extra = []
    if exact.counterexample is not None:
        samples.append(exact.counterexample.resource)
        extra.append(exact.counterexample.request)
    requests = request_pool([orig, new], RESOURCES, extra)
    found = reference.judge_refinement(
        orig, new, unused_names, CATALOG.lower_names, samples, requests
    )
    assert (exact.verdict is Verdict.REFUTED) == (found is not None), (exact, found)

    actions = list(ACTION_STRINGS)
    samples = [*RESOURCES[:8], VARIABLE]
    extra = []
    if strings.counterexample is not None:
        actions.append(strings.counterexample.action)
        samples.append(strings.counterexample.resource)
        extra.append(strings.counterexample.request)
    requests = request_pool([orig, new], RESOURCES, extra)
    found = reference.judge_containment(new, orig, actions, samples, requests)
    assert (strings.verdict is Verdict.REFUTED) == (found is not None), (strings, found)


@pytest.mark.slow
@settings(max_examples=30, derandomize=True, deadline=None)
@given(cases())
def test_cvc5_agrees_with_z3(case: tuple[dict[str, Any], frozenset[str], int, int]) -> None:
    doc, unused_names, mutation, where = case
    orig, new = build(doc, unused_names, mutation, where)
    report = verify_refinement(
        orig, new, UnusedSet(unused_names), CATALOG, engine="both", timeout=60
    )
    assert report.verdict is not Verdict.UNKNOWN
    again = verify_refinement(orig, new, UnusedSet(unused_names), CATALOG, engine="z3", timeout=60)
    assert [c.verdict for c in report.claims] == [c.verdict for c in again.claims]


def test_mutations_are_exercised() -> None:
    # Each mutation changes something on a fixed example, so none is dead code.
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["a:x*", "b:*"], "Resource": ["arn:r"]},
            {"Effect": "Allow", "NotAction": ["a:*"], "Resource": ["arn:s"]},
            {"Effect": "Deny", "Action": ["a:xx"], "Resource": "*"},
        ],
    }
    unused = frozenset({"a:xy", "b:x"})
    base = build(doc, unused, len(MUTATIONS), 0)[1]
    assert base is not None
    proved = verify_refinement(policy_from_json(doc), base, UnusedSet(unused), CATALOG, engine="z3")
    assert proved.verdict is Verdict.PROVED
    for i, mutation in enumerate(MUTATIONS):
        mutant = build(doc, unused, i, 0)[1]
        assert mutant != base, mutation.__name__
        report = verify_refinement(
            policy_from_json(doc), mutant, UnusedSet(unused), CATALOG, engine="z3"
        )
        expected = Verdict.PROVED if mutation is change_case else Verdict.REFUTED
        assert report.verdict is expected, (mutation.__name__, report.to_json())


@pytest.mark.slow
@settings(max_examples=100, derandomize=True, deadline=None)
@given(cases())
def test_subset_verdicts_match_the_judge(
    case: tuple[dict[str, Any], frozenset[str], int, int],
) -> None:
    doc, unused_names, mutation, where = case
    orig, new = build(doc, unused_names, mutation, where)
    if new is None:
        return
    report = verify_equivalence(new, orig, CATALOG, subset=True, engine="z3", timeout=60)
    catalog_claim, strings_claim = report.claims
    assert catalog_claim.name == "A within B over the catalog"
    for claim, actions, resources in (
        (catalog_claim, list(CATALOG.lower_names), RESOURCES),
        (strings_claim, list(ACTION_STRINGS), [*RESOURCES[:8], VARIABLE]),
    ):
        assert claim.verdict is not Verdict.UNKNOWN, claim.reason
        extra = []
        if claim.counterexample is not None:
            actions = [*actions, claim.counterexample.action]
            resources = [*resources, claim.counterexample.resource]
            extra.append(claim.counterexample.request)
        requests = request_pool([new, orig], RESOURCES, extra)
        found = reference.judge_containment(new, orig, actions, resources, requests)
        assert (claim.verdict is Verdict.REFUTED) == (found is not None), (claim, found)
