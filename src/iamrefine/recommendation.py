"""Reading a refiner's output back: a policy, nothing, or an Access Analyzer style
recommendation. ``iamrefine check``, :func:`iamrefine.check` and ``iamrefine regress``
all read refined policies here, so one file is always graded one way.

The rule (:func:`read_refined`):

- text that is nothing but whitespace: the policy is detached (it allows nothing);
- a JSON object with a ``recommendationType`` or ``recommendedSteps`` member is a
  recommendation in the shape of ``GetFindingRecommendation``:

  - ``status`` ``FAILED``: nothing is recommended, so the original policy stays as it
    is (the refined policy *is* the original);
  - otherwise every item of ``recommendedSteps`` must hold an
    ``unusedPermissionsRecommendedStep`` whose ``recommendedAction`` is
    ``CREATE_POLICY`` (with the new policy as a JSON string in ``recommendedPolicy``)
    or ``DETACH_POLICY``. All steps must name the same ``existingPolicyId`` (or none).
    The refined policy is the union of the ``CREATE_POLICY`` steps' policies: their
    statements, concatenated in step order, in one policy (identity policies attached
    together allow a request iff one allows it and none denies it, which is what one
    policy holding all their statements does). They must share one ``Version``, since
    the version decides how policy variables are read. With no ``CREATE_POLICY`` step
    the policy is detached;
- anything else is parsed as a policy document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iamrefine.errors import PolicyError

if TYPE_CHECKING:
    from iamrefine.model import Policy

CREATE_POLICY = "CREATE_POLICY"
DETACH_POLICY = "DETACH_POLICY"
_STEP = "unusedPermissionsRecommendedStep"


@dataclass(frozen=True)
class RefinedOutput:
    """What a refiner's output stands for: ``policy`` (None when detached) and the
    policy texts as the refiner wrote them (one per created policy; the original's
    written form when a FAILED recommendation keeps it; none when detached)."""

    policy: Policy | None
    texts: tuple[str, ...]

    @property
    def detached(self) -> bool:
        return self.policy is None


def as_recommendation(text: str) -> dict[str, Any] | None:
    """``text`` decoded when it is a recommendation (a JSON object with a
    ``recommendationType`` or ``recommendedSteps`` member), else None."""
    if '"recommendationType"' not in text and '"recommendedSteps"' not in text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # Not a recommendation; the policy parser reports what is wrong with it.
        return None
    if not isinstance(data, dict) or not (
        "recommendationType" in data or "recommendedSteps" in data
    ):
        return None
    return data


def read_refined(text: str, source: str, original: Policy) -> RefinedOutput:
    """The policy that ``text`` (a refiner's output for ``original``) stands for, by the
    rule in the module docstring. Raises :class:`PolicyError` when it is none of those
    forms, or a policy in it is invalid."""
    from iamrefine.parse import parse_policy

    if not text.strip():
        return RefinedOutput(None, ())
    data = as_recommendation(text)
    if data is None:
        return RefinedOutput(parse_policy(text, source), (text,))
    return _from_recommendation(data, source, original)


def _from_recommendation(data: dict[str, Any], source: str, original: Policy) -> RefinedOutput:
    from iamrefine.parse import parse_policy
    from iamrefine.write import dump_policy

    if data.get("status") == "FAILED":
        return RefinedOutput(original, (dump_policy(original),))
    steps = data.get("recommendedSteps")
    if not isinstance(steps, list) or not steps:
        raise PolicyError.at(source, "`recommendedSteps` must be a non-empty list of steps")
    bodies: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        body = step.get(_STEP) if isinstance(step, dict) else None
        if not isinstance(body, dict):
            raise PolicyError.at(source, f"`recommendedSteps[{i}]` has no `{_STEP}` object")
        bodies.append(body)
    ids = {b.get("existingPolicyId") for b in bodies}
    if len(ids) > 1:
        named = ", ".join(f"`{i}`" for i in sorted(map(str, ids)))
        raise PolicyError.at(
            source,
            f"the recommendation's steps are for several policies ({named}); "
            "check one policy at a time",
        )
    created: list[Policy] = []
    texts: list[str] = []
    for i, body in enumerate(bodies):
        action = body.get("recommendedAction")
        if action == DETACH_POLICY:
            continue
        policy_text = body.get("recommendedPolicy")
        if action != CREATE_POLICY or not isinstance(policy_text, str):
            raise PolicyError.at(
                source,
                f"`recommendedSteps[{i}]`: `{action}` is not `CREATE_POLICY` with a "
                "`recommendedPolicy` string, nor `DETACH_POLICY`",
            )
        where = (
            f"{source}:recommendedSteps[{i}].recommendedPolicy"
            if len(bodies) > 1
            else f"{source}:recommendedPolicy"
        )
        created.append(parse_policy(policy_text, where))
        texts.append(policy_text)
    if not created:
        return RefinedOutput(None, ())
    return RefinedOutput(_union(created, source), tuple(texts))


def _union(policies: list[Policy], source: str) -> Policy:
    first = policies[0]
    versions = sorted({p.effective_version for p in policies})
    if len(versions) > 1:
        raise PolicyError.at(
            source,
            "the created policies have different `Version`s ("
            + ", ".join(f"`{v}`" for v in versions)
            + "), which read policy variables differently; they cannot be checked as one",
        )
    if len(policies) == 1:
        return first
    statements = [st for p in policies for st in p.statements]
    return first.model_copy(
        update={"statements": statements, "statement_is_list": True, "source_text": None}
    )
