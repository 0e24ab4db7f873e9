"""Mutation testing of the checker through the refiner's output.

Every mutation in ``fuzz.strategies.MUTATIONS`` (drop a pattern, a statement or one kept
action; keep an unused action; widen or narrow a pattern; swap Action and NotAction;
flip an Effect; change a resource or a condition; drop a Deny; add a foreign pattern;
and three that never change the semantics: re-case, reorder, duplicate) is applied to
the refiner's output of the worked example (default catalog), of generated cases and,
when ``../shared`` is present, of real managed policies. The checker must REFUTE every
mutant that is not equivalent. A mutant it PROVES is a survivor, and each survivor is
proved equivalent by :func:`iamrefine.verify.verify_equivalence` against the refiner's
output, in one of two senses:

* **equivalent**: both policies allow the same requests, for every action string;
* **equivalent over the catalog**: the same requests for every catalog action, and
  within the original policy for every action string (for instance it adds or drops a
  pattern such as ``newsvc:*`` that matches no catalog action, where the original
  allows it anyway). Such a mutant is itself an exact refinement, which is all the
  checker promises.

Any other survivor fails the test. The kill rate over the non-equivalent mutants must
be 100%; the counts are recorded for ``tests/RELIABILITY.md``.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import REPO_DIR, corpus_files, requires_shared
from fuzz.strategies import (
    MUTATIONS,
    SAMPLE_RESOURCES,
    Case,
    all_patterns,
    cases,
    judge_containment,
    sample_actions,
    to_policy,
    valid_document,
)
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.parse import load_policy
from iamrefine.refine import refine_policy
from iamrefine.unused import UnusedSet, load_unused
from iamrefine.verify import Verdict, verify_equivalence, verify_refinement
from iamrefine.write import policy_to_json

EXAMPLE = REPO_DIR / "examples" / "access-analyzer-blog"
GENERATED = int(os.environ.get("IAMREFINE_MUTATION_CASES", "15"))
COUNTS: dict[str, Counter[str]] = {}
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
"""A failure prints the whole mutant; shrinking these slow examples takes minutes."""

Doc = dict[str, Any]


def _record() -> None:
    folder = os.environ.get("IAMREFINE_RELIABILITY_DIR")
    if folder:
        data = {source: dict(sorted(c.items())) for source, c in COUNTS.items()}
        Path(folder, "mutation_kill.json").write_text(json.dumps(data, indent=2), "utf-8")


def classify_survivor(refined: Doc, mutant: Doc, case: Case, catalog: Catalog) -> str:
    """Prove a PROVED mutant equivalent to the refiner's output: ``equivalent`` (the same
    requests for every action string) or ``catalog-equivalent`` (the same requests for
    every catalog action, and within the original policy for every action string, so
    the mutant is itself an exact refinement); ``semantic`` when neither holds."""
    a = to_policy(refined, "<refined>")
    b = to_policy(mutant, "<mutant>")
    report = verify_equivalence(a, b, catalog, labels=("refined", "mutant"))
    if report.verdict is Verdict.PROVED:
        return "equivalent"
    over_catalog = [c.verdict for c in report.claims if c.name.endswith("over the catalog")]
    if all(v is Verdict.PROVED for v in over_catalog):
        within = verify_equivalence(b, case.policy, catalog, subset=True)
        if within.verdict is Verdict.PROVED:
            return "catalog-equivalent"
    return "semantic"


def _reference_agrees(case: Case, refined: Doc, mutant: Doc, kind: str) -> None:
    """On small catalogs, the enumerating evaluator confirms the classification."""
    a, b = to_policy(refined), to_policy(mutant)
    actions = sample_actions(all_patterns(refined, mutant, case.document), case.catalog)
    catalog_only = list(case.catalog.actions)
    if kind == "equivalent":
        assert judge_containment(a, b, actions, SAMPLE_RESOURCES) is None
        assert judge_containment(b, a, actions, SAMPLE_RESOURCES) is None
    else:
        assert judge_containment(a, b, catalog_only, SAMPLE_RESOURCES) is None
        assert judge_containment(b, a, catalog_only, SAMPLE_RESOURCES) is None
        assert judge_containment(b, case.policy, actions, SAMPLE_RESOURCES) is None


def kill(
    source: str,
    case: Case,
    refined: Doc,
    mutant: Doc,
    kind_name: str,
    semantic_kind: bool,
    *,
    small: bool,
) -> None:
    """Check one mutant and count the outcome; fail on a surviving semantic mutant."""
    counts = COUNTS.setdefault(source, Counter())
    report = verify_refinement(
        case.policy, to_policy(mutant, "<mutant>"), case.unused, case.catalog
    )
    counts["mutants"] += 1
    counts[f"mutants: {kind_name}"] += 1
    assert report.verdict is not Verdict.UNKNOWN, json.dumps(report.to_json())[:2000]
    if report.verdict is Verdict.REFUTED:
        counts["killed"] += 1
        counts[f"killed: {kind_name}"] += 1
        for claim in report.claims:
            if claim.counterexample is not None:
                assert claim.counterexample.message
        return
    outcome = classify_survivor(refined, mutant, case, case.catalog)
    counts[outcome] += 1
    counts[f"{outcome}: {kind_name}"] += 1
    _record()
    assert outcome != "semantic", (
        f"a semantic mutant survived ({kind_name}):\n{json.dumps(mutant)}\n"
        f"refined: {json.dumps(refined)}"
    )
    if small:
        _reference_agrees(case, refined, mutant, outcome)
    if not semantic_kind:
        assert outcome == "equivalent", kind_name


def _mutate_all(source: str, case: Case, draw: Any, *, small: bool) -> None:
    result = refine_policy(case.policy, case.unused, case.catalog)
    if result.policy is None:
        return
    refined = policy_to_json(result.policy)
    for kind in MUTATIONS:
        mutant = kind.apply(refined, case, draw)
        if not valid_document(mutant):
            continue
        assert mutant is not None
        kill(source, case, refined, mutant, kind.name, kind.semantic, small=small)
    _record()


def _real_case(policy_path: Path, unused: UnusedSet, catalog: Catalog) -> Case:
    document = json.loads(policy_path.read_text("utf-8"))
    return Case(tuple(catalog.actions), document, tuple(unused.canonical(catalog)))


@pytest.mark.slow
@settings(
    max_examples=4,
    derandomize=True,
    database=None,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=SLOW_OK,
)
@given(data=st.data())
def test_mutants_of_the_worked_example(data: st.DataObject) -> None:
    catalog = load_catalog()
    unused = load_unused(EXAMPLE / "unused.json", catalog)
    case = _real_case(EXAMPLE / "policy.json", unused, catalog)
    _mutate_all("worked example", case, data.draw, small=False)


@pytest.mark.slow
@settings(
    max_examples=GENERATED,
    derandomize=True,
    database=None,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=SLOW_OK,
)
@given(case=cases(), data=st.data())
def test_mutants_of_generated_cases(case: Case, data: st.DataObject) -> None:
    _mutate_all("generated", case, data.draw, small=True)


@requires_shared
@pytest.mark.corpus
@pytest.mark.slow
@settings(
    max_examples=3,
    derandomize=True,
    database=None,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=SLOW_OK,
)
@given(data=st.data(), pick=st.integers(0, 10**6))
def test_mutants_of_managed_policies(data: st.DataObject, pick: int) -> None:
    from iamrefine.reference import action_element_matches

    catalog = load_catalog()
    # Policies of 0.5 to 1.5 KB: large enough to hold several statements and wildcards,
    # small enough that each check takes well under a second.
    files = [f for f in corpus_files("aws-managed") if 500 <= f.stat().st_size <= 1500]
    path = files[pick % len(files)]
    policy = load_policy(path)
    allowed = [
        a
        for a in catalog.actions
        if any(s.is_allow and action_element_matches(s, a) for s in policy.statements)
    ]
    rng = random.Random(f"mutation-kill:{path.name}")
    dead = rng.sample(allowed, k=int(len(allowed) * 0.3)) if allowed else []
    unused = UnusedSet.from_names(dead, catalog)
    case = _real_case(path, unused, catalog)
    _mutate_all("managed policies", case, data.draw, small=False)


def test_kill_rate_is_total() -> None:
    """Runs last in this module: every non-equivalent mutant was killed."""
    total = Counter[str]()
    for counts in COUNTS.values():
        total.update(counts)
    if not total:
        pytest.skip("no mutants were checked in this run")
    assert total["semantic"] == 0
    assert total["killed"] > 0
    assert total["killed"] + total["equivalent"] + total["catalog-equivalent"] == total["mutants"]
