"""The refinement engine: the rules of :mod:`iamrefine.refine.rules` run over every
statement of a policy, the result assembled, and made to fit the managed-policy quota
(:mod:`iamrefine.refine.fit`).

With ``strategy="auto"`` (the default) a policy is refined with ``patterns``, and with
``notaction`` when only that fits (:func:`iamrefine.refine.fit.notaction_fallback`).
"""

from __future__ import annotations

from functools import partial
from typing import Literal

from iamrefine.catalog import Catalog
from iamrefine.choices import Optimize
from iamrefine.model import Policy, Statement
from iamrefine.refine.results import (
    MANAGED_POLICY_QUOTA,
    NodeKind,
    NotActionChange,
    PatternTrace,
    RefineResult,
    Replacement,
    Rule,
    Strategy,
    TraceNode,
)
from iamrefine.refine.rules import Refiner
from iamrefine.refine.trie import Granularity, catalog_index
from iamrefine.unused import UnusedSet


def refine_policy(
    policy: Policy,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    granularity: Granularity = "word",
    strategy: Strategy | Literal["auto"] = "auto",
    optimize: Optimize = Optimize.auto,
    max_policies: int = 10,
    work_budget: int | None = None,
) -> RefineResult:
    """Remove the unused actions from ``policy``; see :mod:`iamrefine.refine.rules` for the
    rules.

    The catalog trie is built once per catalog digest and granularity and reused.
    ``optimize``, ``max_policies`` and ``work_budget`` (the size optimizer's, by
    default :data:`~iamrefine.refine.optimize.OPTIMIZER_WORK`) decide how a result over
    the managed-policy quota is made to fit (see :mod:`iamrefine.refine.fit`).
    ``strategy="auto"`` is ``patterns``, or ``notaction`` where only that fits (see
    :func:`iamrefine.refine.fit.notaction_fallback`).
    """
    if strategy not in ("auto", "patterns", "notaction"):
        raise ValueError(f"unknown strategy `{strategy}`")
    refine = partial(
        _refine,
        policy,
        unused,
        catalog,
        granularity=granularity,
        optimize=optimize,
        max_policies=max_policies,
        work_budget=work_budget,
    )
    result = refine(strategy="notaction" if strategy == "notaction" else "patterns")
    if strategy != "auto":
        return result
    from iamrefine.refine.fit import notaction_fallback

    return notaction_fallback(result, partial(refine, strategy="notaction"))


def _refine(
    policy: Policy,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    granularity: Granularity,
    strategy: Strategy,
    optimize: Optimize,
    max_policies: int,
    work_budget: int | None,
) -> RefineResult:
    index = catalog_index(catalog, granularity)
    refiner = Refiner(index, unused, policy.source or "<policy>")
    statements: list[Statement] = []
    origin: list[int] = []
    pattern_origins: list[tuple[int, str, str]] = []
    for si, st in enumerate(policy.statements):
        new = refiner.statement(si, st, strategy)
        if new is None:
            continue
        statements.append(new)
        origin.append(si)
        if new.is_allow and new.action is not None:
            table = refiner.origins.get(si, {})
            for value in new.action.values:
                pattern_origins.append((si, value, table.get(value, value)))
    refiner.warn_ineffective(unused)

    if statements:
        new_policy: Policy | None = policy.model_copy(
            update={"statements": statements, "source_text": None}
        )
        action: Literal["CREATE_POLICY", "DETACH_POLICY"] = "CREATE_POLICY"
    else:
        new_policy = None
        action = "DETACH_POLICY"
    changed = len(statements) != len(policy.statements) or any(
        new is not old for new, old in zip(statements, policy.statements, strict=True)
    )
    result = RefineResult(
        original=policy,
        policy=new_policy,
        recommended_action=action,
        warnings=refiner.warnings,
        changed=changed,
        statement_origin=origin,
        replacements=refiner.replacements,
        pattern_origins=pattern_origins,
        notaction_changes=refiner.notaction_changes,
        catalog=dict(catalog.info()),
        granularity=granularity,
        strategy=strategy,
        unused_count=len(unused.actions),
        traces=[r.trace for r in refiner.replacements],
    )
    from iamrefine.refine.fit import fit_result

    return fit_result(
        result,
        unused,
        catalog,
        optimize=Optimize(optimize),
        max_policies=max_policies,
        work_budget=work_budget,
    )


__all__ = [
    "MANAGED_POLICY_QUOTA",
    "NodeKind",
    "NotActionChange",
    "PatternTrace",
    "RefineResult",
    "Replacement",
    "Rule",
    "Strategy",
    "TraceNode",
    "refine_policy",
]
