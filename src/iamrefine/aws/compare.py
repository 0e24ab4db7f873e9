"""``--compare-aws``: AWS's own recommendation for a finding, graded by the checker.

:func:`request` asks Access Analyzer for a recommendation
(``generate_finding_recommendation``); :func:`wait` polls
``get_finding_recommendation`` (every page of it) with exponential backoff until it
is no longer ``IN_PROGRESS``. :func:`for_policy` keeps the step of one policy, and
:func:`grade` checks it against the original policy and the finding's unused actions
with :func:`iamrefine.check`, classified as ``regress`` classifies any refiner's
output: exact, over-permissive, under-permissive or escalation (with the
counterexamples), unknown, or invalid-output when AWS's policy does not parse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iamrefine.aws.findings import jsonable
from iamrefine.aws.layout import Comparison

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.model import Policy
    from iamrefine.unused import UnusedSet

IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
"""Our status for a recommendation still IN_PROGRESS when the wait ran out."""


@dataclass(frozen=True)
class PollOptions:
    """Backoff of :func:`wait`: the first delay, its growth factor and ceiling, and the
    total time to wait for one recommendation, in seconds."""

    first: float = 2.0
    factor: float = 2.0
    ceiling: float = 20.0
    deadline: float = 300.0


def request(client: Any, analyzer_arn: str, finding_id: str) -> None:
    """Ask Access Analyzer to generate a recommendation for the finding."""
    client.generate_finding_recommendation(analyzerArn=analyzer_arn, id=finding_id)


def _fetch(client: Any, analyzer_arn: str, finding_id: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    steps: list[Any] = []
    paginator = client.get_paginator("get_finding_recommendation")
    for page in paginator.paginate(analyzerArn=analyzer_arn, id=finding_id):
        data = jsonable(page)
        steps.extend(data.pop("recommendedSteps", []))
        data.pop("nextToken", None)
        merged = {**data, **merged}
    merged["recommendedSteps"] = steps
    return merged


def wait(
    client: Any,
    analyzer_arn: str,
    finding_id: str,
    options: PollOptions | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The finding's recommendation once it is SUCCEEDED or FAILED; with ``status``
    :data:`TIMED_OUT` when it is still IN_PROGRESS after ``options.deadline``."""
    opts = options or PollOptions()
    start = clock()
    delay = opts.first
    while True:
        found = _fetch(client, analyzer_arn, finding_id)
        if found.get("status") != IN_PROGRESS:
            return found
        if clock() - start + delay > opts.deadline:
            return {**found, "status": TIMED_OUT}
        sleep(delay)
        delay = min(delay * opts.factor, opts.ceiling)


def for_policy(recommendation: dict[str, Any], policy_id: str, name: str) -> dict[str, Any]:
    """``recommendation`` with only the steps whose ``existingPolicyId`` is the policy's
    ARN (``policy_id``) or, for an inline policy, its ``name``."""

    def mine(step: Any) -> bool:
        body = step.get("unusedPermissionsRecommendedStep") if isinstance(step, dict) else None
        return isinstance(body, dict) and body.get("existingPolicyId") in (policy_id, name)

    steps = [s for s in recommendation.get("recommendedSteps", []) if mine(s)]
    return {**recommendation, "recommendedSteps": steps}


def grade(
    original: Policy,
    recommendation: dict[str, Any],
    unused: UnusedSet,
    catalog: Catalog,
    *,
    timeout: float,
    engine: str = "auto",
) -> Comparison:
    """Grade AWS's recommendation for one policy (see the module docstring). A
    SUCCEEDED recommendation without a step for the policy leaves it as it is, which
    is graded too; a FAILED or unfinished one is not graded."""
    from iamrefine import api
    from iamrefine.errors import PolicyError
    from iamrefine.harness.regress import INVALID, classify_check
    from iamrefine.write import dump_policy, non_whitespace_length

    status = str(recommendation.get("status"))
    if status != SUCCEEDED:
        error = recommendation.get("error") or {}
        message = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        return Comparison(status, error=message or f"the recommendation is {status}")
    steps = recommendation.get("recommendedSteps") or []
    refined: Any = recommendation if steps else original
    try:
        report = api.check(
            original, refined, unused, catalog=catalog, timeout=timeout, engine=engine
        )
    except PolicyError as exc:
        rendered = [d.render() for d in exc.diagnostics]
        return Comparison(status, INVALID, rendered[0] if rendered else "not a valid policy")
    verdict, detail, counterexamples = classify_check(report)
    chars = non_whitespace_length(dump_policy(original))
    if steps:
        # The created policies together replace the original (see iamrefine.recommendation).
        texts = [s["unusedPermissionsRecommendedStep"].get("recommendedPolicy") for s in steps]
        chars = sum(non_whitespace_length(t) for t in texts if isinstance(t, str))
    return Comparison(status, verdict, detail, counterexamples, chars)
