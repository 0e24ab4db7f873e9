"""Output formats of a refinement: the policy, a unified diff, and a recommendation.

* ``policy``: the refined policy, written in the input's layout.
* ``diff``: a unified diff of the original policy (as normalized by the writer, in
  the same layout) against the refined one.
* ``recommendation``: the shape of Access Analyzer's ``GetFindingRecommendation``
  response, with the catalog's provenance added under ``iamrefine``.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any, Literal

from iamrefine.model import Layout

if TYPE_CHECKING:
    from iamrefine.refine import RefineResult

OutputFormat = Literal["policy", "diff", "recommendation"]
FORMATS: tuple[OutputFormat, ...] = ("policy", "diff", "recommendation")

NO_CHANGE_CODE = "NO_UNUSED_PERMISSIONS"
"""The error code of a FAILED recommendation for a policy that grants no unused action."""

_NO_NEWLINE = "\\ No newline at end of file\n"


def render_policy(result: RefineResult) -> str | None:
    """The refined policy as JSON text in the input's layout; None when the
    recommendation is to detach the policy (no statement is left)."""
    from iamrefine.write import dump_policy

    if result.policy is None:
        return None
    return dump_policy(result.policy, result.original.layout)


def render_diff(
    result: RefineResult, *, fromfile: str = "a/policy.json", tofile: str = "b/policy.json"
) -> str:
    """A unified diff (3 lines of context) from the original policy to the refined one.

    Both sides are written by :func:`iamrefine.write.dump_policy` in the original's
    layout, so only refinement changes show. A detached policy diffs against nothing.
    The text is empty when nothing changed.
    """
    from iamrefine.write import dump_policy

    layout = result.original.layout
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
    step: dict[str, Any] = {"recommendedAction": result.recommended_action}
    if result.policy is not None:
        step["recommendedPolicy"] = dump_policy(
            result.policy, Layout(indent=None, trailing_newline=False)
        )
    step["existingPolicyId"] = policy_id
    return {
        "recommendationType": "UnusedPermissionRecommendation",
        "status": "SUCCEEDED",
        "recommendedSteps": [{"unusedPermissionsRecommendedStep": step}],
        "iamrefine": meta,
    }


def render_recommendation(
    result: RefineResult, policy_id: str, *, error: tuple[str, str] | None = None
) -> str:
    """:func:`recommendation` as indented JSON text with a trailing newline."""
    return json.dumps(recommendation(result, policy_id, error=error), indent=2) + "\n"


def render(result: RefineResult, fmt: OutputFormat, *, policy_id: str) -> str | None:
    """``result`` in format ``fmt``; None for ``policy`` when the policy is detached."""
    if fmt == "policy":
        return render_policy(result)
    if fmt == "diff":
        return render_diff(result, fromfile=f"a/{policy_id}", tofile=f"b/{policy_id}")
    if fmt == "recommendation":
        return render_recommendation(result, policy_id)
    raise ValueError(f"unknown output format `{fmt}`")
