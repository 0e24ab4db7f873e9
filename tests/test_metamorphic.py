"""Metamorphic relations: transformations of the inputs that must change no verdict.

For generated cases (``fuzz.strategies``) and a candidate refinement (the refiner's own
output or a mutant of it, so that both PROVED and REFUTED verdicts are compared):

1. renaming a service consistently in the catalog, the policy, the unused set and the
   candidate changes no verdict, and the refiner's output is renamed the same way;
2. changing the case of action patterns (in the original, or in the candidate) changes
   no verdict, and the refiner's output is the same up to ASCII case;
3. splitting an Action statement into two with the same effect, resources and condition
   changes no verdict, and the refiner replaces each pattern the same way;
4. reordering statements and patterns changes no verdict, and the refiner's output is
   reordered the same way;
5. adding an unused action that no Allow statement's action element matches changes
   neither the refiner's output nor any verdict.

Verdicts come from :func:`iamrefine.verify.verify_refinement` with cvc5 (the fastest
engine on these small queries; the differential test compares the engines).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.strategies import Case, cases, mutants, to_policy
from iamrefine import solver
from iamrefine.glob import ascii_lower
from iamrefine.model import Policy
from iamrefine.reference import action_element_matches
from iamrefine.refine import refine_policy
from iamrefine.verify import Verdict, verify_refinement
from iamrefine.write import policy_to_json

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("IAMREFINE_METAMORPHIC_EXAMPLES", "40"))
ENGINE = "cvc5" if solver.cvc5_available() else "z3"
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Doc = dict[str, Any]


COUNTS: Counter[str] = Counter()


def _record() -> None:
    folder = os.environ.get("IAMREFINE_RELIABILITY_DIR")
    if folder:
        data = dict(sorted(COUNTS.items()))
        Path(folder, "metamorphic.json").write_text(json.dumps(data, indent=2), "utf-8")


@pytest.fixture(autouse=True)
def _count(request: pytest.FixtureRequest) -> Iterator[None]:
    """Count the examples of each relation and the verdicts compared."""
    before = COUNTS["verdicts compared"]
    yield
    name = request.node.name.removeprefix("test_")
    COUNTS[f"{name}: verdict pairs"] += COUNTS["verdicts compared"] - before
    _record()


def verdict(case: Case, candidate: Doc | None, unused: tuple[str, ...] | None = None) -> Verdict:
    """The checker's verdict on ``candidate`` as the refinement of ``case``."""
    other = case if unused is None else Case(case.names, case.document, unused)
    refined = None if candidate is None else to_policy(candidate, "<candidate>")
    report = verify_refinement(
        other.policy, refined, other.unused, other.catalog, timeout=30.0, engine=ENGINE
    )
    assert report.verdict is not Verdict.UNKNOWN, json.dumps(report.to_json())[:2000]
    COUNTS["verdicts compared"] += 1
    COUNTS[f"verdict {report.verdict.value}"] += 1
    return report.verdict


def refined_doc(case: Case) -> Doc | None:
    result = refine_policy(case.policy, case.unused, case.catalog)
    return None if result.policy is None else policy_to_json(result.policy)


@st.composite
def with_candidate(draw: st.DrawFn) -> tuple[Case, Doc | None]:
    """A case and a candidate: the refiner's output, or (half the time) a mutant of it."""
    case = draw(cases())
    refined = refined_doc(case)
    if refined is not None and draw(st.booleans()):
        found = draw(mutants(refined, case))
        if found is not None:
            return case, found[1]
    return case, refined


def _statements(doc: Doc) -> list[Doc]:
    s = doc["Statement"]
    return s if isinstance(s, list) else [s]


def _action_key(stmt: Doc) -> str:
    return "Action" if "Action" in stmt else "NotAction"


def _values(stmt: Doc) -> list[str]:
    v = stmt[_action_key(stmt)]
    return list(v) if isinstance(v, list) else [v]


def map_patterns(doc: Doc | None, fn: Any) -> Doc | None:
    """``doc`` with every Action/NotAction pattern replaced by ``fn(pattern)``."""
    if doc is None:
        return None
    out = copy.deepcopy(doc)
    for stmt in _statements(out):
        key = _action_key(stmt)
        value = stmt[key]
        stmt[key] = [fn(v) for v in value] if isinstance(value, list) else fn(value)
    return out


def shape(doc: Doc | None, *, fold: bool = False) -> list[tuple[str, list[str], str]]:
    """Each statement as (effect, sorted patterns, the rest as JSON), in order."""
    if doc is None:
        return []
    out = []
    for stmt in _statements(doc):
        pats = sorted(ascii_lower(p) if fold else p for p in _values(stmt))
        rest = {k: v for k, v in stmt.items() if k not in ("Action", "NotAction")}
        out.append((stmt["Effect"], pats, json.dumps(rest, sort_keys=True)))
    return out


# ---------------------------------------------------------------------------
# 1. Renaming a service.

NEW_SERVICE = "zz-renamed"


def _rename_pattern(service: str) -> Any:
    rx = re.compile(re.escape(service) + ":", re.IGNORECASE)

    def fn(p: str) -> str:
        return NEW_SERVICE + ":" + p[len(service) + 1 :] if rx.match(p) else p

    return fn


@SETTINGS
@given(data=with_candidate(), pick=st.integers(0, 100))
def test_renaming_a_service_changes_no_verdict(data: tuple[Case, Doc | None], pick: int) -> None:
    case, candidate = data
    services = sorted({n.partition(":")[0] for n in case.names})
    service = services[pick % len(services)]
    rename = _rename_pattern(service)
    renamed = Case(
        tuple(sorted(rename(n) for n in case.names)),
        map_patterns(case.document, rename) or {},
        tuple(sorted(rename(n) for n in case.unused_names)),
    )
    assert verdict(renamed, map_patterns(candidate, rename)) == verdict(case, candidate)
    assert shape(refined_doc(renamed)) == shape(map_patterns(refined_doc(case), rename))


# ---------------------------------------------------------------------------
# 2. Changing the case of patterns.


@SETTINGS
@given(data=with_candidate(), bits=st.integers(0, 2**64 - 1))
def test_changing_the_case_of_patterns_changes_no_verdict(
    data: tuple[Case, Doc | None], bits: int
) -> None:
    case, candidate = data

    def recase(p: str) -> str:
        return "".join(c.swapcase() if bits >> (i % 64) & 1 else c for i, c in enumerate(p))

    recased = Case(case.names, map_patterns(case.document, recase) or {}, case.unused_names)
    expected = verdict(case, candidate)
    assert verdict(recased, candidate) == expected
    assert verdict(case, map_patterns(candidate, recase)) == expected
    assert shape(refined_doc(recased), fold=True) == shape(refined_doc(case), fold=True)


# ---------------------------------------------------------------------------
# 3. Splitting a statement.


def split_statement(doc: Doc, index: int, cut: int) -> Doc | None:
    """Statement ``index`` (an Action statement with at least two patterns) split into
    two with the same other elements: patterns before ``cut``, and the rest."""
    stmts = copy.deepcopy(_statements(doc))
    stmt = stmts[index]
    if "Action" not in stmt or len(_values(stmt)) < 2:
        return None
    values = _values(stmt)
    cut = 1 + cut % (len(values) - 1)
    first, second = copy.deepcopy(stmt), copy.deepcopy(stmt)
    first["Action"], second["Action"] = values[:cut], values[cut:]
    second.pop("Sid", None)  # IAM takes each Sid once per policy
    stmts[index : index + 1] = [first, second]
    out = copy.deepcopy(doc)
    out["Statement"] = stmts
    return out


def _refined_patterns(case: Case, doc: Doc) -> dict[int, set[str]]:
    """For each original statement index, the patterns the refiner put in its place."""
    policy: Policy = to_policy(doc)
    result = refine_policy(policy, case.unused, case.catalog)
    out: dict[int, set[str]] = {}
    if result.policy is not None:
        for new, origin in zip(result.policy.statements, result.statement_origin, strict=True):
            out.setdefault(origin, set()).update(new.action_element.values)
    return out


@SETTINGS
@given(data=with_candidate(), where=st.integers(0, 100), cut=st.integers(0, 100))
def test_splitting_a_statement_changes_no_verdict(
    data: tuple[Case, Doc | None], where: int, cut: int
) -> None:
    case, candidate = data
    stmts = _statements(case.document)
    index = where % len(stmts)
    split = split_statement(case.document, index, cut)
    if split is None:
        split = case.document
    other = Case(case.names, split, case.unused_names)
    assert verdict(other, candidate) == verdict(case, candidate)
    if candidate is not None:
        cand_split = split_statement(candidate, where % len(_statements(candidate)), cut)
        if cand_split is not None:
            assert verdict(case, cand_split) == verdict(case, candidate)
    # The refiner replaces each pattern on its own: the two halves get, together, what
    # the whole statement got.
    whole = _refined_patterns(case, case.document)
    halves = _refined_patterns(case, split)
    merged = dict(halves)
    if split is not case.document:
        merged = {}
        for i, pats in halves.items():
            j = i if i <= index else i - 1
            merged.setdefault(j, set()).update(pats)
    assert merged == whole


# ---------------------------------------------------------------------------
# 4. Reordering statements and patterns.


@SETTINGS
@given(data=with_candidate(), order=st.randoms(use_true_random=False))
def test_reordering_changes_no_verdict(data: tuple[Case, Doc | None], order: Any) -> None:
    case, candidate = data

    def shuffled(doc: Doc) -> tuple[Doc, list[int]]:
        out = copy.deepcopy(doc)
        stmts = _statements(out)
        perm = list(range(len(stmts)))
        order.shuffle(perm)
        new = [stmts[i] for i in perm]
        for s in new:
            values = _values(s)
            order.shuffle(values)
            s[_action_key(s)] = values
        out["Statement"] = new
        return out, perm

    reordered, perm = shuffled(case.document)
    other = Case(case.names, reordered, case.unused_names)
    expected = verdict(case, candidate)
    assert verdict(other, candidate) == expected
    if candidate is not None:
        assert verdict(case, shuffled(candidate)[0]) == expected
    whole = _refined_patterns(case, case.document)
    moved = _refined_patterns(other, reordered)
    assert {perm[i]: pats for i, pats in moved.items()} == whole


# ---------------------------------------------------------------------------
# 5. Adding an unused action the policy never allowed.


@SETTINGS
@given(data=with_candidate(), pick=st.integers(0, 100))
def test_adding_a_never_allowed_unused_action_changes_nothing(
    data: tuple[Case, Doc | None], pick: int
) -> None:
    case, candidate = data
    never = [
        a
        for a in case.names
        if a not in case.unused_names
        and not any(s.is_allow and action_element_matches(s, a) for s in case.policy.statements)
    ]
    if not never:
        return
    extra = never[pick % len(never)]
    more = tuple(sorted((*case.unused_names, extra)))
    bigger = Case(case.names, case.document, more)
    assert refined_doc(bigger) == refined_doc(case)
    assert verdict(case, candidate, more) == verdict(case, candidate)
