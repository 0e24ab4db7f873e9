"""Refinement of every AWS managed policy is exact over the catalog.

Each policy of ``../shared/corpus/aws-managed`` gets a reproducible random 30% of
the catalog actions it allows marked unused; the refined policy is then compared,
statement by statement (context by context where the size optimizer may have merged
statements), with an enumerating evaluator built on
:func:`iamrefine.glob.action_matches` (through ``Catalog.expand``), independent of
the refinement trie. Skipped when the shared corpus is absent.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest

from conftest import corpus_files, iam_refusals, requires_shared
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.glob import ascii_lower, glob_to_regex, has_wildcard, literal_prefix
from iamrefine.model import Policy
from iamrefine.parse import policy_from_json
from iamrefine.refine import refine_policy
from iamrefine.structure import context_key
from iamrefine.unused import UnusedSet

SEED = 20261128
RATIO = 0.30

pytestmark = [requires_shared, pytest.mark.corpus, pytest.mark.slow]


def _expand(patterns: list[str], catalog: Catalog) -> set[str]:
    """The lowercase catalog actions some pattern matches: exact names by lookup, the
    others by one alternation of :func:`glob_to_regex` per candidate service."""
    out: set[str] = set()
    groups: dict[str | None, list[str]] = {}
    for p in patterns:
        low = ascii_lower(p)
        if not has_wildcard(low):
            if low in catalog.by_lower:
                out.add(low)
            continue
        prefix = literal_prefix(low)
        groups.setdefault(prefix.partition(":")[0] if ":" in prefix else None, []).append(low)
    for service, group in groups.items():
        rx = re.compile("|".join(f"(?:{glob_to_regex(p)})" for p in group), re.DOTALL)
        names = catalog.lower_names if service is None else catalog.services.get(service, ())
        out.update(n for n in names if rx.fullmatch(n))
    return out


def _allowed(policy: Policy, catalog: Catalog) -> set[str]:
    allowed: set[str] = set()
    for st in policy.statements:
        if not st.is_allow:
            continue
        matched = _expand(st.action_element.values, catalog)
        allowed |= (set(catalog.lower_names) - matched) if st.uses_not_action else matched
    return allowed


def _pick(name: str, allowed: set[str]) -> list[str]:
    pool = sorted(allowed)
    count = min(len(pool), math.floor(RATIO * len(pool) + 0.5))
    return sorted(random.Random(f"{SEED}:{name}").sample(pool, count))


def _statement_actions(patterns: list[str], not_action: bool, catalog: Catalog) -> set[str]:
    matched = _expand(patterns, catalog)
    return set(catalog.lower_names) - matched if not_action else matched


def _check_exact(path: Path, catalog: Catalog) -> None:
    document = json.loads(path.read_text("utf-8"))
    if iam_refusals(document):
        return  # IAM refuses it; test_corpus_roundtrip checks that the parser does too
    policy = policy_from_json(document, str(path))
    unused = UnusedSet.from_names(_pick(path.stem, _allowed(policy, catalog)), catalog)
    result = refine_policy(policy, unused, catalog)
    new_statements = result.policy.statements if result.policy is not None else []
    assert len(new_statements) == len(result.statement_origin)
    # The size optimizer (which runs when the readable result is over the quota) may
    # merge the Allow statements with Action of one context (same Effect, Resource,
    # Condition, ...; the Sid aside) into the first one left: the statements of one
    # context are compared together, the others one by one.
    context = {si: context_key(st) for si, st in enumerate(policy.statements)}
    merges = (
        {si: context[si] or si for si in context}
        if result.quota and result.quota.optimizer
        else {si: si for si in context}
    )
    for key in dict.fromkeys(merges.values()):
        olds = [si for si in merges if merges[si] == key]
        news = [
            s for s, o in zip(new_statements, result.statement_origin, strict=True) if o in olds
        ]
        here = [o for o in result.statement_origin if o in olds]
        # Several pieces of one statement only when the result is split into policies.
        assert len(here) == len(set(here)) or result.parts
        first = policy.statements[olds[0]]
        if not first.is_allow:
            assert news == [first], f"{path.name}: Deny statement {olds[0]} changed"
            continue
        before: set[str] = set()
        for si in olds:
            old = policy.statements[si]
            before |= _statement_actions(old.action_element.values, old.uses_not_action, catalog)
        after: set[str] = set()
        for new, o in zip(new_statements, result.statement_origin, strict=True):
            if o not in olds:
                continue
            old = policy.statements[o]
            assert new.resource == old.resource and new.not_resource == old.not_resource
            assert new.condition == old.condition and new.sid == old.sid
            after |= _statement_actions(new.action_element.values, new.uses_not_action, catalog)
        assert after == before - unused.actions, f"{path.name}: statements {olds} not exact"
    # Every new pattern of an Action statement must name where it came from.
    for si, new_pattern, origin in result.pattern_origins:
        assert origin in policy.statements[si].action_element.values
        if not has_wildcard(new_pattern) and new_pattern != origin:
            assert catalog.canonical(new_pattern) == new_pattern


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_managed_policies_refine_exactly(catalog: Catalog) -> None:
    files = corpus_files("aws-managed")
    assert len(files) > 1000
    for path in files:
        _check_exact(path, catalog)


def test_documentation_policies_refine_exactly(catalog: Catalog) -> None:
    files = corpus_files("aws-docs")
    assert len(files) > 100
    for path in files:
        _check_exact(path, catalog)
