"""SARIF 2.1.0 output, the format code-scanning services read.

One run per invocation; its results are the diagnostics of bad input (``parse``), the
claims a proof refuted or could not decide (``check``, ``equiv``), the opaque values a
proof treated as unknown strings, and the cases a refiner got wrong (``regress``). A
result points at the file, line and column of the statement at fault when there is
one, and carries the counterexample in its message and properties.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from iamrefine.errors import Diagnostic
    from iamrefine.harness.regress import RegressReport
    from iamrefine.model import Policy, Span
    from iamrefine.verify import CheckReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class Rule(StrEnum):
    """The kinds of result iamrefine reports."""

    INVALID = "invalid-input"
    REFUTED = "refuted"
    UNDECIDED = "undecided"
    OPAQUE = "opaque-value"
    REGRESSION = "refiner-regression"


_RULES: dict[Rule, tuple[str, str]] = {
    Rule.INVALID: ("error", "The input is not a valid policy, template or plan."),
    Rule.REFUTED: ("error", "A claim about the policies is false; a counterexample shows it."),
    Rule.UNDECIDED: ("warning", "The solver could not decide a claim within its budget."),
    Rule.OPAQUE: (
        "note",
        "A value known only at deployment was treated as an unknown string.",
    ),
    Rule.REGRESSION: ("error", "A refiner's output for a corpus case is not exact."),
}

_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def _uri(file: str) -> str:
    if file == "-":
        return "stdin"
    path = Path(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix())


def _location(
    file: str,
    line: int | None = None,
    column: int | None = None,
    end: tuple[int, int] | None = None,
) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file)}}
    if line is not None:
        region: dict[str, int] = {"startLine": line}
        if column is not None:
            region["startColumn"] = column
        if end is not None and end[0] >= line:
            region["endLine"] = end[0]
            if end[0] > line or column is None or end[1] > column:
                region["endColumn"] = end[1]
        physical["region"] = region
    return {"physicalLocation": physical}


def _result(
    rule: Rule,
    message: str,
    location: dict[str, Any] | None,
    *,
    level: str | None = None,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": rule.value,
        "ruleIndex": list(_RULES).index(rule),
        "level": level or _RULES[rule][0],
        "message": {"text": message},
    }
    if location is not None:
        out["locations"] = [location]
    if properties:
        out["properties"] = properties
    return out


def log(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A SARIF log of one iamrefine run holding ``results``."""
    from iamrefine import __version__

    rules = [
        {
            "id": rule.value,
            "name": "".join(word.title() for word in rule.value.split("-")),
            "shortDescription": {"text": text},
            "defaultConfiguration": {"level": level},
        }
        for rule, (level, text) in _RULES.items()
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "iamrefine",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }


def text(results: list[dict[str, Any]]) -> str:
    """The SARIF log of ``results`` as indented JSON text."""
    return json.dumps(log(results), indent=2, ensure_ascii=False)


def diagnostics(items: list[Diagnostic]) -> list[dict[str, Any]]:
    """One result per diagnostic: errors are invalid input, notes opaque values."""
    out = []
    for d in items:
        rule = Rule.OPAQUE if d.severity == "note" else Rule.INVALID
        level = _LEVELS.get(d.severity, "error")
        out.append(_result(rule, d.message, _location(d.file, d.line, d.column), level=level))
    return out


def _statement_location(file: str, policy: Policy | None, index: int) -> dict[str, Any]:
    span: Span | None = None
    if policy is not None and 0 <= index < len(policy.statements):
        span = policy.statements[index].span
    if span is None:
        return _location(file)
    return _location(file, span.line, span.column, (span.end_line, span.end_column))


def check_results(
    report: CheckReport,
    sides: dict[str, tuple[str, Policy | None]],
    *,
    policy_id: str = "",
) -> list[dict[str, Any]]:
    """One result per claim that is not PROVED. ``sides`` maps each label of the
    report's decisions (``A``/``B``, ``original``/``refined``) to its file and policy;
    a refuted claim points at the first statement that allows the counterexample's
    request, on the side that allows it."""
    from iamrefine.verify import Verdict

    out = []
    prefix = f"{policy_id}: " if policy_id else ""
    first_file = next(iter(sides.values()))[0]
    for claim in report.claims:
        if claim.verdict is Verdict.PROVED:
            continue
        cex = claim.counterexample
        if claim.verdict is Verdict.REFUTED and cex is not None:
            location = _location(first_file)
            for label, decision in cex.decisions.items():
                if decision.allowed and decision.matched_allow and label in sides:
                    file, policy = sides[label]
                    location = _statement_location(file, policy, decision.matched_allow[0])
                    break
            message = f"{prefix}{claim.name}: REFUTED: {cex.message}"
            out.append(
                _result(
                    Rule.REFUTED, message, location, properties={"counterexample": cex.to_json()}
                )
            )
        else:
            reason = f": {claim.reason}" if claim.reason else ""
            out.append(
                _result(
                    Rule.UNDECIDED,
                    f"{prefix}{claim.name}: {claim.verdict.value}{reason}",
                    _location(first_file),
                )
            )
    return out


def regress_results(report: RegressReport) -> list[dict[str, Any]]:
    """One result per case that is not exact, at the case's original policy (at the
    statement that allows a counterexample's request, when the original does)."""
    from iamrefine.errors import InputError
    from iamrefine.harness.corpus import POLICY_FILE
    from iamrefine.harness.regress import EXACT
    from iamrefine.parse import load_policy

    out = []
    for case in report.cases:
        if case.verdict == EXACT:
            continue
        file = str(Path(report.corpus) / case.name / POLICY_FILE)
        location = _location(file)
        for cx in case.counterexamples:
            decision = (cx.get("decisions") or {}).get("original") or {}
            if decision.get("allowed") and decision.get("matched_allow"):
                try:
                    original = load_policy(file)
                except InputError:  # the case may have changed since it was graded
                    break
                location = _statement_location(file, original, decision["matched_allow"][0])
                break
        parts = [f"{case.name}: {case.verdict}"]
        if case.detail:
            parts.append(case.detail)
        parts.extend(cx["message"] for cx in case.counterexamples if cx.get("message"))
        parts.extend(case.errors)
        properties: dict[str, Any] = {"verdict": case.verdict, "findings": case.findings}
        if case.counterexamples:
            properties["counterexamples"] = case.counterexamples
        out.append(_result(Rule.REGRESSION, "; ".join(parts), location, properties=properties))
    return out
