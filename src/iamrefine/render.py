"""Output formats of a refinement (the policy, a unified diff, a recommendation) and
the text of a proof report.

* ``policy``: the refined policy, written in the input's layout.
* ``diff``: a unified diff of the original policy's text as it was read against the
  refined policy as written.
* ``recommendation``: the shape of Access Analyzer's ``GetFindingRecommendation``
  response, with the catalog's provenance added under ``iamrefine``.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

from iamrefine.choices import OutputFormat
from iamrefine.model import Layout

if TYPE_CHECKING:
    from iamrefine.model import Policy
    from iamrefine.refine import RefineResult
    from iamrefine.verify import CheckReport

FORMATS: tuple[OutputFormat, ...] = tuple(OutputFormat)

NO_CHANGE_CODE = "NO_UNUSED_PERMISSIONS"
"""The error code of a FAILED recommendation for a policy that grants no unused action."""

_NO_NEWLINE = "\\ No newline at end of file\n"


def render_policy(result: RefineResult) -> str | None:
    """The refined policy as JSON text in the input's layout; None when the
    recommendation is to detach the policy (no statement is left). A result split into
    several managed policies is a JSON array of their documents."""
    from iamrefine.write import dump_policy, json_text, policy_to_json

    if result.policy is None:
        return None
    if not result.parts:
        return dump_policy(result.policy, result.original.layout)
    layout = result.original.layout
    docs = [policy_to_json(p) for p in result.policies]
    text = json_text(docs, indent=layout.indent)
    return text + "\n" if layout.trailing_newline else text


def render_diff(
    result: RefineResult, *, fromfile: str = "a/policy.json", tofile: str = "b/policy.json"
) -> str:
    """A unified diff (3 lines of context) from the original policy to the refined one.

    The original side is the text the original was parsed from, as it was (when it was
    built from JSON data instead, the writer's text of it), so every change the
    refined policy makes shows, the writer's included. The refined side is the policy as
    :func:`render_policy` writes it; a detached policy diffs against nothing. The text
    is empty when the refined policy's text is the original's.
    """
    from iamrefine.write import dump_policy

    layout = result.original.layout
    before = result.original.source_text
    if before is None:
        before = dump_policy(result.original, layout)
    after = "" if result.policy is None else dump_policy(result.policy, layout)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=fromfile,
        tofile=tofile,
    )
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n" + _NO_NEWLINE)
    return "".join(out)


def recommendation(
    result: RefineResult, policy_id: str, *, error: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The ``GetFindingRecommendation``-shaped response for ``result``.

    ``status`` is ``FAILED`` with ``error: {code, message}`` when ``error`` is given
    (for example by a failed proof) or when the policy grants none of the unused
    actions, so that there is nothing to recommend. Otherwise ``SUCCEEDED`` with one
    step, ``CREATE_POLICY`` (with the policy as a JSON string) or ``DETACH_POLICY``.
    """
    from iamrefine.write import dump_policy

    meta = {
        "catalog": result.catalog,
        "granularity": result.granularity,
        "strategy": result.strategy,
    }
    if error is None and not result.changed:
        error = (
            NO_CHANGE_CODE,
            "the policy grants none of the unused actions; there is nothing to remove",
        )
    if error is not None:
        code, message = error
        return {
            "recommendationType": "UnusedPermissionRecommendation",
            "status": "FAILED",
            "error": {"code": code, "message": message},
            "iamrefine": meta,
        }
    steps: list[dict[str, Any]] = []
    # One CREATE_POLICY step per managed policy when the result is split.
    targets: list[Policy | None] = [*result.policies] or [None]
    for policy in targets:
        step: dict[str, Any] = {"recommendedAction": result.recommended_action}
        if policy is not None:
            step["recommendedPolicy"] = dump_policy(
                policy, Layout(indent=None, trailing_newline=False)
            )
        step["existingPolicyId"] = policy_id
        steps.append({"unusedPermissionsRecommendedStep": step})
    if result.quota is not None and result.quota.optimizer is not None:
        meta["optimizer"] = result.quota.optimizer.to_json()
    return {
        "recommendationType": "UnusedPermissionRecommendation",
        "status": "SUCCEEDED",
        "recommendedSteps": steps,
        "iamrefine": meta,
    }


def render_recommendation(
    result: RefineResult, policy_id: str, *, error: tuple[str, str] | None = None
) -> str:
    """:func:`recommendation` as indented JSON text with a trailing newline."""
    return json.dumps(recommendation(result, policy_id, error=error), indent=2) + "\n"


def render(result: RefineResult, fmt: OutputFormat | str, *, policy_id: str) -> str | None:
    """``result`` in format ``fmt``; None for ``policy`` when the policy is detached.
    Raises ValueError for an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format `{fmt}`")
    chosen = OutputFormat(fmt)
    if chosen is OutputFormat.policy:
        return render_policy(result)
    if chosen is OutputFormat.diff:
        return render_diff(result, fromfile=f"a/{policy_id}", tofile=f"b/{policy_id}")
    return render_recommendation(result, policy_id)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _matched(effect: str, indices: list[int], sids: list[str | None]) -> str:
    if not indices:
        return ""
    from iamrefine.prove.results import statement_name

    listed = ", ".join(statement_name(i, sids[i] if i < len(sids) else None) for i in indices)
    return f"{effect} {listed} {'matches' if len(indices) == 1 else 'match'}"


def render_check(report: CheckReport) -> str:
    """A proof report for people: one line per claim, then any counterexample or reason,
    then the verdict."""
    width = max(len(c.name) for c in report.claims)
    lines = []
    for claim in report.claims:
        stats = claim.stats
        details = [_count(stats.get("queries", 0), "query", "queries")]
        if "classes" in stats:
            details.append(_count(stats["classes"], "class", "classes"))
        if stats.get("syntactic"):
            details.append(f"{stats['syntactic']} syntactic")
        details.append(str(stats.get("solver", "")))
        lines.append(
            f"{claim.verdict.value:<8} {claim.name:<{width}}  {claim.seconds:7.3f} s"
            f"  ({', '.join(details)})"
        )
        cex = claim.counterexample
        if cex is not None:
            lines.append(f"         counterexample: {cex.message}")
            for label, decision in cex.decisions.items():
                sids = cex.sids.get(label, [])
                parts = [
                    _matched("Allow", decision.matched_allow, sids),
                    _matched("Deny", decision.matched_deny, sids),
                ]
                said = "; ".join(p for p in parts if p) or "no statement matches"
                outcome = "allows" if decision.allowed else "does not allow"
                lines.append(f"         {label} {outcome} it ({said})")
        if claim.reason:
            lines.append(f"         reason: {claim.reason}")
    lines.append(f"verdict: {report.verdict.value}")
    return "\n".join(lines)
