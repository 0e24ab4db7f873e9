"""Properties of the refinement on random small catalogs, policies and unused sets.

The oracles here are independent of the refinement trie:

* exactness uses a plain enumerating evaluator over the catalog built on
  :func:`iamrefine.glob.action_matches`;
* containment over *all* strings is decided by :func:`glob_contained`, a subset
  construction on the product of the two globs' automata. It runs over a finite
  alphabet sample: the characters the two (lowercased) globs name, plus one fresh
  character standing for every other character. That sample is complete, because
  characters that neither glob names are treated alike by both (only ``*`` and ``?``
  match them), so a counterexample over the full alphabet maps to one over the sample;
* minimality enumerates every cover of the kept actions by safe trie nodes
  (nodes computed here from :func:`split_words`, or every prefix for ``char``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from iamrefine.catalog import Catalog
from iamrefine.choices import Optimize
from iamrefine.glob import action_matches, ascii_lower, has_wildcard
from iamrefine.model import Policy, Statement, ValueList
from iamrefine.refine import RefineResult, refine_policy, split_words
from iamrefine.unused import UnusedSet

SETTINGS = settings(
    derandomize=True,
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SERVICES = ["s3", "s3", "s3", "s3x", "s3-o", "ec2"]
VERBS = ["Get", "Get", "Put", "List"]
WORDS = ["Object", "Ob", "Acl", "CORS", "Tags", "2"]


# --- the containment oracle ------------------------------------------------------------


def _closure(pattern: str, states: set[int]) -> frozenset[int]:
    out = set(states)
    todo = list(states)
    while todo:
        i = todo.pop()
        if i < len(pattern) and pattern[i] == "*" and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return frozenset(out)


def _step(pattern: str, states: frozenset[int], ch: str) -> frozenset[int]:
    nxt: set[int] = set()
    for i in states:
        if i < len(pattern):
            c = pattern[i]
            if c == "*":
                nxt.add(i)
            elif c == "?" or c == ch:
                nxt.add(i + 1)
    return _closure(pattern, nxt)


def glob_contained(small: str, big: str) -> bool:
    """Is every string the action glob ``small`` matches also matched by ``big``?"""
    a, b = ascii_lower(small), ascii_lower(big)
    named = set(a) | set(b)
    fresh = next(chr(c) for c in range(0x100, 0x200) if chr(c) not in named)
    alphabet = [*sorted(named - {"*", "?"}), fresh]
    start = (_closure(a, {0}), _closure(b, {0}))
    seen = {start}
    todo = [start]
    while todo:
        sa, sb = todo.pop()
        if len(a) in sa and len(b) not in sb:
            return False
        for ch in alphabet:
            na = _step(a, sa, ch)
            if not na:
                continue
            pair = (na, _step(b, sb, ch))
            if pair not in seen:
                seen.add(pair)
                todo.append(pair)
    return True


def test_containment_oracle_on_known_cases() -> None:
    assert glob_contained("s3:GetObject*", "s3:Get*")
    assert glob_contained("s3:Get*Object*", "s3:*Object*")
    assert glob_contained("S3:GETOBJECT", "s3:get*")
    assert glob_contained("iam:GetUser", "iam:Get?ser")
    assert glob_contained("s3:Get*", "*:Get*")
    assert glob_contained("a?*", "a*?")
    assert not glob_contained("s3:GetObj*", "s3:*Object")
    assert not glob_contained("s3:*", "s3:Get*")
    assert not glob_contained("*", "s3:*")
    assert not glob_contained("s3:Get?", "s3:Get??")
    assert not glob_contained("s3:[ab]", "s3:a")


# --- the exactness oracle ------------------------------------------------------------------


def _statement_allows(statement: Statement, action: str) -> bool:
    element = statement.action_element
    hit = any(action_matches(p, action) for p in element.values)
    return not hit if statement.uses_not_action else hit


def _catalog_matches(pattern: str, catalog: Catalog) -> set[str]:
    return {a for a in catalog.lower_names if action_matches(pattern, a)}


# --- generators ---------------------------------------------------------------------------

names = st.builds(
    lambda svc, verb, words: svc + ":" + verb + "".join(words),
    st.sampled_from(SERVICES),
    st.sampled_from(VERBS),
    st.lists(st.sampled_from(WORDS), max_size=3),
)
catalogs = st.lists(names, min_size=2, max_size=16, unique_by=ascii_lower).map(
    lambda ns: Catalog.from_names(ns, source="hypothesis")
)


@st.composite
def patterns(draw: Any, catalog: Catalog) -> str:
    name = draw(st.sampled_from(catalog.actions))
    n = len(name)
    colon = name.index(":")
    words = split_words(name)
    # Short heads and tails make patterns that cover several actions.
    a = draw(st.sampled_from([0, 1, 1, 2, 2, len(words)]))
    b = draw(st.sampled_from(sorted({a, max(a, len(words) - 1), len(words)})))
    i = draw(st.integers(0, n))
    j = draw(st.integers(i, n))
    kind = draw(st.integers(0, 15))
    if kind == 0:
        return name
    if kind == 1:
        return draw(st.sampled_from([name.upper(), name.lower()]))
    if kind == 2:
        return name[:i] + "*"
    if kind == 3:
        return name[:i] + "*" + name[j:]
    if kind == 4:
        k = draw(st.integers(j, n))
        return name[:i] + "*" + name[j:k] + "*"
    if kind == 5 and i < n:
        return name[:i] + "?" + name[i + 1 :] + draw(st.sampled_from(["", "*"]))
    if kind == 6:
        return draw(st.sampled_from(["*", "s3*", "*3", "s?"])) + name[colon:j] + "*"
    if kind == 7:
        return "*" + name[i:j] + "*"
    if kind == 8:
        return draw(st.sampled_from(["*", "s3:*", "zz:Get*", "s3:Nope", "*:*", "s3?*"]))
    if kind == 9:
        return "".join(words[:a]) + "*" + "".join(words[b:])
    if kind == 10:
        return "".join(words[:a]) + "*" + "".join(words[b:]) + "*"
    if kind == 11:
        return "".join(words[:a]) + "?" + "".join(words[b:])[1:] + "*"
    if kind in (12, 13):
        # An infix star with a one-word tail, as in `s3:*Object` or `s3:Get*Acl*`.
        head = "".join(words[: min(a, 2)])
        return head + "*" + words[-1] + draw(st.sampled_from(["", "*"]))
    if kind == 14:
        return "*" + words[-1]
    return "".join(words[: max(a, 1)]) + "*"


@st.composite
def cases(draw: Any) -> tuple[Catalog, Policy, UnusedSet]:
    catalog = draw(catalogs)
    statements = []
    for _ in range(draw(st.integers(1, 3))):
        values = draw(st.lists(patterns(catalog), min_size=1, max_size=3))
        effect = draw(st.sampled_from(["Allow", "Allow", "Deny"]))
        element = ValueList(values=values, is_list=draw(st.booleans()) or len(values) > 1)
        if draw(st.integers(0, 4)) == 0:
            keys = ["Effect", "NotAction", "Resource"]
            statements.append(Statement(effect=effect, not_action=element, keys=keys))
        else:
            keys = ["Effect", "Action", "Resource"]
            statements.append(Statement(effect=effect, action=element, keys=keys))
    policy = Policy(version="2012-10-17", statements=statements, keys=["Version", "Statement"])
    # Each action is unused with probability 1/4, or all of them are.
    every = draw(st.integers(0, 9)) == 0
    unused = [a for a in catalog.actions if every or draw(st.integers(0, 3)) == 0]
    return catalog, policy, UnusedSet.from_names(unused, catalog)


@st.composite
def dense_cases(draw: Any, most: int = 4) -> tuple[Catalog, Policy, UnusedSet]:
    """A dense catalog (every service, verb, middle and tail combined, at most ``most``
    of each) with patterns that put stars and question marks in the middle of names."""
    services = draw(
        st.lists(st.sampled_from(["s3", "s3x", "ec2"]), min_size=1, max_size=most, unique=True)
    )
    verbs = draw(
        st.lists(st.sampled_from(["Get", "Put", "List"]), min_size=1, max_size=most, unique=True)
    )
    middles = draw(
        st.lists(st.sampled_from(["", "X", "Ob", "Tag"]), min_size=1, max_size=most, unique=True)
    )
    tails = draw(
        st.lists(st.sampled_from(["Object", "Acl", "Tags"]), min_size=1, max_size=most, unique=True)
    )
    names = [f"{s}:{v}{m}{t}" for s in services for v in verbs for m in middles for t in tails]
    catalog = Catalog.from_names(names, source="hypothesis-dense")
    shapes = st.sampled_from(
        [
            "s3:*{t}",
            "s3:{v}*{t}",
            "*{t}",
            "*:*{t}",
            "s3:*{m}*",
            "*{m}*{t}",
            "s3:{v}?{t}*",
            "s3:*",
            "*",
            "s?:{v}*",
            "*:{v}*{t}",
        ]
    )
    statements = []
    for _ in range(draw(st.integers(1, 2))):
        values = [
            draw(shapes).format(
                v=draw(st.sampled_from(verbs)),
                m=draw(st.sampled_from(middles)) or "X",
                t=draw(st.sampled_from(tails)),
            )
            for _ in range(draw(st.integers(1, 2)))
        ]
        element = ValueList(values=values, is_list=True)
        statements.append(Statement(effect="Allow", action=element, keys=["Effect", "Action"]))
    policy = Policy(statements=statements, keys=["Statement"])
    unused = [a for a in catalog.actions if draw(st.integers(0, 4)) == 0]
    return catalog, policy, UnusedSet.from_names(unused, catalog)


def _check_exact(catalog: Catalog, unused: UnusedSet, result: RefineResult) -> None:
    policy = result.original
    new = result.policy.statements if result.policy is not None else []
    for si, old in enumerate(policy.statements):
        mine = [s for s, o in zip(new, result.statement_origin, strict=True) if o == si]
        assert len(mine) <= 1
        if not old.is_allow:
            assert mine == [old]
            continue
        for action in catalog.lower_names:
            before = _statement_allows(old, action)
            after = any(_statement_allows(s, action) for s in mine)
            assert after == (before and action not in unused.actions), (si, action)
        if not mine:
            # Only an Allow-with-Action statement whose every pattern matched only
            # unused catalog actions may disappear.
            assert old.action is not None
            for p in old.action.values:
                matched = _catalog_matches(p, catalog)
                assert matched and matched <= unused.actions


# --- properties -----------------------------------------------------------------------------


def _check_contained(policy: Policy, result: RefineResult) -> None:
    for si, new, origin in result.pattern_origins:
        old = policy.statements[si]
        assert old.action is not None and origin in old.action.values
        assert glob_contained(new, origin), (new, origin)
    for rep in result.replacements:
        for new, origin in rep.origins:
            assert glob_contained(new, origin), (new, origin)


def _check_not_action(
    catalog: Catalog, policy: Policy, unused: UnusedSet, result: RefineResult
) -> None:
    new = result.policy.statements if result.policy is not None else []
    for s, si in zip(new, result.statement_origin, strict=True):
        old = policy.statements[si]
        if not (old.is_allow and old.not_action is not None):
            continue
        assert s.not_action is not None
        count = len(old.not_action.values)
        assert s.not_action.values[:count] == old.not_action.values
        added = s.not_action.values[count:]
        assert added == sorted(added, key=ascii_lower)
        for a in added:
            if has_wildcard(a):
                # `svc:*` for a service all of whose catalog actions are unused.
                assert a.endswith(":*") and not has_wildcard(a[:-2])
                hit = {x for x in catalog.lower_names if action_matches(a, x)}
                assert hit and hit <= unused.actions
            else:
                assert ascii_lower(a) in unused.actions and a in unused
        assert result.original is policy


@pytest.mark.slow
@SETTINGS
@given(
    st.one_of(cases(), dense_cases()),
    st.sampled_from(["word", "char"]),
    st.sampled_from(["patterns", "notaction"]),
)
def test_refinement_properties(
    case: tuple[Catalog, Policy, UnusedSet], granularity: str, strategy: str
) -> None:
    """Exact over the catalog, contained over all strings, Deny and NotAction rules,
    idempotent, and a no-op without unused actions."""
    catalog, policy, unused = case
    options: dict[str, Any] = {"granularity": granularity, "strategy": strategy}
    result = refine_policy(policy, unused, catalog, **options)
    for rep in result.replacements:
        event(f"rule {rep.trace.rule}")
        if any(n.chosen and n.actions > 1 for n in rep.trace.nodes):
            event(f"rule {rep.trace.rule} emits a wildcard")
    _check_exact(catalog, unused, result)
    assert (result.policy is None) == (result.recommended_action == "DETACH_POLICY")
    _check_contained(policy, result)
    _check_not_action(catalog, policy, unused, result)
    if result.policy is not None:
        again = refine_policy(result.policy, unused, catalog, **options)
        assert not again.changed
        assert again.policy == result.policy
    untouched = refine_policy(policy, UnusedSet.from_names([], catalog), catalog, **options)
    assert not untouched.changed
    assert untouched.policy == policy
    assert untouched.replacements == [] and untouched.notaction_changes == []


def _policy_allows(statements: list[Statement], action: str) -> bool:
    matched = [s for s in statements if _statement_allows(s, action)]
    return any(s.is_allow for s in matched) and not any(not s.is_allow for s in matched)


def _star_beside_a_reader() -> tuple[Catalog, Policy, UnusedSet]:
    """``Action: "*"`` beside an Allow statement of its context (the size optimizer once
    merged the two although the first had become NotAction)."""
    catalog = Catalog.from_names(["s3:GetObject", "s3:PutObject", "ec2:RunInstances"], source="x")
    statements = [
        Statement(effect="Allow", action=ValueList(values=[p], is_list=False), keys=["Action"])
        for p in ("*", "s3:G*")
    ]
    policy = Policy(statements=statements, keys=["Statement"])
    return catalog, policy, UnusedSet.from_names(["s3:PutObject"], catalog)


@pytest.mark.slow
@SETTINGS
@given(st.one_of(cases(), dense_cases()), st.sampled_from(["patterns", "notaction"]))
@example(_star_beside_a_reader(), "notaction")
def test_size_optimized_refinement_is_exact_over_the_catalog(
    case: tuple[Catalog, Policy, UnusedSet], strategy: str
) -> None:
    """The size optimizer rewrites and merges the Allow statements of one context; the
    refined statements together still allow exactly the original minus the unused, and
    each has one action element."""
    catalog, policy, unused = case
    result = refine_policy(policy, unused, catalog, strategy=strategy, optimize=Optimize.size)
    new = result.policy.statements if result.policy is not None else []
    for s in new:
        assert (s.action is None) != (s.not_action is None), s
    for action in catalog.lower_names:
        before = _policy_allows(policy.statements, action)
        assert _policy_allows(new, action) == (before and action not in unused.actions), action


# --- minimality ------------------------------------------------------------------------------


def _nodes(catalog: Catalog, lit: str, granularity: str) -> dict[str, set[str]]:
    """Candidate nodes strictly below the literal prefix, with the actions each matches."""
    prefixes: set[str] = set()
    for name in catalog.actions:
        low = ascii_lower(name)
        if granularity == "char":
            cuts = range(1, len(low))
        else:
            total, cuts_list = 0, []
            for word in split_words(name):
                total += len(word)
                cuts_list.append(total)
            cuts = [c for c in cuts_list if c < len(low)]
        for c in cuts:
            if len(low[:c]) > len(lit) and low[:c].startswith(lit):
                prefixes.add(low[:c])
    out = {p + "*": {a for a in catalog.lower_names if a.startswith(p)} for p in prefixes}
    for a in catalog.lower_names:
        if a.startswith(lit):
            out[a] = {a}
    return out


def _min_cover(kept: set[str], safe: list[set[str]]) -> int:
    best = len(kept)

    def search(uncovered: frozenset[str], used: int) -> None:
        nonlocal best
        if used >= best:
            return
        if not uncovered:
            best = used
            return
        target = min(uncovered)
        for cover in safe:
            if target in cover:
                search(uncovered - cover, used + 1)

    search(frozenset(kept), 0)
    return best


@pytest.mark.slow
@SETTINGS
@given(st.one_of(cases(), dense_cases(most=2)), st.sampled_from(["word", "char"]))
def test_trailing_star_refinement_uses_fewest_safe_nodes(
    case: tuple[Catalog, Policy, UnusedSet], granularity: str
) -> None:
    catalog, policy, unused = case
    result = refine_policy(policy, unused, catalog, granularity=granularity)  # type: ignore[arg-type]
    for rep in result.replacements:
        if rep.trace.rule != "prefix":
            continue
        lit = ascii_lower(rep.original_pattern.rstrip("*"))
        matched = _catalog_matches(rep.original_pattern, catalog)
        kept = matched - unused.actions
        safe = [m for m in _nodes(catalog, lit, granularity).values() if m and m <= kept]
        assert len(rep.new_patterns) == _min_cover(kept, safe)
        # Each emitted pattern is itself a safe node (or an exact kept name).
        for p in rep.new_patterns:
            got = _catalog_matches(p, catalog)
            assert got and got <= kept


def test_detach_when_every_allowed_action_is_unused() -> None:
    catalog = Catalog.from_names(
        ["s3:GetObject", "s3:GetObjectAcl", "ec2:RunInstances"], source="t"
    )
    policy = Policy(
        statements=[
            Statement(
                effect="Allow",
                action=ValueList(values=["s3:GetObject*", "ec2:RunInstances"], is_list=True),
                keys=["Effect", "Action"],
            )
        ],
        keys=["Statement"],
    )
    result = refine_policy(policy, UnusedSet.from_names(list(catalog.actions), catalog), catalog)
    assert result.policy is None and result.recommended_action == "DETACH_POLICY"
    assert [r.new_patterns for r in result.replacements] == [(), ()]


def test_generated_wildcards_never_name_unknown_text() -> None:
    catalog = Catalog.from_names(["s3:GetObject", "s3:GetObjectAcl", "s3:PutObject"], source="t")
    policy = Policy(
        statements=[
            Statement(
                effect="Allow",
                action=ValueList(values=["s3:*Object*"], is_list=False),
                keys=["Effect", "Action"],
            )
        ],
        keys=["Statement"],
    )
    result = refine_policy(policy, UnusedSet.from_names(["s3:PutObject"], catalog), catalog)
    assert result.policy is not None
    values = result.policy.statements[0].action_element.values
    assert values == ["s3:Get*Object*"]
    assert all(has_wildcard(v) or v in catalog for v in values)
