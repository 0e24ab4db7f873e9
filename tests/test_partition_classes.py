"""The class partition against a plain one: every catalog action's signature worked
out name by name, then grouped in catalog order of first members.

``build_partition`` only visits the actions that some statement or the unused set
names; this checks that the actions it never visits, and the NotAction statements
that cover them, come out exactly as if every action had been visited."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from iamrefine.catalog import Catalog
from iamrefine.encode import CatalogIndex, build_partition, compile_policy
from iamrefine.glob import action_matches
from iamrefine.parse import policy_from_json

SETTINGS = settings(max_examples=400, derandomize=True, deadline=None)

words = st.text(st.sampled_from(list("abc")), min_size=1, max_size=3)
names = st.builds(lambda s, a: f"{s}:{a}", st.sampled_from(["a", "b", "ab"]), words)
patterns = st.one_of(
    st.just("*"),
    st.builds(
        lambda s, a: f"{s}:{a}",
        st.text(st.sampled_from(list("ab*?")), min_size=1, max_size=2),
        st.text(st.sampled_from(list("abc*?")), min_size=1, max_size=3),
    ),
)
statements = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Allow", "Deny"]),
        "key": st.sampled_from(["Action", "NotAction"]),
        "values": st.lists(patterns, min_size=1, max_size=3),
    }
)


def _policy(stmts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": s["Effect"], s["key"]: s["values"], "Resource": "*"} for s in stmts
        ],
    }


def _plain_classes(
    catalog: Catalog, policies: list[list[Any]], unused: frozenset[str]
) -> list[tuple[tuple[str, ...], tuple[frozenset[int], ...], bool]]:
    order: list[tuple[Any, ...]] = []
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name in CatalogIndex(catalog).names:
        key: list[Any] = []
        for pi, stmts in enumerate(policies):
            for s in stmts:
                named = any(action_matches(p, name) for p in s.patterns)
                if named != s.not_action:
                    key.append((pi, s.index))
        sig = (tuple(key), name in unused)
        if sig not in groups:
            groups[sig] = []
            order.append(sig)
        groups[sig].append(name)
    out = []
    for sig in order:
        matches = tuple(
            frozenset(si for pj, si in sig[0] if pj == pi) for pi in range(len(policies))
        )
        out.append((tuple(groups[sig]), matches, sig[1]))
    return out


@SETTINGS
@given(
    st.lists(names, min_size=1, max_size=14),
    st.lists(st.lists(statements, min_size=1, max_size=4), min_size=1, max_size=3),
    st.data(),
)
def test_partition_matches_a_name_by_name_grouping(
    catalog_names: list[str], policies_json: list[list[dict[str, Any]]], data: st.DataObject
) -> None:
    catalog = Catalog.from_names(catalog_names, source="test")
    index = CatalogIndex(catalog)
    unused = frozenset(data.draw(st.lists(st.sampled_from(index.names), max_size=4)))
    policies = [compile_policy(policy_from_json(_policy(p))) for p in policies_json]
    part = build_partition(
        catalog, policies, [f"p{i}" for i in range(len(policies))], unused, index=index
    )
    got = [(c.members, c.matches, c.unused) for c in part.classes]
    assert [c.index for c in part.classes] == list(range(len(part.classes)))
    assert got == _plain_classes(catalog, policies, unused)
