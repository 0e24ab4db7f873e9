"""Every condition-bearing AWS managed policy is equivalent to a semantics-preserving
rewrite of its condition blocks (operators, keys and values reordered, single values as
lists of one, key case changed, StringEquals as StringLike on wildcard-free values,
ArnEquals and ArnLike swapped), and the checker proves it with the full condition
semantics. Where the rewrite changes a block's canonical text, the opaque encoding
cannot prove it alone.

The default run checks a fixed-seed sample of ``SAMPLE`` policies; ``pytest -m slow``
checks all of them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from conditions_rewrite import rewrite_document
from conftest import corpus_files, requires_shared
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.parse import parse_policy
from iamrefine.reference import condition_key
from iamrefine.verify import Verdict, verify_equivalence

SAMPLE = 25

FILES = [p for p in corpus_files("aws-managed") if '"Condition"' in p.read_text()]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(None)


def _check(path: Path, catalog: Catalog) -> bool:
    """Prove the rewrite equivalent; True when it changed some block's canonical text."""
    text = path.read_text()
    original = parse_policy(text, str(path))
    rewritten = parse_policy(json.dumps(rewrite_document(json.loads(text), 9)), "rewritten")
    version = original.effective_version
    changed = [
        a.condition is not None
        and b.condition is not None
        and condition_key(a.condition, version) != condition_key(b.condition, version)
        for a, b in zip(original.statements, rewritten.statements, strict=True)
    ]
    report = verify_equivalence(original, rewritten, catalog, timeout=60)
    assert report.verdict is Verdict.PROVED, (
        path.name,
        [(c.name, c.verdict.value, c.reason) for c in report.claims if c.verdict != "PROVED"],
        [c.counterexample.message for c in report.claims if c.counterexample],
    )
    return any(changed)


@requires_shared
def test_the_corpus_has_the_condition_bearing_policies() -> None:
    assert len(FILES) == 837


@requires_shared
@pytest.mark.corpus
@pytest.mark.parametrize(
    "path", random.Random(9).sample(FILES, min(SAMPLE, len(FILES))), ids=lambda p: p.name
)
def test_rewritten_conditions_are_proved_on_a_sample(path: Path, catalog: Catalog) -> None:
    _check(path, catalog)


@requires_shared
@pytest.mark.corpus
@pytest.mark.slow
def test_rewritten_conditions_are_proved_on_every_policy(catalog: Catalog) -> None:
    failures = []
    changed = 0
    for path in FILES:
        try:
            changed += _check(path, catalog)
        except AssertionError as exc:
            failures.append(str(exc)[:500])
    assert not failures, failures
    assert changed > len(FILES) // 2
