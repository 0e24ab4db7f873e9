"""The size optimizer, the set cover under it, the split into several managed policies
and the `--optimize` defaults."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import threading
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamrefine.api import check, refine_and_prove
from iamrefine.catalog import Catalog
from iamrefine.choices import Optimize
from iamrefine.errors import QuotaError
from iamrefine.glob import action_matches
from iamrefine.model import Policy
from iamrefine.parse import parse_policy
from iamrefine.recommendation import read_refined
from iamrefine.refine import refine_policy
from iamrefine.refine.containment import counterexample
from iamrefine.refine.cover import CoverMethod, solve_cover
from iamrefine.refine.optimize import pattern_cost
from iamrefine.refine.split import merged, policy_size
from iamrefine.render import recommendation, render_policy
from iamrefine.structure import glob_counterexample
from iamrefine.unused import UnusedSet
from iamrefine.verify import Verdict, verify_result

QUOTA = 6144


def _policy(*statements: dict[str, object]) -> Policy:
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    return parse_policy(json.dumps(doc, indent=2), "p.json")


def _allow(*actions: str, resource: str = "*") -> dict[str, object]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resource}


def _big_catalog(services: int = 3, per: int = 400) -> tuple[Catalog, list[str]]:
    verbs = ["Get", "Put", "Describe", "List", "Delete", "Create", "Update", "Tag"]
    nouns = ["Bucket", "Object", "Vpc", "Instance", "Volume", "Snapshot", "Policy", "Role"]
    tails = ["", "Configuration", "Attribute", "Tagging", "Status", "s"]
    names: list[str] = []
    for s in range(services):
        combos = itertools.product(verbs, nouns, nouns, tails)
        for v, a, b, t in itertools.islice(combos, per):
            names.append(f"svc{s}:{v}{a}{b}{t}")
    return Catalog.from_names(names, source="test"), names


def _unused(names: list[str], ratio: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    return sorted(rng.sample(names, int(len(names) * ratio)))


# --- containment against the checker's own procedure ------------------------------------

patterns = st.text(alphabet="aB:*?", max_size=7)


@settings(max_examples=300, deadline=None)
@given(patterns, patterns)
def test_refiner_and_checker_containment_agree(outer: str, inner: str) -> None:
    # structure.py is the checker's independent inclusion procedure (case-insensitive).
    mine = counterexample(outer, inner) is None
    theirs = glob_counterexample(inner, outer) is None
    assert mine == theirs


# --- set cover ----------------------------------------------------------------------------


@st.composite
def cover_instances(draw: st.DrawFn) -> tuple[list[int], list[frozenset[int]], frozenset[int]]:
    n = draw(st.integers(1, 6))
    # Candidates may hold elements outside the ones to cover (n and n + 1).
    sets = draw(st.lists(st.frozensets(st.integers(0, n + 1), min_size=1), min_size=1, max_size=8))
    singles = [frozenset({e}) for e in range(n)]
    covers = sets + singles
    costs = draw(st.lists(st.integers(1, 20), min_size=len(covers), max_size=len(covers)))
    return costs, covers, frozenset(range(n))


def _brute_force(costs: list[int], covers: list[frozenset[int]], elems: frozenset[int]) -> int:
    best = sum(costs)
    for r in range(1, len(covers) + 1):
        for combo in itertools.combinations(range(len(covers)), r):
            if frozenset().union(*(covers[i] for i in combo)) >= elems:
                best = min(best, sum(costs[i] for i in combo))
    return best


@settings(max_examples=150, deadline=None)
@given(cover_instances())
def test_cover_is_optimal_and_bounded(instance) -> None:  # type: ignore[no-untyped-def]
    costs, covers, elems = instance
    best = _brute_force(costs, covers, elems)
    for use_solver in (True, False):
        cover = solve_cover(costs, covers, elems, use_solver=use_solver)
        tuples = [tuple(sorted(c)) for c in covers]
        assert solve_cover(costs, tuples, elems, use_solver=use_solver) == cover
        assert frozenset().union(*(covers[i] for i in cover.chosen)) >= elems
        assert cover.cost == sum(costs[i] for i in cover.chosen)
        assert cover.lower_bound <= best + 1e-6
        assert cover.cost >= best
        if use_solver:
            assert cover.method in (CoverMethod.OPTIMAL, CoverMethod.TRIVIAL)
            assert cover.cost == best
            assert cover.gap == 0.0


# --- the optimizer ------------------------------------------------------------------------


def test_an_exhausted_budget_gives_the_same_policy_under_any_load() -> None:
    """The budget counts work, not seconds: a thread that keeps a core busy in the same
    process (whose CPU time a budget in seconds would have charged to the optimizer)
    changes nothing, and a larger budget is what finds more."""
    catalog, names = _big_catalog()
    unused = UnusedSet.from_names(_unused(names, 0.3, 1), catalog)
    policy = _policy(_allow("svc0:*", "svc1:Get*"), _allow("svc2:*Bucket*"))

    def optimized(work: int) -> tuple[str, int]:
        result = refine_policy(policy, unused, catalog, optimize=Optimize.size, work_budget=work)
        stats = result.quota.optimizer if result.quota is not None else None
        assert result.policy is not None and stats is not None
        assert stats.budget_exhausted == (work < 10**6) and stats.clock_cut == 0
        return render_policy(result) or "", stats.work

    quiet = optimized(3_000)
    stop = threading.Event()

    def burn() -> None:
        block = bytes(1 << 24)
        while not stop.is_set():
            hashlib.sha256(block).digest()  # releases the GIL: a second busy core

    busy = threading.Thread(target=burn, daemon=True)
    busy.start()
    try:
        loaded = optimized(3_000)
    finally:
        stop.set()
        busy.join()
    assert loaded == quiet
    full = optimized(10**7)
    assert full[1] > quiet[1] and len(full[0]) <= len(quiet[0])


def test_optimizer_is_exact_contained_smaller_and_proved() -> None:
    catalog, names = _big_catalog()
    unused = UnusedSet.from_names(_unused(names, 0.3, 1), catalog)
    policy = _policy(_allow("svc0:*", "svc1:Get*"), _allow("svc2:*Bucket*"))
    readable = refine_policy(policy, unused, catalog, optimize=Optimize.readable)
    small = refine_policy(policy, unused, catalog, optimize=Optimize.size, work_budget=30_000_000)
    assert readable.policy is not None and small.policy is not None
    assert policy_size(small.policy) < 0.8 * policy_size(readable.policy)
    stats = small.quota.optimizer if small.quota is not None else None
    # The two statements share one context (Resource "*", no condition): one statement.
    assert stats is not None and stats.methods.get("optimal") == 1 and stats.gap == 0.0
    whole = merged(small)  # the pieces of a statement split across policies, joined
    assert whole.policy is not None and stats.merged == 1
    assert len(whole.policy.statements) == 1 and whole.statement_origin == [0]
    origins = {p: (s, o) for s, p, o in small.pattern_origins}
    old = [p for st_old in policy.statements for p in st_old.action_element.values]
    new = whole.policy.statements[0].action_element.values
    assert any("?" in p or p.count("*") > 1 or not p.endswith("*") for p in new)
    for p in new:
        # (b) contained in its origin, a pattern of the statement named, over all strings.
        si, origin = origins[p]
        assert origin in policy.statements[si].action_element.values
        assert glob_counterexample(p, origin) is None
    # (a) exactly the wanted catalog actions.
    for name in names:
        wanted = any(action_matches(o, name) for o in old)
        wanted = wanted and name.lower() not in unused.actions
        assert any(action_matches(p, name) for p in new) == wanted, name
    assert verify_result(small, unused, catalog).verdict is Verdict.PROVED


def test_pattern_cost_counts_quotes_and_comma() -> None:
    assert pattern_cost("s3:Get*") == len('"s3:Get*",')


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(st.sampled_from('ab*"\\\n\t\x00\x1f\x7fé\u2028 '), max_size=8))
def test_pattern_cost_is_the_json_length(text: str) -> None:
    """The fast path (nothing escaped) and JSON's own escaping agree on every text."""
    assert pattern_cost(text) == len(json.dumps(text, ensure_ascii=False)) + 1


# --- defaults: auto, size, readable --------------------------------------------------------


def test_auto_keeps_readable_when_it_fits() -> None:
    catalog, names = _big_catalog(services=1, per=60)
    unused = UnusedSet.from_names(_unused(names, 0.3, 2), catalog)
    policy = _policy(_allow("svc0:*"))
    auto = refine_policy(policy, unused, catalog)
    readable = refine_policy(policy, unused, catalog, optimize=Optimize.readable)
    assert auto.policy == readable.policy
    assert auto.quota is not None and auto.quota.optimizer is None


def test_auto_optimizes_over_the_quota_with_a_note() -> None:
    catalog, names = _big_catalog(services=1, per=400)
    unused = UnusedSet.from_names(_unused(names, 0.3, 3), catalog)
    policy = _policy(_allow("svc0:*"))
    readable = refine_policy(policy, unused, catalog, optimize=Optimize.readable)
    assert readable.size is not None and readable.size > QUOTA
    (warning,) = readable.warnings
    assert warning.severity == "warning" and "--optimize size" in warning.message
    auto = refine_policy(policy, unused, catalog, work_budget=30_000_000)
    assert auto.quota is not None and auto.quota.optimizer is not None
    notes = [w.message for w in auto.warnings if w.severity == "note"]
    assert any("the size optimizer wrote" in m for m in notes)
    assert auto.size is not None and auto.size < readable.size
    assert verify_result(auto, unused, catalog).verdict is Verdict.PROVED


# --- the split ------------------------------------------------------------------------------


def _split_case() -> tuple[Catalog, UnusedSet, Policy]:
    catalog, names = _big_catalog(services=3, per=400)
    unused = UnusedSet.from_names(_unused(names, 0.5, 4), catalog)
    policy = _policy(
        _allow("svc0:*", resource="arn:aws:s3:::a/*"),
        {"Effect": "Deny", "Action": "svc1:Delete*", "Resource": "*"},
        _allow("svc1:*", "svc2:*"),
    )
    return catalog, unused, policy


def test_split_into_several_policies_each_within_the_quota() -> None:
    catalog, unused, policy = _split_case()
    outcome = refine_and_prove(policy, unused, catalog=catalog)
    result = outcome.result
    assert outcome.verdict is Verdict.PROVED
    assert len(result.parts) > 1 and result.quota is not None
    policies = result.policies
    assert [policy_size(p) for p in policies] == list(result.quota.sizes)
    assert all(policy_size(p) <= QUOTA for p in policies)
    # Every Deny statement is in some part; the parts' concatenation is what was proved.
    assert sum(not s.is_allow for p in policies for s in p.statements) == 1
    assert [s for p in policies for s in p.statements] == list(result.policy.statements)
    rec = recommendation(result, "p.json")
    steps = [s["unusedPermissionsRecommendedStep"] for s in rec["recommendedSteps"]]
    assert len(steps) == len(policies)
    assert all(s["recommendedAction"] == "CREATE_POLICY" for s in steps)
    # The reader of `check` takes the union of the steps; the checker proves it.
    text = json.dumps(rec)
    assert read_refined(text, "rec.json", policy).policy == result.policy
    assert check(policy, text, unused, catalog=catalog).verdict is Verdict.PROVED
    docs = json.loads(render_policy(result) or "")
    assert isinstance(docs, list) and len(docs) == len(policies)


def test_certificate_of_a_split_result_is_valid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from iamrefine.certificate import verify_certificate

    catalog, unused, policy = _split_case()
    outcome = refine_and_prove(policy, unused, catalog=catalog, certificate=True)
    text = outcome.certificate_text()
    assert text is not None
    whole = merged(outcome.result)
    assert whole.policy is not None and not whole.parts
    assert len(whole.policy.statements) == len(policy.statements)
    (tmp_path / "cert.json").write_text(text)
    report = verify_certificate(tmp_path / "cert.json", catalog=catalog)
    assert report.valid


def test_too_few_policies_is_a_clear_error() -> None:
    catalog, unused, policy = _split_case()
    with pytest.raises(QuotaError, match=r"needs at least [\d,]+ non-whitespace characters"):
        refine_and_prove(policy, unused, catalog=catalog, max_policies=1, prove=False)


# --- NotAction names a wholly unused service `svc:*` ----------------------------------------


@pytest.mark.parametrize(
    ("statement", "strategy"),
    [
        (_allow("*"), "notaction"),
        ({"Effect": "Allow", "NotAction": ["other:*"], "Resource": "*"}, "patterns"),
    ],
)
def test_notaction_names_a_wholly_unused_service(statement, strategy) -> None:  # type: ignore[no-untyped-def]
    from iamrefine.structure import structure_problems

    names = ["alpha:GetA", "alpha:PutA", "alpha:ListA", "beta:GetB", "beta:PutB", "other:X"]
    catalog = Catalog.from_names(names, source="test")
    unused = UnusedSet.from_names(["alpha:GetA", "alpha:PutA", "alpha:ListA", "beta:PutB"], catalog)
    policy = _policy(statement)
    result = refine_policy(policy, unused, catalog, strategy=strategy)
    assert result.policy is not None
    values = list(result.policy.statements[0].action_element.values)
    assert values[-2:] == ["alpha:*", "beta:PutB"]
    assert verify_result(result, unused, catalog).verdict is Verdict.PROVED
    assert not structure_problems(
        policy, result.policy, unused.actions, catalog, result.statement_origin
    )


def test_certificate_of_a_merged_result_is_valid(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from iamrefine.certificate import verify_certificate

    catalog, names = _big_catalog(services=2, per=120)
    unused = UnusedSet.from_names(_unused(names, 0.3, 2), catalog)
    first = dict(_allow("svc0:Get*", "svc1:Put*"), Sid="First")
    other = _allow("svc0:Put*", resource="arn:aws:s3:::b/*")
    second = dict(_allow("svc0:Describe*", "svc1:GetBucketPolicy"), Sid="Second")
    policy = _policy(first, other, second)
    outcome = refine_and_prove(
        policy, unused, catalog=catalog, optimize=Optimize.size, certificate=True
    )
    result = outcome.result
    assert outcome.verdict is Verdict.PROVED and result.policy is not None
    # The first and third statements share a context (the Sid aside): merged, in place.
    assert result.statement_origin == [0, 1]
    assert [s.sid for s in result.policy.statements] == ["First", None]
    text = outcome.certificate_text()
    assert text is not None
    (tmp_path / "cert.json").write_text(text)
    assert verify_certificate(tmp_path / "cert.json", catalog=catalog).valid


def test_notaction_additions_are_the_fewest_characters(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from iamrefine.certificate import verify_certificate

    catalog, names = _big_catalog(services=3, per=200)
    gets = [n for n in names if n.startswith("svc0:GetBucket")]
    unused = UnusedSet.from_names([*gets, *_unused(names, 0.1, 3)], catalog)
    statement = {"Effect": "Allow", "NotAction": ["svc2:*"], "Resource": "*"}
    policy = _policy(statement)
    readable = refine_policy(policy, unused, catalog, optimize=Optimize.readable)
    outcome = refine_and_prove(
        policy, unused, catalog=catalog, optimize=Optimize.size, certificate=True
    )
    small = outcome.result
    assert outcome.verdict is Verdict.PROVED
    assert readable.policy is not None and small.policy is not None
    assert policy_size(small.policy) < policy_size(readable.policy)
    values = small.policy.statements[0].action_element.values
    # One pattern stands for the 48 unused svc0:GetBucket... names.
    assert values[0] == "svc2:*" and "svc0:GetB*" in values
    # Exact over the catalog: each addition excludes only unused actions, and together
    # with the statement's own value they exclude every unused action.
    low = {a.lower() for a in unused.actions}
    for v in values[1:]:
        assert {n.lower() for n in names if action_matches(v, n)} <= low
    for n in names:
        excluded = any(action_matches(v, n) for v in values)
        assert excluded == (n.lower() in low or n.startswith("svc2:")), n
    text = outcome.certificate_text()
    assert text is not None
    (tmp_path / "cert.json").write_text(text)
    assert verify_certificate(tmp_path / "cert.json", catalog=catalog).valid


def test_a_notaction_statement_over_one_policy_names_its_lower_bound() -> None:
    from iamrefine.refine.fit import fit_result

    catalog, names = _big_catalog(services=2, per=200)
    unused = UnusedSet.from_names(_unused(names, 0.4, 5), catalog)
    policy = _policy({"Effect": "Allow", "NotAction": ["other:*"], "Resource": "*"})
    readable = refine_policy(policy, unused, catalog, optimize=Optimize.readable)
    # Cut by service, each piece still holds one service's values: more than 600.
    fitted = fit_result(readable, unused, catalog, optimize=Optimize.size, quota=600)
    assert fitted.quota is not None and not fitted.quota.fits and fitted.quota.reason
    assert re.search(
        r"Statement\[0\] \(an Allow statement with NotAction, cut by service in vain: the "
        r"values of one service do not fit in one managed policy\) has ([\d,]+) "
        r"non-whitespace characters \(at least ([\d,]+): a lower bound",
        fitted.quota.reason,
    )


@pytest.mark.parametrize(
    ("quota", "max_policies", "advice"),
    [
        # The bound (4,700 characters) over 200 per policy: more than a role holds.
        (200, 10, r"it needs at least (\d+) managed policies, more than the 20 that AWS lets"),
        # Over 2,000 per policy: three, more than the two allowed.
        (2000, 2, r"it needs at least (\d+): pass a larger `--max-policies`$"),
    ],
)
def test_the_quota_error_says_how_many_policies_the_bound_needs(
    quota: int, max_policies: int, advice: str
) -> None:
    from iamrefine.refine.fit import fit_result

    catalog, names = _big_catalog(services=2, per=400)
    unused = UnusedSet.from_names(_unused(names, 0.4, 5), catalog)
    policy = _policy(_allow("svc0:*", "svc1:*"))
    readable = refine_policy(policy, unused, catalog, optimize=Optimize.readable)
    fitted = fit_result(
        readable, unused, catalog, optimize=Optimize.size, quota=quota, max_policies=max_policies
    )
    report = fitted.quota
    assert report is not None and not report.fits and report.reason and report.needed
    found = re.search(advice, report.reason)
    assert found, report.reason
    assert int(found.group(1)) == -(-report.needed // quota) > max_policies


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.text(st.sampled_from("abAB1"), min_size=1, max_size=6), min_size=1, max_size=30),
    st.lists(st.text(st.sampled_from("abAB1"), max_size=4), max_size=20),
)
def test_service_masks_match_the_names(tails: list[str], texts: list[str]) -> None:
    """The optimizer's masks of one service: names ending with (and starting with, and
    ``a*b`` through) each text, against a scan of the names; with the narrow packing of
    the substring index and with the wide one (a service of 65,536 names or more)."""
    for narrow in (True, False):
        _check_service_masks(tails, texts, narrow=narrow)


def _check_service_masks(tails: list[str], texts: list[str], *, narrow: bool) -> None:
    from iamrefine.refine import candidates
    from iamrefine.refine.candidates import Service
    from iamrefine.refine.trie import CatalogIndex

    catalog = Catalog.from_names([f"s:{t}" for t in tails] + ["r:ab", "t:ba"], source="test")
    index = CatalogIndex(catalog, "word")
    with pytest.MonkeyPatch.context() as mp:
        if not narrow:
            mp.setattr(candidates, "NARROW_PACKING", 1)
        svc = Service(index, "s", set(), [])
    assert svc._bits == (16 if narrow else 32)
    names = svc.names
    for text in [*texts, ""]:
        want = sum(1 << k for k, x in enumerate(names) if x.endswith(text.lower()))
        assert svc.suffix(text.lower()) == want, (text, names)
        head = "s:" + text.lower()
        assert svc.prefix(head) == sum(1 << k for k, x in enumerate(names) if x.startswith(head))
        tail = text.lower()[-1:]
        both = sum(
            1 << k
            for k, x in enumerate(names)
            if x.startswith(head) and x.endswith(tail) and len(x) >= len(head) + len(tail)
        )
        assert svc.star(head, tail) == both, (head, tail, names)
        middle = text.lower()[:3]
        if middle:
            positions, masks = svc.after_table(middle)
            for t in range(8):
                found = sum(1 << k for k, x in enumerate(names) if middle in x[t:])
                assert masks[bisect_left(positions, t)] == found, (middle, t, names)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.text(st.sampled_from("abc"), min_size=1, max_size=6), min_size=1, max_size=25),
    st.data(),
)
def test_shortest_free_prefix_matches_a_scan(tails: list[str], data: st.DataObject) -> None:
    """The least prefix length n for which ``x[:n]*b`` matches no bad name (found by
    bisection, by the suffix shortcut, or for a prefix by the neighbours in name order)
    against trying every n."""
    from iamrefine.refine.candidates import Service, _shortest_free_prefix
    from iamrefine.refine.trie import CatalogIndex

    catalog = Catalog.from_names([f"s:{t}" for t in tails] + ["r:ab", "t:ba"], source="test")
    index = CatalogIndex(catalog, "word")
    lo, hi = index.range_of("s:")
    good = set(data.draw(st.sets(st.integers(lo, hi - 1))))
    svc = Service(index, "s", good, [])
    bad_names = [x for k, x in enumerate(svc.names) if svc.bad >> k & 1]
    base = len("s:")
    for k in sorted(i - lo for i in good):
        x = svc.names[k]
        for b in {"", x[-1:], x[-2:], x[base:], "c", "ab"}:
            want = next(
                (
                    n
                    for n in range(base, len(x) - len(b) + 1)
                    if not any(action_matches(x[:n] + "*" + b, y) for y in bad_names)
                ),
                None,
            )
            assert _shortest_free_prefix(svc, x, k, base, b) == want, (x, b, bad_names)
