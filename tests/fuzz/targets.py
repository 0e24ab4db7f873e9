"""The fuzz targets: each takes one input and raises ``AssertionError`` when a property
fails (any other exception escaping is a crash).

* :func:`parser_target` feeds bytes to :func:`iamrefine.parse.parse_policy`. It must
  return a policy or raise :class:`~iamrefine.errors.PolicyError` whose diagnostics
  point inside the input; a policy it returns must survive write -> parse unchanged.
* :func:`refine_check_target` refines a small valid policy and checks the result: no
  crash, the checker proves it (both claims), the enumerating reference evaluator agrees
  that it is exact, every new pattern has a recorded origin, and refining again
  changes nothing.

:func:`parser_inputs` and :func:`refine_inputs` are the hypothesis strategies that
drive them, both in CI (``tests/fuzz/test_fuzz.py``) and in the longer local mode
(``python -m tests.fuzz.run``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from iamrefine.errors import PolicyError
from iamrefine.parse import parse_policy
from iamrefine.write import dump_policy

from .strategies import (
    SAMPLE_RESOURCES,
    Case,
    all_patterns,
    cases,
    judge_containment,
    judge_refinement,
    policy_documents,
)

SUITE = Path(__file__).resolve().parents[1] / "bad_inputs"
REPO = Path(__file__).resolve().parents[2]

PARSE_SECONDS = 2.0
"""Longest a single parse may take (inputs are at most a few kilobytes)."""


# ---------------------------------------------------------------------------
# The parser target.


def seed_texts() -> list[bytes]:
    """Seed inputs for mutation: the worked example, the suite's good policy and every
    small committed hostile policy."""
    files = [
        REPO / "examples" / "access-analyzer-blog" / "policy.json",
        SUITE / "good" / "policy.json",
    ]
    files += sorted((SUITE / "policy").glob("*.json"))
    return [f.read_bytes() for f in files if f.is_file() and f.stat().st_size < 20_000]


_TOKENS = (
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b",",
    b":",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\x00",
    b"\xff",
    b"\xc3\xa9",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"*",
    b"?",
    b'"Action"',
    b'"Statement"',
    b'"Effect"',
    b'"Allow"',
    b'"Condition"',
    b'"s3:Get*"',
    b"\n",
    b"\t",
    b"\r",
)


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed (or a generated document) with a few byte-level edits: flips, deletions,
    token insertions, duplicated slices, truncation."""
    if draw(st.integers(0, 2)) == 0:
        names = ("s3:GetObject", "s3:GetObjectAcl", "ec2:RunInstances", "iam:GetUser")
        doc = draw(policy_documents(names))
        indent = draw(st.sampled_from((None, 0, 2, 4)))
        data = json.dumps(doc, indent=indent).encode()
    else:
        data = draw(st.sampled_from(seeds))
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 5))
        at = draw(st.integers(0, len(buf)))
        if op == 0 and at < len(buf):
            buf[at] = draw(st.integers(0, 255))
        elif op == 1:
            end = draw(st.integers(at, min(len(buf), at + 16)))
            del buf[at:end]
        elif op == 2:
            buf[at:at] = draw(st.sampled_from(_TOKENS))
        elif op == 3:
            end = draw(st.integers(at, min(len(buf), at + 32)))
            buf[at:at] = buf[at:end] * draw(st.integers(1, 3))
        elif op == 4:
            del buf[at:]
        else:
            buf[at:at] = draw(st.binary(max_size=8))
    return bytes(buf)


def parser_inputs() -> st.SearchStrategy[bytes]:
    """Raw bytes, JSON-ish text and mutated policies."""
    seeds = seed_texts()
    return st.one_of(
        mutated_bytes(seeds),
        mutated_bytes(seeds),
        mutated_bytes(seeds),
        st.binary(max_size=200),
        st.text(alphabet='{}[]":,\\ \n0123456789abcnlrtuefAS*?', max_size=120).map(str.encode),
    )


def parser_target(data: bytes) -> str:
    """Parse ``data``; return ``"ok"`` or ``"error"``; raise AssertionError when a property
    fails (and let any exception other than PolicyError escape as a crash)."""
    start = time.perf_counter()
    try:
        policy = parse_policy(data, "fuzz.json")
    except PolicyError as exc:
        elapsed = time.perf_counter() - start
        assert elapsed < PARSE_SECONDS, f"rejecting took {elapsed:.2f} s"
        assert exc.diagnostics, "a PolicyError without diagnostics"
        lines = data.count(b"\n") + 1
        for d in exc.diagnostics:
            assert d.file == "fuzz.json"
            assert d.message and "Traceback" not in d.message
            assert d.severity == "error"
            if d.line is not None:
                assert 1 <= d.line <= lines, f"line {d.line} outside 1..{lines}: {d.render()}"
            if d.column is not None:
                assert d.column >= 1, d.render()
        return "error"
    elapsed = time.perf_counter() - start
    assert elapsed < PARSE_SECONDS, f"parsing took {elapsed:.2f} s"
    text = dump_policy(policy)
    again = parse_policy(text, "fuzz-written.json")
    assert again == policy, f"write -> parse changed the policy:\n{text}"
    assert dump_policy(again) == text, "writing is not stable"
    return "ok"


# ---------------------------------------------------------------------------
# The refine + check target.


def refine_inputs() -> st.SearchStrategy[Case]:
    """Small valid cases: a catalog of 4 to 23 actions, 1 to 3 statements, an unused set."""
    return cases()


def refine_check_target(case: Case, *, timeout: float = 30.0) -> str:
    """Refine ``case`` and check the result; return the checker's verdict (PROVED)."""
    from iamrefine.glob import action_matches
    from iamrefine.refine import refine_policy
    from iamrefine.verify import Verdict, verify_refinement
    from iamrefine.write import policy_to_json

    from .strategies import sample_actions

    result = refine_policy(case.policy, case.unused, case.catalog)
    refined = result.policy
    assert (refined is None) == (result.recommended_action == "DETACH_POLICY")
    assert len(result.statement_origin) == (0 if refined is None else len(refined.statements))
    if refined is not None:
        text = dump_policy(refined)
        assert parse_policy(text, "refined.json") == refined, (
            "the refined policy does not round-trip"
        )
        for si, new_pattern, origin in result.pattern_origins:
            original = case.policy.statements[si].action_element.values
            assert origin in original, f"origin `{origin}` is not in statement {si}"
            for name in case.catalog.actions:
                if action_matches(new_pattern, name):
                    assert action_matches(origin, name), f"`{new_pattern}` escapes `{origin}`"
    violation = judge_refinement(
        case.policy, refined, case.unused.actions, case.catalog.actions, SAMPLE_RESOURCES
    )
    assert violation is None, f"the reference evaluator finds {violation}"
    doc = None if refined is None else policy_to_json(refined)
    actions = sample_actions(all_patterns(case.document, doc), case.catalog)
    escalation = judge_containment(refined, case.policy, actions, SAMPLE_RESOURCES)
    assert escalation is None, f"the reference evaluator finds {escalation}"
    report = verify_refinement(
        case.policy,
        refined,
        case.unused,
        case.catalog,
        provenance=result.pattern_origins,
        statement_origin=result.statement_origin,
        timeout=timeout,
    )
    assert report.verdict is Verdict.PROVED, json.dumps(report.to_json())[:3000]
    if refined is not None:
        again = refine_policy(refined, case.unused, case.catalog)
        assert again.policy == refined, "refining the refined policy changed it"
    return report.verdict.value


def case_to_json(case: Case) -> dict[str, Any]:
    """A case as JSON (for the regression corpus)."""
    return {"catalog": list(case.names), "policy": case.document, "unused": list(case.unused_names)}


def case_from_json(data: dict[str, Any]) -> Case:
    """The inverse of :func:`case_to_json`."""
    return Case(tuple(data["catalog"]), data["policy"], tuple(data["unused"]))
