"""Weighted set cover: choose candidates of least total cost that cover every element.

The exact method is an integer program solved by HiGHS (``highspy``, the ``optimize``
extra), within a budget of branch-and-bound nodes (:data:`MIP_NODES`), so that its
answer does not depend on the machine's speed or load; a wall-clock backstop
(:data:`BACKSTOP_SECONDS`) only guards against a pathological instance, and a cover it
cut short says so (:attr:`Cover.clock_cut`). The linear relaxation gives the lower
bound against which every answer's optimality gap is reported. Without ``highspy``, or
when HiGHS has no solution within its limits, the greedy method (cheapest cost per
newly covered element, then dropping redundant picks) answers. The answer is never
trusted for correctness: the caller only uses candidates that are sound on their own,
and every result still goes to the checker.

Before solving, the instance is reduced: candidates with an equal element set keep the
cheapest; a candidate covering one element is dropped when another candidate covering
that element costs no more; then each connected component with a single element is
answered by its cheapest candidate.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

MIP_NODES = 1_000
"""Branch-and-bound nodes HiGHS may explore for one cover."""

BACKSTOP_SECONDS = 20.0
"""Wall-clock seconds after which HiGHS stops on any instance (none of the managed
corpus comes near it); the only limit whose outcome depends on the machine."""


class CoverMethod(StrEnum):
    """How a cover was chosen."""

    TRIVIAL = "trivial"
    """Every component had one element (or there was nothing to cover)."""
    OPTIMAL = "optimal"
    """HiGHS proved the integer program optimal."""
    INCUMBENT = "incumbent"
    """HiGHS reached its node limit with a solution, no worse than greedy's."""
    GREEDY = "greedy"
    """The greedy method (no solver, or no solver solution within its limits)."""


@dataclass(frozen=True, slots=True)
class Cover:
    """The chosen candidate indices, their total cost, and a lower bound on the
    cost of any cover (the LP relaxation, plus the trivially solved components)."""

    chosen: tuple[int, ...]
    cost: int
    lower_bound: float
    method: CoverMethod
    clock_cut: bool = False

    @property
    def gap(self) -> float:
        """``(cost - lower bound) / cost``: 0 when the cover is provably optimal."""
        if self.cost <= 0:
            return 0.0
        return max(0.0, (self.cost - self.lower_bound) / self.cost)


def solver_available() -> bool:
    """Is HiGHS installed (the ``optimize`` extra)?"""
    try:
        import highspy  # noqa: F401
    except ImportError:
        return False
    return True


def solve_cover(
    costs: list[int],
    covers: Sequence[Collection[int]],
    elements: frozenset[int],
    *,
    node_limit: int = MIP_NODES,
    backstop: float = BACKSTOP_SECONDS,
    use_solver: bool = True,
) -> Cover:
    """A cover of ``elements`` by candidates (``covers[i]`` at ``costs[i]``).

    Every element must be covered by some candidate. A candidate's elements are best
    given as a tuple in ascending order (a few times smaller than a frozenset of one
    or two elements, the usual candidate; a tuple is taken to be in that order); other
    collections are sorted into one first.
    ``node_limit`` bounds the integer program's search, ``backstop`` (seconds) its time;
    ``use_solver=False`` forces the greedy method.
    """
    tuples = [c if type(c) is tuple else tuple(sorted(c)) for c in covers]
    kept = _reduce(costs, tuples, elements)
    comps = _components(kept, tuples, elements)
    chosen: list[int] = []
    fixed_cost = 0
    hard: list[tuple[list[int], frozenset[int]]] = []
    for cands, elems in comps:
        if len(elems) == 1:
            best = min(cands, key=lambda i: (costs[i], i))
            chosen.append(best)
            fixed_cost += costs[best]
        else:
            hard.append((cands, elems))
    if not hard:
        return Cover(tuple(sorted(chosen)), fixed_cost, float(fixed_cost), CoverMethod.TRIVIAL)
    cands = sorted({i for c, _ in hard for i in c})
    elems = frozenset(e for _, es in hard for e in es)
    solved = None
    clock_cut = False
    if use_solver and solver_available():
        solved, clock_cut = _ilp(
            costs, tuples, cands, elems, node_limit=node_limit, backstop=backstop
        )
        if solved is not None and solved[2]:
            # Proved optimal: greedy cannot do better.
            picks, _, _ = solved
            cost = fixed_cost + sum(costs[i] for i in picks)
            return Cover(
                tuple(sorted(chosen + picks)), cost, float(cost), CoverMethod.OPTIMAL, clock_cut
            )
    greedy = _greedy(costs, tuples, cands, elems)
    greedy_cost = sum(costs[i] for i in greedy)
    if solved is not None:
        picks, lp_bound, _ = solved
        cost = sum(costs[i] for i in picks)
        if cost <= greedy_cost:
            total = fixed_cost + cost
            bound = fixed_cost + lp_bound
            return Cover(
                tuple(sorted(chosen + picks)),
                total,
                min(bound, total),
                CoverMethod.INCUMBENT,
                clock_cut,
            )
        return Cover(
            tuple(sorted(chosen + greedy)),
            fixed_cost + greedy_cost,
            fixed_cost + lp_bound,
            CoverMethod.GREEDY,
            clock_cut,
        )
    # No solver: the bound of each hard component is its largest element's cheapest
    # candidate cost (any cover pays at least that), a weaker bound than the LP's.
    sets = {i: set(covers[i]) for c, _ in hard for i in c}
    bound = fixed_cost + sum(
        max(min(costs[i] for i in c if e in sets[i]) for e in es) for c, es in hard
    )
    return Cover(
        tuple(sorted(chosen + greedy)),
        fixed_cost + greedy_cost,
        float(min(bound, fixed_cost + greedy_cost)),
        CoverMethod.GREEDY,
        clock_cut,
    )


def _reduce(costs: list[int], covers: list[tuple[int, ...]], elements: frozenset[int]) -> list[int]:
    best_by_set: dict[tuple[int, ...], int] = {}
    for i, whole in enumerate(covers):
        s = tuple(e for e in whole if e in elements)
        if len(s) == len(whole):
            s = whole
        if not s:
            continue
        j = best_by_set.get(s)
        if j is None or (costs[i], i) < (costs[j], j):
            best_by_set[s] = i
    # A candidate for one element is dominated by any candidate for that element (with
    # more elements) that costs no more.
    wide: dict[int, int] = {}
    single: dict[int, int] = {}
    for s, i in best_by_set.items():
        if len(s) == 1:
            single[s[0]] = costs[i]
            continue
        for e in s:
            if e not in wide or costs[i] < wide[e]:
                wide[e] = costs[i]
    out = []
    for s, i in best_by_set.items():
        if len(s) == 1:
            e = s[0]
            if e in wide and wide[e] <= costs[i]:
                continue
        out.append(i)
    return sorted(out)


def _components(
    kept: list[int], covers: list[tuple[int, ...]], elements: frozenset[int]
) -> list[tuple[list[int], frozenset[int]]]:
    parent: dict[int, int] = {e: e for e in elements}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in kept:
        members = [e for e in covers[i] if e in elements]
        root = find(members[0])
        for e in members[1:]:
            other = find(e)
            if other != root:
                parent[other] = root
    by_root: dict[int, tuple[list[int], set[int]]] = {}
    for e in elements:
        by_root.setdefault(find(e), ([], set()))[1].add(e)
    for i in kept:
        e = next(e for e in covers[i] if e in elements)
        by_root[find(e)][0].append(i)
    return [(c, frozenset(es)) for c, es in by_root.values()]


def _greedy(
    costs: list[int], covers: list[tuple[int, ...]], cands: list[int], elems: frozenset[int]
) -> list[int]:
    """Lazy greedy: a candidate's cost per newly covered element only grows, so a popped
    entry whose ratio is still current is the best pick."""
    left = set(elems)
    live = {i: set(covers[i]) & left for i in cands}
    heap = [(costs[i] / len(live[i]), costs[i], i) for i in cands if live[i]]
    heapq.heapify(heap)
    picks: list[int] = []
    while left and heap:
        ratio, cost, i = heapq.heappop(heap)
        now = live[i] & left
        live[i] = now
        if not now:
            continue
        current = cost / len(now)
        if current > ratio:
            heapq.heappush(heap, (current, cost, i))
            continue
        picks.append(i)
        left -= now
    # Drop picks that later picks made redundant, most expensive first.
    count: dict[int, int] = {}
    for i in picks:
        for e in covers[i]:
            if e in elems:
                count[e] = count.get(e, 0) + 1
    for i in sorted(picks, key=lambda i: -costs[i]):
        mine = [e for e in covers[i] if e in elems]
        if all(count[e] > 1 for e in mine):
            picks.remove(i)
            for e in mine:
                count[e] -= 1
    return picks


def _ilp(
    costs: list[int],
    covers: list[tuple[int, ...]],
    cands: list[int],
    elems: frozenset[int],
    *,
    node_limit: int,
    backstop: float,
) -> tuple[tuple[list[int], float, bool] | None, bool]:
    """((picks, LP lower bound, proved optimal), or None when HiGHS found no solution;
    whether the wall-clock backstop stopped it)."""
    import highspy
    import numpy as np

    try:
        # The wrapper class `highspy.Highs` prints a banner on stdout when constructed,
        # which would corrupt a policy printed to stdout; the core class is silent.
        from highspy import _core
    except ImportError:
        return None, False

    rows = {e: k for k, e in enumerate(sorted(elems))}
    start = [0]
    index: list[int] = []
    for i in cands:
        index.extend(rows[e] for e in covers[i] if e in elems)
        start.append(len(index))
    lp = highspy.HighsLp()
    lp.num_col_ = len(cands)
    lp.num_row_ = len(rows)
    lp.col_cost_ = np.array([float(costs[i]) for i in cands])
    lp.col_lower_ = np.zeros(len(cands))
    lp.col_upper_ = np.ones(len(cands))
    lp.row_lower_ = np.ones(len(rows))
    lp.row_upper_ = np.full(len(rows), highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(start, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.ones(len(index))
    h = _core._Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", backstop)
    h.passModel(lp)
    h.run()
    timed_out = highspy.HighsModelStatus.kTimeLimit
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None, h.getModelStatus() == timed_out
    lp_bound = float(h.getInfo().objective_function_value)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(cands)
    h.setOptionValue("mip_max_nodes", node_limit)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    clock_cut = status == timed_out
    values = list(h.getSolution().col_value)
    if not values or h.getInfo().primal_solution_status != 2:
        return None, clock_cut
    picks = [cands[k] for k, v in enumerate(values) if v > 0.5]
    covered = {e for i in picks for e in covers[i] if e in elems}
    if covered != elems:
        return None, clock_cut
    return (picks, lp_bound, status == highspy.HighsModelStatus.kOptimal), clock_cut
