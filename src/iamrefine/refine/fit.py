"""Making a refinement attachable: the size optimizer and the split into several
managed policies, applied to the readable refinement by the rules of ``--optimize``.

* ``readable``: today's word prefixes; a policy over the quota only gets a warning.
* ``auto`` (the default): the readable form while it fits the managed-policy quota;
  otherwise the size optimizer runs (and a note says so), and when the result still
  does not fit, it is split into at most ``max_policies`` managed policies.
* ``size``: always the optimizer, then the split when needed.

When even ``max_policies`` policies cannot hold the result, the result says so
(:attr:`QuotaReport.fits` false) with a lower bound on the characters needed; the
CLI turns that into an error. ``--strategy auto`` then tries the NotAction form of
each Allow statement whose Action is ``*`` (:func:`notaction_fallback`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from iamrefine.choices import Optimize
from iamrefine.errors import Diagnostic
from iamrefine.refine.engine import MANAGED_POLICY_QUOTA
from iamrefine.refine.split import (
    compact_size,
    cuts_by_service,
    envelope_size,
    policy_size,
    split_policy,
)
from iamrefine.write import statement_to_json

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.refine.engine import RefineResult
    from iamrefine.refine.optimize import OptimizerStats
    from iamrefine.unused import UnusedSet

DEFAULT_MAX_POLICIES = 10
"""Managed policies a role may have attached by default."""

MOST_ATTACHABLE = 20
"""Managed policies a role may have attached at most (the ceiling of AWS's adjustable
quota)."""


@dataclass(frozen=True, kw_only=True)
class QuotaReport:
    """How the result meets the managed-policy quota.

    ``readable_size`` is the readable refinement's size; ``sizes`` the size of each
    managed policy of the result (one unless split); ``fits`` is false when even
    ``max_policies`` policies cannot hold it, and then ``needed`` is a lower bound on
    the characters any split of the optimizer's patterns needs."""

    readable_size: int
    sizes: tuple[int, ...]
    fits: bool
    max_policies: int
    optimizer: OptimizerStats | None = None
    needed: int | None = None
    reason: str | None = None


def fit_result(
    result: RefineResult,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    optimize: Optimize,
    max_policies: int = DEFAULT_MAX_POLICIES,
    work_budget: int | None = None,
    quota: int = MANAGED_POLICY_QUOTA,
) -> RefineResult:
    """``result`` optimized and split by the rules of the module docstring."""
    if max_policies < 1:
        raise ValueError("max_policies must be at least 1")
    if result.policy is None:
        return result
    source = result.original.source or "<policy>"
    readable_size = policy_size(result.policy)
    warnings = list(result.warnings)
    stats = None
    over = readable_size > quota
    if optimize is Optimize.readable:
        if over:
            warnings.append(_over_quota(source, readable_size, quota, result))
        report = QuotaReport(
            readable_size=readable_size, sizes=(readable_size,), fits=not over, max_policies=1
        )
        return replace(result, size=readable_size, warnings=warnings, quota=report)
    if optimize is Optimize.size or over:
        # Imported here: a policy within the quota never needs the optimizer's modules.
        from iamrefine.refine.optimize import OPTIMIZER_WORK, optimize_result

        work = OPTIMIZER_WORK if work_budget is None else work_budget
        result, stats = optimize_result(result, unused, catalog, work_budget=work)
    refined = result.policy
    assert refined is not None
    size = policy_size(refined)
    if over and optimize is Optimize.auto:
        warnings.append(
            Diagnostic(
                source,
                None,
                None,
                f"the readable refinement has {readable_size:,} non-whitespace characters, "
                f"over the managed-policy quota of {quota:,}; the size optimizer wrote "
                f"{size:,}{_gap_text(stats)} (`--optimize readable` keeps the readable form)",
                "note",
            )
        )
    if size <= quota:
        report = QuotaReport(
            readable_size=readable_size,
            sizes=(size,),
            fits=True,
            max_policies=max_policies,
            optimizer=stats,
        )
        return replace(result, size=size, warnings=warnings, quota=report)
    split = split_policy(refined, quota, max_policies, catalog) if max_policies > 1 else None
    if split is None:
        needed = _needed(result, stats, size)
        reason = _why_not(result, stats, quota, max_policies, needed, catalog)
        report = QuotaReport(
            readable_size=readable_size,
            sizes=(size,),
            fits=False,
            max_policies=max_policies,
            optimizer=stats,
            needed=needed,
            reason=reason,
        )
        return replace(result, size=size, warnings=warnings, quota=report)
    policy = refined.model_copy(update={"statements": split.statements})
    origin = [result.statement_origin[j] for j in split.origin]
    warnings.append(
        Diagnostic(
            source,
            None,
            None,
            f"the refined policy has {size:,} non-whitespace characters, over the "
            f"managed-policy quota of {quota:,}; it is split into {len(split.parts)} managed "
            f"policies of {', '.join(f'{s:,}' for s in split.sizes)} characters",
            "note",
        )
    )
    report = QuotaReport(
        readable_size=readable_size,
        sizes=tuple(split.sizes),
        fits=True,
        max_policies=max_policies,
        optimizer=stats,
    )
    return replace(
        result,
        policy=policy,
        statement_origin=origin,
        size=policy_size(policy),
        warnings=warnings,
        quota=report,
        parts=split.parts,
        unsplit=(refined, list(result.statement_origin)),
    )


def _gap_text(stats: OptimizerStats | None) -> str:
    if stats is None or not stats.cost:
        return ""
    return f", its patterns within {stats.gap:.1%} of the LP lower bound"


def _needed(result: RefineResult, stats: OptimizerStats | None, size: int) -> int:
    """A lower bound on the characters of the result in any number of policies: one
    policy envelope, plus the result's characters with the re-solved patterns counted
    at the optimizer's lower bound."""
    assert result.policy is not None
    slack = 0.0
    if stats is not None:
        slack = stats.cost - stats.lower_bound
    return max(envelope_size(result.policy), int(size - slack))


def _why_not(
    result: RefineResult,
    stats: OptimizerStats | None,
    quota: int,
    max_policies: int,
    needed: int,
    catalog: Catalog,
) -> str:
    policy = result.policy
    assert policy is not None
    source = result.original.source or "<policy>"
    room = quota - envelope_size(policy)
    for j, st in enumerate(policy.statements):
        size = compact_size(statement_to_json(st))
        if size <= room:
            continue
        if st.is_allow and st.action is not None:
            cuttable = len(st.action.values) > 1
            kind = "a statement with a single action, which cannot be cut"
        elif st.is_allow:
            cuttable = cuts_by_service(st, catalog, room)
            kind = (
                "an Allow statement with NotAction, cut by service in vain: the values "
                "of one service do not fit in one managed policy"
            )
        else:
            cuttable, kind = False, "a Deny statement, which cannot be cut"
        if not cuttable:
            bound = ""
            slack = stats.slack.get(result.statement_origin[j]) if stats is not None else None
            if slack is not None:
                least = int(size - slack)
                bound = (
                    f" (at least {least:,}: a lower bound over the patterns the optimizer "
                    "considered for its added values)"
                )
            return (
                f"{source}: refined Statement[{j}] ({kind}) has {size:,} "
                f"non-whitespace characters{bound}, more than a managed policy of {quota:,} holds"
            )
    # Each policy of a split holds at most `quota` characters, so the bound needs this many.
    fewest = -(-needed // quota)
    if fewest > MOST_ATTACHABLE:
        advice = (
            f"by that bound it needs at least {fewest} managed policies, more than the "
            f"{MOST_ATTACHABLE} that AWS lets a role have attached"
        )
    elif fewest > max_policies:
        advice = f"by that bound it needs at least {fewest}: pass a larger `--max-policies`"
    else:
        advice = "pass a larger `--max-policies`"
    return (
        f"{source}: the refined policy needs at least {needed:,} non-whitespace characters "
        f"(a lower bound over the patterns the optimizer considered), and no split into at most "
        f"{max_policies} managed policies of {quota:,} ({max_policies * quota:,} in all) "
        f"holds it; {advice}"
    )


def _allows_every_action(result: RefineResult) -> bool:
    """Has the original an Allow statement whose Action is ``*`` (which ``--strategy
    notaction`` rewrites)?"""
    return result.strategy == "patterns" and any(
        st.is_allow and st.action is not None and any(v.strip("*") == "" for v in st.action.values)
        for st in result.original.statements
    )


def notaction_fallback(result: RefineResult, notaction: Callable[[], RefineResult]) -> RefineResult:
    """``--strategy auto``: ``result`` (of ``patterns``), unless no split holds it and
    the original has an Allow statement whose Action is ``*``; then ``notaction()`` (the
    same refinement with ``notaction``) with a note, when that fits. When neither fits,
    ``result`` with a reason that says so."""
    report = result.quota
    if report is None or report.fits or not report.reason or not _allows_every_action(result):
        return result
    other = notaction()
    if other.quota is not None and not other.quota.fits:
        reason = f"{report.reason}; nor does the NotAction form of `--strategy notaction` fit"
        return replace(result, quota=replace(report, reason=reason))
    n = len(other.policies)
    note = Diagnostic(
        result.original.source or "<policy>",
        None,
        None,
        "no split into at most "
        f"{report.max_policies} managed policies holds the refinement that keeps each "
        "Action list; each Allow statement whose Action is `*` is written as NotAction of "
        f"the unused actions instead (`--strategy notaction`), which fits in {n} managed "
        f"polic{'y' if n == 1 else 'ies'} (`--strategy patterns` keeps the Action lists, "
        "and fails)",
        "note",
    )
    return replace(other, warnings=[note, *other.warnings])


def notaction_alternative(
    result: RefineResult, unused: UnusedSet, catalog: Catalog, *, max_policies: int
) -> str:
    """For a result of ``--strategy patterns`` that no ``max_policies`` policies hold: a
    clause saying that ``--strategy notaction`` fits, when the original has an Allow
    statement whose Action is ``*`` and that strategy's result does fit; "" otherwise.
    It costs one more refinement, on the way to an error only."""
    # Imported here: the engine imports this module.
    from iamrefine.refine.engine import refine_policy

    other = notaction_fallback(
        result,
        lambda: refine_policy(
            result.original,
            unused,
            catalog,
            granularity=result.granularity,
            strategy="notaction",
            max_policies=max_policies,
        ),
    )
    if other.strategy != "notaction":
        return ""
    n = len(other.policies)
    return (
        "; with `--strategy notaction` (an Allow statement whose Action is `*` becomes a "
        f"NotAction list of the unused actions, cut by service) it fits in {n} managed "
        f"polic{'y' if n == 1 else 'ies'}"
    )


def _over_quota(source: str, size: int, quota: int, result: RefineResult) -> Diagnostic:
    hint = ""
    if _allows_every_action(result):
        hint = "; `--strategy notaction` writes statements whose Action is `*` compactly"
    hint += "; `--optimize size` writes the fewest characters"
    return Diagnostic(
        source,
        None,
        None,
        f"the refined policy has {size:,} non-whitespace characters, "
        f"{size - quota:,} over the managed-policy quota of {quota:,}{hint}",
        "warning",
    )
