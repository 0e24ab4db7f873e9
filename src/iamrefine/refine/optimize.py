"""The size optimizer: rewrite replaced patterns with the fewest characters, merging
the Allow statements that share one context.

The Allow statements with Action that have the same context (everything but the action
element and the Sid, see :func:`iamrefine.structure.context_key`) together allow
exactly what one statement with the union of their Action lists allows. The optimizer
re-solves each such group that has a replaced pattern, or more than one statement left,
as one statement (see ``proofs/CONTAINMENT.md``, "The size optimizer"):

* the elements to cover are the *wanted* catalog actions: those any original pattern
  of the group matches, minus the unused ones;
* a candidate is an original pattern that matches no unused action (its own origin), or
  one of :mod:`iamrefine.refine.candidates`, contained over all strings in one replaced
  pattern of the group (its origin); an original pattern that matches no catalog
  action at all is kept as written;
* the choice is a weighted set cover (cost: the pattern's non-whitespace characters in
  the policy, quotes and comma included) solved by :mod:`iamrefine.refine.cover`.

The group becomes one statement, at the place, and with the Sid, of its first statement
left, when that is shorter than the readable statements; otherwise they stay as they
are. The optimizer is not trusted: its result is proved by the checker like any other,
and the certificate re-derives the merge (Theorem 4 of ``proofs/THEOREMS.md``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from iamrefine.glob import ascii_lower, has_wildcard
from iamrefine.refine.candidates import (
    Candidates,
    Service,
    Work,
    generate,
    matched_positions,
    pattern_cost,
)
from iamrefine.refine.cover import Cover, CoverMethod, solve_cover, solver_available
from iamrefine.refine.split import compact_size
from iamrefine.refine.trie import CatalogIndex, catalog_index
from iamrefine.structure import action_contexts, context_key, made_not_action
from iamrefine.write import statement_to_json

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.model import Statement
    from iamrefine.refine.engine import RefineResult
    from iamrefine.unused import UnusedSet

OPTIMIZER_WORK = 100_000
"""The optimizer's budget per policy, in units of :class:`~iamrefine.refine.candidates.Work`:
0.5 to 1.3 s of CPU time on the benchmark machine for a policy that spends it all (over
the first 1,000 synthetic cases, 5 of the 33 policies the optimizer ran on did; fully
generated, they would have needed 160,000 to 800,000)."""

__all__ = [
    "OPTIMIZER_WORK",
    "GroupPlan",
    "OptimizerStats",
    "optimize_result",
    "pattern_cost",
    "plan_group",
]


@dataclass
class OptimizerStats:
    """What the optimizer did to one policy.

    ``cost`` and ``lower_bound`` are in characters of the re-solved groups' statements;
    ``readable_cost`` is what the readable refinement wrote for the same statements.
    ``merged`` counts the statements that went into another one of their context.
    """

    statements: int = 0
    readable_cost: int = 0
    cost: int = 0
    lower_bound: float = 0.0
    candidates: int = 0
    seconds: float = 0.0
    methods: dict[str, int] = field(default_factory=dict)
    budget_exhausted: bool = False
    work: int = 0
    clock_cut: int = 0
    """Covers that HiGHS's wall-clock backstop cut short (the only part of the answer
    that can depend on the machine)."""
    merged: int = 0
    slack: dict[int, float] = field(default_factory=dict)
    """For each NotAction statement (by original index) the optimizer rewrote: its
    additions' cost minus their lower bound."""

    @property
    def gap(self) -> float:
        """``(cost - lower bound) / cost`` over the re-solved statements."""
        return max(0.0, (self.cost - self.lower_bound) / self.cost) if self.cost else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "statements": self.statements,
            "merged": self.merged,
            "readable_cost": self.readable_cost,
            "cost": self.cost,
            "lower_bound": round(self.lower_bound, 2),
            "gap": round(self.gap, 4),
            "candidates": self.candidates,
            "seconds": round(self.seconds, 4),
            "methods": dict(sorted(self.methods.items())),
            "budget_exhausted": self.budget_exhausted,
            "work": self.work,
            "clock_cut": self.clock_cut,
        }


@dataclass(frozen=True, slots=True)
class Member:
    """One original statement of a group: its index, Action values and replaced
    patterns (value index to pattern)."""

    index: int
    values: list[str]
    replaced: dict[int, str]


@dataclass(slots=True)
class GroupPlan:
    """The optimizer's answer for one group: the merged statement's Action values, each
    value's origin (original statement index, origin pattern), the patterns chosen for
    each replaced pattern (by original statement and value index), and the cover."""

    values: list[str]
    origins: dict[str, tuple[int, str]]
    by_origin: dict[tuple[int, int], list[str]]
    counts: dict[str, int]
    cost: int
    lower_bound: float
    method: CoverMethod
    candidates: int
    clock_cut: bool = False


def plan_group(
    index: CatalogIndex,
    flags: bytearray,
    members: list[Member],
    readable: list[str],
    *,
    budget: int,
    skeleton: int,
    work: Work,
    use_solver: bool = True,
) -> GroupPlan | None:
    """Choose the Action values of the group's one statement, or None when that is no
    shorter than ``budget`` characters (what the readable statements take) or when
    nothing is left. ``skeleton`` is the statement's size with an empty Action list."""
    # Origin ids: position k of `sources` is (statement, value index, pattern).
    sources: list[tuple[int, int, str]] = []
    origins: list[tuple[int, str, list[int]]] = []
    inside: set[int] = set()
    kept: list[tuple[int, list[int]]] = []
    fixed: set[tuple[int, int]] = set()
    for m in members:
        for vi, value in enumerate(m.values):
            k = len(sources)
            sources.append((m.index, vi, value))
            matched = matched_positions(index, value)
            if vi in m.replaced:
                origins.append((k, value, matched))
                inside.update(matched)
            elif matched:
                kept.append((k, matched))
            else:
                fixed.add((m.index, vi))
    good = {i for i in inside if not flags[i]}
    wanted_all = good | {i for _, matched in kept for i in matched}
    if not wanted_all:
        return None
    cands = Candidates()
    for k, matched in kept:
        cands.add_kept(sources[k][2], matched, k)
    by_service: dict[str, list[int]] = {}
    for i in sorted(good):
        by_service.setdefault(index.names[i].partition(":")[0], []).append(i)
    origins_by_service: dict[str, list[tuple[int, str, list[int]]]] = {}
    for k, pattern, matched in origins:
        for i in matched:
            service = index.names[i].partition(":")[0]
            if service in by_service:
                found = origins_by_service.setdefault(service, [])
                if not found or found[-1][0] != k:
                    found.append((k, pattern, []))
                found[-1][2].append(i)
    services: dict[str, tuple[Service, int]] = {}
    for service, positions in by_service.items():
        svc = Service(index, service, good, origins_by_service.get(service, []))
        wanted = 0
        for i in positions:
            wanted |= 1 << (i - svc.lo)
        services[service] = (svc, wanted)
    exhausted = generate(index, by_service, services, readable, cands, work)
    fixed_cost = sum(pattern_cost(value) for value in _fixed(members, fixed))
    cover = solve_cover(
        [pattern_cost(t) for t in cands.texts],
        cands.masks,
        frozenset(wanted_all),
        use_solver=use_solver,
    )
    total = skeleton + fixed_cost + cover.cost
    if total >= budget:
        return None
    replaced = {(m.index, vi) for m in members for vi in m.replaced}
    chosen_kept: set[tuple[int, int]] = set()
    by_origin: dict[tuple[int, int], list[str]] = {}
    origin_text: dict[str, tuple[int, str]] = {}
    for c in cover.chosen:
        si, vi, pattern = sources[cands.origin_of[c]]
        text = cands.texts[c]
        if (si, vi) in replaced:
            by_origin.setdefault((si, vi), []).append(text)
        else:
            chosen_kept.add((si, vi))
        origin_text[ascii_lower(text)] = (si, pattern)
    for chosen in by_origin.values():
        chosen.sort(key=lambda p: (ascii_lower(p), p))
    out: list[str] = []
    seen: set[str] = set()
    for m in members:
        for vi, value in enumerate(m.values):
            if vi in m.replaced:
                emitted = by_origin.get((m.index, vi), [])
            elif (m.index, vi) in chosen_kept or (m.index, vi) in fixed:
                emitted = [value]
                origin_text.setdefault(ascii_lower(value), (m.index, value))
            else:
                emitted = []
            for p in emitted:
                if ascii_lower(p) not in seen:
                    seen.add(ascii_lower(p))
                    out.append(p)
    if not out:
        return None
    method = CoverMethod.GREEDY if exhausted and cover.method is CoverMethod.OPTIMAL else None
    return GroupPlan(
        values=out,
        origins=origin_text,
        by_origin=by_origin,
        counts={cands.texts[c]: len(cands.masks[c]) for c in cover.chosen},
        cost=total,
        lower_bound=skeleton + fixed_cost + cover.lower_bound,
        method=method or cover.method,
        candidates=len(cands.texts),
        clock_cut=cover.clock_cut,
    )


def plan_not_action(
    index: CatalogIndex,
    flags: bytearray,
    added: list[str],
    *,
    work: Work,
    use_solver: bool = True,
) -> tuple[list[str], Cover] | None:
    """The fewest characters of NotAction additions that exclude the catalog actions
    ``added`` does (the readable additions: unused action names, ``svc:*`` for whole
    services) and no other catalog action that is not unused: (the sorted additions,
    and their cover), or None when ``added`` is no longer.

    An addition may be any pattern whose catalog actions are all unused: excluding more
    strings never allows more, and over the catalog it excludes only unused actions.
    Candidates are the shapes of :mod:`iamrefine.refine.candidates`, within one service
    (its `svc:*` standing in as every candidate's origin)."""
    todo: set[int] = set()
    for a in added:
        todo.update(matched_positions(index, a))
    if not todo:
        return None
    good = {i for i in range(index.size) if flags[i]}
    by_service: dict[str, list[int]] = {}
    for i in sorted(todo):
        by_service.setdefault(index.names[i].partition(":")[0], []).append(i)
    services: dict[str, tuple[Service, int]] = {}
    for service, positions in by_service.items():
        lo, hi = index.range_of(service + ":")
        svc = Service(index, service, good, [(0, service + ":*", list(range(lo, hi)))])
        wanted = 0
        for i in positions:
            wanted |= 1 << (i - svc.lo)
        services[service] = (svc, wanted)
    cands = Candidates()
    generate(index, by_service, services, added, cands, work)
    cover = solve_cover(
        [pattern_cost(t) for t in cands.texts],
        cands.masks,
        frozenset(todo),
        use_solver=use_solver,
    )
    if cover.cost >= sum(pattern_cost(a) for a in added):
        return None
    out = sorted((cands.texts[c] for c in cover.chosen), key=lambda a: (ascii_lower(a), a))
    return out, cover


def _fixed(members: list[Member], fixed: set[tuple[int, int]]) -> list[str]:
    """The distinct (ignoring case) values kept as written because they match no
    catalog action."""
    out: dict[str, str] = {}
    for m in members:
        for vi, value in enumerate(m.values):
            if (m.index, vi) in fixed:
                out.setdefault(ascii_lower(value), value)
    return list(out.values())


def _statement_size(st: Statement) -> int:
    return compact_size(statement_to_json(st))


def optimize_result(
    result: RefineResult,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    work_budget: int = OPTIMIZER_WORK,
    use_solver: bool = True,
) -> tuple[RefineResult, OptimizerStats]:
    """``result`` with every group of statements that has a replaced pattern (or more
    than one statement left) re-solved for size, and what the optimizer did. Groups
    the optimizer cannot shorten stay as they are."""
    from iamrefine.refine.engine import NodeKind, PatternTrace, Replacement, TraceNode

    stats = OptimizerStats()
    if result.policy is None or not (result.replacements or result.notaction_changes):
        return result, stats
    if use_solver:
        # Importing HiGHS (and numpy) once per process is not the optimizer's work.
        use_solver = solver_available()
    wall = time.perf_counter()
    work = Work(work_budget)
    index = catalog_index(catalog, result.granularity)
    flags = bytearray(index.size)
    for name in unused.actions:
        i = index.position.get(name)
        if i is not None:
            flags[i] = 1
    reps_by_statement: dict[int, list[Replacement]] = {}
    for rep in result.replacements:
        reps_by_statement.setdefault(rep.statement_index, []).append(rep)
    originals = result.original.statements
    statements = list(result.policy.statements)
    groups = action_contexts(
        originals, made_not_action(originals, statements, result.statement_origin)
    )
    new_index = {si: j for j, si in enumerate(result.statement_origin)}
    plans: dict[int, GroupPlan] = {}
    gone: set[int] = set()
    for group in groups.values():
        present = [si for si in group if si in new_index]
        if not present or (len(present) == 1 and present[0] not in reps_by_statement):
            continue
        readable: list[str] = []
        seen: set[str] = set()
        for si in group:
            for r in reps_by_statement.get(si, []):
                for p in r.new_patterns:
                    if ascii_lower(p) not in seen:
                        seen.add(ascii_lower(p))
                        readable.append(p)
        members = []
        for si in group:
            action = originals[si].action
            assert action is not None
            replaced = {r.value_index: r.original_pattern for r in reps_by_statement.get(si, [])}
            members.append(Member(si, list(action.values), replaced))
        sizes = [_statement_size(statements[new_index[si]]) for si in present]
        budget = sum(sizes) + len(sizes) - 1
        first = statements[new_index[present[0]]]
        plan = plan_group(
            index,
            flags,
            members,
            readable,
            budget=budget,
            skeleton=_statement_size(first.with_actions([], not_action=False)),
            work=work,
            use_solver=use_solver,
        )
        stats.statements += len(present)
        stats.readable_cost += budget
        if plan is None:
            stats.cost += budget
            stats.lower_bound += budget
            stats.methods["readable"] = stats.methods.get("readable", 0) + 1
            continue
        plans[present[0]] = plan
        statements[new_index[present[0]]] = first.with_actions(plan.values, not_action=False)
        gone.update(present[1:])
        stats.merged += len(present) - 1
        stats.cost += plan.cost
        stats.lower_bound += plan.lower_bound
        stats.candidates += plan.candidates
        stats.clock_cut += plan.clock_cut
        stats.methods[plan.method.value] = stats.methods.get(plan.method.value, 0) + 1
    changes = []
    for change in result.notaction_changes:
        j = new_index[change.statement_index]
        st = statements[j]
        assert st.not_action is not None
        before = [] if change.from_action else list(st.not_action.values[: -len(change.added)])
        added = plan_not_action(
            index,
            flags,
            list(change.added),
            work=work,
            use_solver=use_solver,
        )
        stats.statements += 1
        old_cost = sum(pattern_cost(v) for v in change.added)
        stats.readable_cost += old_cost
        if added is None:
            stats.cost += old_cost
            stats.lower_bound += old_cost
            stats.methods["readable"] = stats.methods.get("readable", 0) + 1
            changes.append(change)
            continue
        values, cover = added
        cost, bound, method = cover.cost, cover.lower_bound, cover.method
        stats.clock_cut += cover.clock_cut
        statements[j] = st.with_actions([*before, *values], not_action=True)
        changes.append(replace(change, added=tuple(values)))
        stats.slack[change.statement_index] = cost - bound
        stats.cost += cost
        stats.lower_bound += bound
        stats.methods[method.value] = stats.methods.get(method.value, 0) + 1
    stats.seconds = time.perf_counter() - wall
    stats.budget_exhausted = work.exhausted
    stats.work = work.spent
    if not plans:
        if changes == result.notaction_changes:
            return result, stats
        policy = result.policy.model_copy(update={"statements": statements})
        return replace(result, policy=policy, notaction_changes=changes), stats
    by_origin: dict[tuple[int, int], list[str]] = {}
    counts: dict[str, int] = {}
    replanned: set[int] = set()
    for head, plan in plans.items():
        by_origin.update(plan.by_origin)
        counts.update(plan.counts)
        replanned.update(groups[context_key(originals[head]) or ""])
    replacements: list[Replacement] = []
    for rep in result.replacements:
        if rep.statement_index not in replanned:
            replacements.append(rep)
            continue
        new = tuple(by_origin.get((rep.statement_index, rep.value_index), []))
        nodes = [rep.trace.nodes[0]]
        for p in new:
            kind: NodeKind = "prefix" if has_wildcard(p) else "exact"
            nodes.append(
                TraceNode.kept(p, parent=0, kind=kind, actions=counts.get(p, 0), emitted=p)
            )
        si, vi, pattern = rep.statement_index, rep.value_index, rep.original_pattern
        trace = PatternTrace(si, vi, pattern, rep.trace.rule, nodes)
        replacements.append(Replacement(si, vi, pattern, new, trace))
    kept_statements: list[Statement] = []
    origin: list[int] = []
    pattern_origins: list[tuple[int, str, str]] = []
    old = {(s, p): o for s, p, o in result.pattern_origins}
    for j, si in enumerate(result.statement_origin):
        if si in gone:
            continue
        st = statements[j]
        kept_statements.append(st)
        origin.append(si)
        if not (st.is_allow and st.action is not None):
            continue
        plan = plans.get(si)
        for value in st.action.values:
            if plan is not None:
                src, pattern = plan.origins[ascii_lower(value)]
                pattern_origins.append((src, value, pattern))
            else:
                pattern_origins.append((si, value, old.get((si, value), value)))
    policy = result.policy.model_copy(update={"statements": kept_statements})
    return (
        replace(
            result,
            policy=policy,
            statement_origin=origin,
            replacements=replacements,
            pattern_origins=pattern_origins,
            notaction_changes=changes,
            traces=[r.trace for r in replacements],
        ),
        stats,
    )
