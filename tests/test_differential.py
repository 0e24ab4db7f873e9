"""Three judges must agree on every generated refinement question.

A case is a small catalog, an original policy, an unused set and a *candidate*
refinement: the refiner's own output, a mutation of it (most of them wrong), or an
unrelated random policy. Each judge says whether the candidate is the exact refinement
(both claims: exact over the catalog, and no escalation for any action string):

1. **Z3**: :func:`iamrefine.verify.verify_refinement` with ``engine="z3"``;
2. **the enumerating reference evaluator** (:mod:`iamrefine.reference`, concrete mode):
   every catalog action x every sample resource (one per region of the generated
   resource globs) x every request of :func:`fuzz.strategies.request_pool` (which
   realizes every combination of the condition and policy-variable atoms) and the
   checker's counterexample requests for the catalog claim, and sample action strings
   (instances of every pattern, re-cased, names outside the catalog) for the
   no-escalation claim;
3. **cvc5** on the same SMT-LIB: the checker with ``engine="cvc5"`` (which hands cvc5
   the SMT-LIB text of each query), and, for every obligation Z3 discharged, cvc5 and a
   fresh Z3 reading that obligation's exported SMT-LIB text on its own.

The counts are recorded for ``tests/RELIABILITY.md`` when ``IAMREFINE_RELIABILITY_DIR``
is set; ``IAMREFINE_DIFFERENTIAL_CASES`` raises the number of cases.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fuzz.strategies import (
    RESOURCES,
    SAMPLE_RESOURCES,
    VARIABLE_RESOURCE,
    Case,
    all_patterns,
    cases,
    judge_containment,
    judge_refinement,
    mutants,
    policy_documents,
    sample_actions,
    to_policy,
)
from iamrefine import solver
from iamrefine.glob import resource_matches
from iamrefine.model import Policy
from iamrefine.refine import refine_policy
from iamrefine.verify import CheckReport, Verdict, verify_refinement
from iamrefine.write import policy_to_json

CASES = int(os.environ.get("IAMREFINE_DIFFERENTIAL_CASES", "2000"))
HAVE_CVC5 = solver.cvc5_available()
TIMEOUT = float(os.environ.get("IAMREFINE_DIFFERENTIAL_TIMEOUT", "1.5"))

WORKERS = 2
TEXT_EVERY = 8
"""Every TEXT_EVERY-th case also has each of its obligations re-decided from the exported
SMT-LIB text (a fresh context per engine costs more than the checker's own run)."""


def _record(name: str, data: dict[str, Any]) -> None:
    folder = os.environ.get("IAMREFINE_RELIABILITY_DIR")
    if folder:
        Path(folder, f"{name}.json").write_text(json.dumps(data, indent=2), "utf-8")


# ---------------------------------------------------------------------------
# Candidates.


@st.composite
def questions(draw: st.DrawFn) -> tuple[Case, dict[str, Any] | None, str, bool]:
    """A case, a candidate document (None: detached), its origin, and whether to pass the
    refiner's provenance to the checker (a hint it must never trust)."""
    case = draw(cases())
    result = refine_policy(case.policy, case.unused, case.catalog)
    refined = None if result.policy is None else policy_to_json(result.policy)
    kind = draw(st.sampled_from(("mutant", "refined", "mutant", "random")))
    if kind == "refined" or refined is None:
        return case, refined, "refined", True
    if kind == "random":
        return case, draw(policy_documents(case.names)), "random", False
    found = draw(mutants(refined, case))
    if found is None:
        return case, refined, "refined", True
    mutation, mutant = found
    return case, mutant, f"mutant: {mutation.name}", draw(st.booleans())


# ---------------------------------------------------------------------------
# The judges.


def z3_judge(
    case: Case, candidate: Policy | None, provenance: bool, engine: str = "z3"
) -> CheckReport:
    """The checker's report with one engine (``z3`` or ``cvc5``)."""
    prov = origin = None
    if provenance:
        result = refine_policy(case.policy, case.unused, case.catalog)
        prov, origin = result.pattern_origins, result.statement_origin
    return verify_refinement(
        case.policy,
        candidate,
        case.unused,
        case.catalog,
        provenance=prov,
        statement_origin=origin,
        timeout=TIMEOUT,
        engine=engine,
    )


def reference_judge(
    case: Case,
    candidate: Policy | None,
    extra_actions: list[str],
    extra_resources: list[str],
    extra_requests: list[dict[str, list[str]]],
) -> tuple[Verdict, str | None]:
    """The enumerating judge: REFUTED with the kind of the first violation, or PROVED."""
    resources = [*SAMPLE_RESOURCES, *extra_resources]
    violation = judge_refinement(
        case.policy,
        candidate,
        case.unused.actions,
        case.catalog.actions,
        resources,
        extra_requests,
    )
    if violation is not None:
        return Verdict.REFUTED, violation.kind
    doc = None if candidate is None else policy_to_json(candidate)
    actions = [*sample_actions(all_patterns(case.document, doc), case.catalog), *extra_actions]
    violation = judge_containment(candidate, case.policy, actions, resources, extra_requests)
    if violation is not None:
        return Verdict.REFUTED, violation.kind
    return Verdict.PROVED, None


def obligation_texts_agree(report: CheckReport, stats: Counter[str]) -> list[str]:
    """Every obligation Z3 discharged, re-decided from its exported SMT-LIB text alone by
    cvc5 (when installed) and by a fresh Z3; a definite answer that differs from the
    recorded status is a disagreement."""
    problems = []
    engines = ("z3", "cvc5") if HAVE_CVC5 else ("z3",)
    for ob in report.obligations:
        text = ob.smtlib()
        for engine in engines:
            answer = solver.solve_smtlib(text, engine, timeout=TIMEOUT)
            stats[f"obligation texts decided by {engine}"] += 1
            if answer.status == "unknown":
                stats[f"obligation texts unknown to {engine}"] += 1
            elif ob.status != "unknown" and answer.status != ob.status:
                problems.append(f"{engine} says {answer.status} on `{ob.name}` ({ob.status})")
    return problems


# ---------------------------------------------------------------------------
# Tests.


def test_sample_resources_cover_every_region() -> None:
    """Every combination of the generated resource globs that some string matches is
    matched by one of the sample resources (checked by brute force over strings built
    from the globs' own characters), so enumerating the samples is exact."""
    pieces = ["arn:aws:s3:::", "b/", "c", "x", "y", "/", "home/", "${aws:username}", "alice", ""]
    # The policy-variable element read literally (Version 2008-10-17) and as it can match
    # under 2012-10-17 (the variable as any text).
    globs = [*RESOURCES, VARIABLE_RESOURCE.replace("${aws:username}", "*")]

    def region(s: str) -> tuple[bool, ...]:
        return tuple(resource_matches(g, s) for g in globs)

    seen = {region(s) for s in SAMPLE_RESOURCES}
    for n in range(4):
        for parts in itertools.product(pieces, repeat=n):
            s = "".join(parts)
            assert region(s) in seen, f"no sample resource is in the region of {s!r}"


def judge(question: tuple[Case, dict[str, Any] | None, str, bool], stats: Counter[str]) -> None:
    """Ask all three judges about one question; fail on any disagreement or UNKNOWN."""
    case, doc, origin, provenance = question
    candidate = None if doc is None else to_policy(doc, "<candidate>")
    z3_report = z3_judge(case, candidate, provenance)
    extra_actions: list[str] = []
    extra_resources: list[str] = []
    extra_requests: list[dict[str, list[str]]] = []
    for claim in z3_report.claims:
        if claim.counterexample is not None:
            extra_actions.append(claim.counterexample.action)
            extra_resources.append(claim.counterexample.resource)
            extra_requests.append(claim.counterexample.request)
    ref_verdict, ref_kind = reference_judge(
        case, candidate, extra_actions, extra_resources, extra_requests
    )
    verdicts = {"z3": z3_report.verdict, "reference": ref_verdict}
    problems: list[str] = []
    if HAVE_CVC5:
        verdicts["cvc5"] = z3_judge(case, candidate, provenance, engine="cvc5").verdict
    if stats["cases"] % TEXT_EVERY == 0:
        problems = obligation_texts_agree(z3_report, stats)
    stats["cases"] += 1
    stats[f"origin {origin.split(':')[0]}"] += 1
    stats[f"verdict {z3_report.verdict.value}"] += 1
    if ref_kind:
        stats[f"reference violation {ref_kind}"] += 1
    definite = {v for v in verdicts.values() if v is not Verdict.UNKNOWN}
    if len(definite) > 1 or problems:
        stats["disagreements"] += 1
    for name, verdict in verdicts.items():
        if verdict is Verdict.UNKNOWN:
            stats[f"unknown from {name}"] += 1
    if Verdict.UNKNOWN in verdicts.values():
        stats["unknown"] += 1
    assert len(definite) == 1 and not problems, (
        f"judges disagree: {verdicts} {problems}\ncandidate ({origin}): {json.dumps(doc)}\n"
        f"case: {case.describe()}\nz3: {json.dumps(z3_report.to_json())[:3000]}"
    )
    assert ref_verdict is not Verdict.UNKNOWN
    if origin == "refined":
        assert Verdict.PROVED in definite, case.describe()


def run_shard(shard: int, count: int) -> dict[str, Any]:
    """Judge ``count`` generated questions with hypothesis seed ``shard`` (deterministic);
    return the counts and, on failure, hypothesis's report of the shrunk example."""
    stats: Counter[str] = Counter()

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @seed(shard)
    @given(question=questions())
    def check(question: tuple[Case, dict[str, Any] | None, str, bool]) -> None:
        judge(question, stats)

    start = time.perf_counter()
    failure = None
    try:
        check()
    except Exception as exc:  # reported to the parent process, which fails the test
        failure = "".join(traceback.format_exception(exc))[-6000:]
    return {"stats": dict(stats), "failure": failure, "seconds": time.perf_counter() - start}


@pytest.mark.slow
def test_three_judges_agree() -> None:
    """CASES generated questions, split over WORKERS processes (fixed seeds)."""
    start = time.perf_counter()
    shares = [CASES // WORKERS + (1 if i < CASES % WORKERS else 0) for i in range(WORKERS)]
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(run_shard, range(WORKERS), shares))
    stats: Counter[str] = Counter()
    for r in results:
        stats.update(r["stats"])
    _record(
        "differential",
        {
            "cases": stats["cases"],
            "disagreements": stats["disagreements"],
            "unknown": stats["unknown"],
            "cvc5": HAVE_CVC5,
            "workers": WORKERS,
            "counts": dict(sorted(stats.items())),
            "seconds": round(time.perf_counter() - start, 1),
        },
    )
    failures = [r["failure"] for r in results if r["failure"]]
    assert not failures, failures[0]
    assert stats["cases"] >= CASES
    assert stats["verdict PROVED"] and stats["verdict REFUTED"]
