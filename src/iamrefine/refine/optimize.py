"""The size optimizer: rewrite replaced patterns with the fewest characters.

For each Allow statement with Action in which the readable refinement replaced some
patterns, the optimizer chooses new patterns for the replaced ones (see
``proofs/CONTAINMENT.md``, "The size optimizer"):

* the elements to cover are the *wanted* catalog actions of the replaced patterns (the
  actions they match, minus the unused ones, minus those the statement's kept patterns
  already match);
* a candidate is admissible when it matches no unused catalog action and is contained,
  over all strings, in one replaced pattern (decided by
  :func:`iamrefine.refine.containment.contains`); that pattern is its origin;
* candidates come from the whole wildcard language: exact names, the shortest safe
  character prefix ``A*`` of each wanted action, ``A*B`` for every word suffix and short
  character suffix B of it, ``A*M*`` for every word M inside it (A always the shortest
  safe prefix for the shape), ``?`` for wanted names that differ in one position, and
  the readable refinement's own patterns;
* the choice is a weighted set cover (cost: the pattern's non-whitespace characters in
  the policy, quotes and comma included) solved by :mod:`iamrefine.refine.cover`.

A statement keeps its readable form when that is no longer. The optimizer is not
trusted: its result is proved by the checker like any other.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING

from iamrefine.glob import ascii_lower, compile_glob, has_wildcard, literal_prefix, normalize
from iamrefine.refine.containment import contains
from iamrefine.refine.cover import CoverMethod, solve_cover, solver_available
from iamrefine.refine.trie import CatalogIndex, catalog_index
from iamrefine.refine.words import word_boundaries

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.refine.engine import RefineResult
    from iamrefine.unused import UnusedSet

CHAR_SUFFIXES = 4
"""Character suffixes of each wanted action tried as the tail of ``A*B``."""


@dataclass
class OptimizerStats:
    """What the optimizer did to one policy.

    ``cost`` and ``lower_bound`` are in characters of the re-solved statements'
    patterns (quotes and commas included); ``readable_cost`` is what the readable
    refinement wrote for the same statements.
    """

    statements: int = 0
    readable_cost: int = 0
    cost: int = 0
    lower_bound: float = 0.0
    candidates: int = 0
    seconds: float = 0.0
    methods: dict[str, int] = field(default_factory=dict)
    budget_exhausted: bool = False

    @property
    def gap(self) -> float:
        """``(cost - lower bound) / cost`` over the re-solved statements."""
        return max(0.0, (self.cost - self.lower_bound) / self.cost) if self.cost else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "statements": self.statements,
            "readable_cost": self.readable_cost,
            "cost": self.cost,
            "lower_bound": round(self.lower_bound, 2),
            "gap": round(self.gap, 4),
            "candidates": self.candidates,
            "seconds": round(self.seconds, 4),
            "methods": dict(sorted(self.methods.items())),
            "budget_exhausted": self.budget_exhausted,
        }


def _clock() -> float:
    """The budget's clock: this process's CPU time, so that the candidates generated
    (and so the answer) do not depend on how busy the machine is."""
    return time.process_time()


def pattern_cost(pattern: str) -> int:
    """The non-whitespace characters a pattern adds to an Action list: its JSON string
    and one comma."""
    return len(json.dumps(pattern, ensure_ascii=False)) + 1


def matched_positions(index: CatalogIndex, pattern: str) -> list[int]:
    """The catalog positions that an action pattern matches (case-insensitive)."""
    q = ascii_lower(normalize(pattern))
    if not has_wildcard(q):
        i = index.position.get(q)
        return [] if i is None else [i]
    lit = literal_prefix(q)
    lo, hi = index.range_of(lit)
    if q == lit + "*":
        return list(range(lo, hi))
    rx = compile_glob(q, fold_case=True)
    names = index.names
    return [i for i in range(lo, hi) if rx.fullmatch(names[i])]


@dataclass(slots=True)
class StatementPlan:
    """The optimizer's answer for one original statement: its new Action values and
    each new pattern's origin (a replaced pattern containing it)."""

    values: list[str]
    origins: dict[str, str]
    by_origin: dict[int, list[str]]
    counts: dict[str, int]
    cost: int
    readable_cost: int
    lower_bound: float
    method: CoverMethod
    candidates: int


class _Service:
    """Bit masks over one service's catalog names (bit k is position lo + k)."""

    def __init__(
        self,
        index: CatalogIndex,
        service: str,
        good: set[int],
        origins: list[tuple[int, str, list[int]]],
    ) -> None:
        self.index = index
        self.lo, self.hi = index.range_of(service + ":")
        self.names = index.names[self.lo : self.hi]
        self.all = (1 << len(self.names)) - 1
        good_mask = 0
        for i in range(self.lo, self.hi):
            if i in good:
                good_mask |= 1 << (i - self.lo)
        self.bad = self.all & ~good_mask
        by_len: dict[int, int] = {}
        for k, x in enumerate(self.names):
            by_len[len(x)] = by_len.get(len(x), 0) | (1 << k)
        self.max_len = max(by_len) if by_len else 0
        # shorter[t]: the names shorter than t characters.
        self.shorter = [0] * (self.max_len + 2)
        acc = 0
        for t in range(self.max_len + 2):
            self.shorter[t] = acc
            acc |= by_len.get(t, 0)
        self._suffix: dict[str, int] = {}
        self._last: dict[str, list[int]] = {}
        # The replaced patterns that match some action of this service, with those actions.
        self.origins: list[tuple[int, str, int]] = []
        for vi, pattern, members in origins:
            mask = 0
            for i in members:
                mask |= 1 << (i - self.lo)
            self.origins.append((vi, pattern, mask))

    def prefix(self, text: str) -> int:
        lo, hi = self.index.range_of(text)
        return ((1 << (hi - self.lo)) - 1) ^ ((1 << (lo - self.lo)) - 1)

    def suffix(self, text: str) -> int:
        if not self._suffix:
            table: dict[str, int] = {}
            for k, x in enumerate(self.names):
                bit = 1 << k
                for n in range(len(x) + 1):
                    tail = x[n:]
                    table[tail] = table.get(tail, 0) | bit
            self._suffix = table
        return self._suffix.get(text, 0)

    def star(self, a: str, b: str) -> int:
        """The names ``a*b`` matches."""
        t = len(a) + len(b)
        short = self.shorter[t] if t < len(self.shorter) else self.all
        return self.prefix(a) & self.suffix(b) & ~short

    def middle(self, a: str, m: str) -> int:
        """The names ``a*m*`` matches."""
        table = self._last.get(m)
        if table is None:
            # table[t]: the names in which m starts at some position >= t.
            table = [0] * (self.max_len + 2)
            for k, x in enumerate(self.names):
                at = x.rfind(m)
                if at >= 0:
                    table[at] |= 1 << k
            for t in range(self.max_len, -1, -1):
                table[t] |= table[t + 1]
            self._last[m] = table
        t = len(a)
        return self.prefix(a) & (table[t] if t < len(table) else 0)

    def exact(self, name: str) -> int:
        i = self.index.position.get(name)
        return 0 if i is None or not self.lo <= i < self.hi else 1 << (i - self.lo)

    def glob(self, pattern: str) -> int:
        rx = compile_glob(pattern, fold_case=True)
        lo, hi = self.index.range_of(literal_prefix(ascii_lower(pattern)))
        names = self.index.names
        mask = 0
        for i in range(max(lo, self.lo), min(hi, self.hi)):
            if rx.fullmatch(names[i]):
                mask |= 1 << (i - self.lo)
        return mask


def _shortest(lo: int, hi: int, ok: object) -> int | None:
    """The least length in ``[lo, hi]`` for which the monotone ``ok`` holds."""
    assert callable(ok)
    if hi < lo or not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Candidates:
    """Admissible candidates of one statement, deduplicated by text."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.masks: list[frozenset[int]] = []
        self.origin_of: list[int] = []
        self.seen: set[str] = set()

    def add(self, text: str, service: _Service, mask: int, wanted: int) -> None:
        key = ascii_lower(text)
        if key in self.seen or not mask or mask & service.bad or not mask & wanted:
            return
        self.seen.add(key)
        for vi, pattern, members in service.origins:
            # Over the catalog a contained candidate matches only what its origin does:
            # a cheap necessary condition before the automaton decides.
            if not mask & ~members and contains(pattern, text):
                covered = mask & wanted
                elements = []
                while covered:
                    low = covered & -covered
                    elements.append(low.bit_length() - 1 + service.lo)
                    covered ^= low
                self.texts.append(text)
                self.masks.append(frozenset(elements))
                self.origin_of.append(vi)
                return


def plan_statement(
    index: CatalogIndex,
    flags: bytearray,
    values: list[str],
    replaced: dict[int, str],
    readable: list[str],
    *,
    deadline: float,
    use_solver: bool = True,
) -> StatementPlan | None:
    """Choose the statement's new Action values, or None when nothing is to be gained
    (no wanted action, or the readable form is no longer)."""
    origins: list[tuple[int, str, list[int]]] = []
    inside: set[int] = set()
    for vi in sorted(replaced):
        members = matched_positions(index, replaced[vi])
        origins.append((vi, replaced[vi], members))
        inside.update(members)
    kept: set[int] = set()
    for vi, value in enumerate(values):
        if vi not in replaced:
            kept.update(matched_positions(index, value))
    good = {i for i in inside if not flags[i]}
    wanted_all = good - kept
    readable_cost = sum(pattern_cost(p) for p in readable)
    if not wanted_all:
        return None
    cands = _Candidates()
    by_service: dict[str, list[int]] = {}
    for i in sorted(wanted_all):
        by_service.setdefault(index.names[i].partition(":")[0], []).append(i)
    # Each replaced pattern's matched actions, split by service.
    origins_by_service: dict[str, list[tuple[int, str, list[int]]]] = {}
    for vi, pattern, members in origins:
        for service, group in groupby(members, key=lambda i: index.names[i].partition(":")[0]):
            if service in by_service:
                origins_by_service.setdefault(service, []).append((vi, pattern, list(group)))
    services: dict[str, tuple[_Service, int]] = {}
    for service, members in by_service.items():
        svc = _Service(index, service, good, origins_by_service.get(service, []))
        wanted = 0
        for i in members:
            wanted |= 1 << (i - svc.lo)
        services[service] = (svc, wanted)
        for i in members:
            cands.add(index.canon[i], svc, 1 << (i - svc.lo), wanted)
    exhausted = False
    for p in readable:
        if _clock() > deadline:
            exhausted = True
            break
        q = ascii_lower(normalize(p))
        lit = literal_prefix(q)
        if ":" in lit and lit.partition(":")[0] in services:
            svc, wanted = services[lit.partition(":")[0]]
            if q == lit + "*":
                mask = svc.prefix(lit)
            elif q == lit:
                mask = svc.exact(lit)
            else:
                mask = svc.glob(p)
            cands.add(p, svc, mask, wanted)
    # Cheap and most useful shapes first, so that an exhausted budget still leaves a
    # good candidate set: prefixes, then A*B, then A*M*, then ?.
    phases = (
        lambda svc, w, i: _stars(index, svc, w, i, cands, [""]),
        lambda svc, w, i: _stars(index, svc, w, i, cands, _tails(index, i, prefix_only=False)),
        lambda svc, w, i: _middles(index, svc, w, i, cands),
    )
    for phase in phases:
        for service, members in by_service.items():
            svc, wanted = services[service]
            for i in members:
                if _clock() > deadline:
                    exhausted = True
                    break
                phase(svc, wanted, i)
            if exhausted:
                break
        if exhausted:
            break
    if not exhausted:
        for service, members in by_service.items():
            svc, wanted = services[service]
            _single_chars(index, svc, wanted, members, cands, deadline)
    costs = [pattern_cost(t) for t in cands.texts]
    cover = solve_cover(
        costs,
        cands.masks,
        frozenset(wanted_all),
        time_limit=max(deadline - _clock(), 0.05),
        use_solver=use_solver,
    )
    if cover.cost >= readable_cost:
        return None
    by_origin: dict[int, list[str]] = {}
    origin_text: dict[str, str] = {}
    for c in cover.chosen:
        vi = cands.origin_of[c]
        by_origin.setdefault(vi, []).append(cands.texts[c])
        origin_text[cands.texts[c]] = replaced[vi]
    counts = {cands.texts[c]: len(cands.masks[c]) for c in cover.chosen}
    for chosen in by_origin.values():
        chosen.sort(key=lambda p: (ascii_lower(p), p))
    out: list[str] = []
    seen: set[str] = set()
    for vi, value in enumerate(values):
        for p in by_origin.get(vi, []) if vi in replaced else [value]:
            key = ascii_lower(p)
            if key not in seen:
                seen.add(key)
                out.append(p)
    method = CoverMethod.GREEDY if exhausted and cover.method is CoverMethod.OPTIMAL else None
    return StatementPlan(
        values=out,
        origins=origin_text,
        by_origin=by_origin,
        counts=counts,
        cost=cover.cost,
        readable_cost=readable_cost,
        lower_bound=cover.lower_bound,
        method=method or cover.method,
        candidates=len(cands.texts),
    )


def _tails(index: CatalogIndex, i: int, *, prefix_only: bool) -> list[str]:
    """The tails B tried for ``A*B`` through action ``i``: "" (a prefix), or its word
    suffixes and its last :data:`CHAR_SUFFIXES` characters."""
    if prefix_only:
        return [""]
    x = index.names[i]
    base = x.index(":") + 1
    tails = {x[c:] for c in word_boundaries(index.canon[i]) if c >= base} | {x[base:]}
    for n in range(1, CHAR_SUFFIXES + 1):
        if base + n < len(x):
            tails.add(x[len(x) - n :])
    return sorted(tails)


def _stars(
    index: CatalogIndex, svc: _Service, wanted: int, i: int, cands: _Candidates, tails: list[str]
) -> None:
    """``A*B`` through wanted action ``i`` for each tail B, with the shortest prefix A
    that keeps it free of bad names."""
    canon = index.canon[i]
    x = index.names[i]
    base = x.index(":") + 1
    bad = svc.bad
    for b in tails:
        found = _shortest(base, len(x) - len(b), lambda n, b=b: not svc.star(x[:n], b) & bad)
        if found is None:
            continue
        text = canon[:found] + "*" + canon[len(canon) - len(b) :]
        cands.add(text, svc, svc.star(x[:found], b), wanted)


def _middles(index: CatalogIndex, svc: _Service, wanted: int, i: int, cands: _Candidates) -> None:
    """``A*M*`` for each word M of wanted action ``i`` after its first, with the
    shortest prefix A that keeps it free of bad names."""
    canon = index.canon[i]
    x = index.names[i]
    base = x.index(":") + 1
    bad = svc.bad
    cuts = [c for c in word_boundaries(canon) if c > base]
    for k, start in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else len(x)
        m = x[start:end]
        found = _shortest(base, start, lambda n, m=m: not svc.middle(x[:n], m) & bad)
        if found is None:
            continue
        text = canon[:found] + "*" + canon[start:end] + "*"
        cands.add(text, svc, svc.middle(x[:found], m), wanted)


def _single_chars(
    index: CatalogIndex,
    svc: _Service,
    wanted: int,
    members: list[int],
    cands: _Candidates,
    deadline: float,
) -> None:
    """``?`` where wanted names of equal length differ in one position."""
    groups: dict[str, list[int]] = {}
    for i in members:
        x = index.names[i]
        start = x.index(":") + 1
        for at in range(start, len(x)):
            groups.setdefault(x[:at] + "?" + x[at + 1 :], []).append(i)
    for key, group in groups.items():
        if len(group) > 1 and _clock() < deadline:
            at = key.index("?")
            canon = index.canon[group[0]]
            text = canon[:at] + "?" + canon[at + 1 :]
            cands.add(text, svc, svc.glob(text), wanted)


def optimize_result(
    result: RefineResult,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    time_budget: float = 1.5,
    use_solver: bool = True,
) -> tuple[RefineResult, OptimizerStats]:
    """``result`` with every replaced pattern's statement re-solved for size, and what
    the optimizer did. Statements the optimizer cannot shorten stay as they are."""
    from iamrefine.refine.engine import NodeKind, PatternTrace, Replacement, TraceNode

    stats = OptimizerStats()
    if result.policy is None or not result.replacements:
        return result, stats
    if use_solver:
        # Importing HiGHS (and numpy) once per process is not the optimizer's work.
        use_solver = solver_available()
    wall = time.perf_counter()
    start = _clock()
    deadline = start + time_budget
    index = catalog_index(catalog, result.granularity)
    flags = bytearray(index.size)
    for name in unused.actions:
        i = index.position.get(name)
        if i is not None:
            flags[i] = 1
    reps_by_statement: dict[int, list[Replacement]] = {}
    for rep in result.replacements:
        reps_by_statement.setdefault(rep.statement_index, []).append(rep)
    statements = list(result.policy.statements)
    new_index = {si: j for j, si in enumerate(result.statement_origin)}
    plans: dict[int, StatementPlan] = {}
    for si, reps in sorted(reps_by_statement.items()):
        j = new_index.get(si)
        if j is None:
            continue
        original = result.original.statements[si]
        assert original.action is not None
        readable: list[str] = []
        seen: set[str] = set()
        for r in reps:
            for p in r.new_patterns:
                if ascii_lower(p) not in seen:
                    seen.add(ascii_lower(p))
                    readable.append(p)
        plan = plan_statement(
            index,
            flags,
            list(original.action.values),
            {r.value_index: r.original_pattern for r in reps},
            readable,
            deadline=deadline,
            use_solver=use_solver,
        )
        stats.statements += 1
        if plan is None:
            cost = sum(pattern_cost(p) for p in readable)
            stats.readable_cost += cost
            stats.cost += cost
            stats.lower_bound += cost
            stats.methods["readable"] = stats.methods.get("readable", 0) + 1
            continue
        plans[si] = plan
        statements[j] = original.with_actions(plan.values, not_action=False)
        stats.readable_cost += plan.readable_cost
        stats.cost += plan.cost
        stats.lower_bound += plan.lower_bound
        stats.candidates += plan.candidates
        stats.methods[plan.method.value] = stats.methods.get(plan.method.value, 0) + 1
    stats.seconds = time.perf_counter() - wall
    stats.budget_exhausted = _clock() > deadline
    if not plans:
        return result, stats
    replacements: list[Replacement] = []
    for rep in result.replacements:
        plan = plans.get(rep.statement_index)
        if plan is None:
            replacements.append(rep)
            continue
        new = tuple(plan.by_origin.get(rep.value_index, []))
        root = rep.trace.nodes[0]
        nodes = [root]
        for p in new:
            kind: NodeKind = "prefix" if has_wildcard(p) else "exact"
            count = plan.counts.get(p, 0)
            nodes.append(TraceNode.kept(p, parent=0, kind=kind, actions=count, emitted=p))
        si, vi, pattern = rep.statement_index, rep.value_index, rep.original_pattern
        trace = PatternTrace(si, vi, pattern, rep.trace.rule, nodes)
        replacements.append(Replacement(si, vi, pattern, new, trace))
    pattern_origins: list[tuple[int, str, str]] = []
    for j, si in enumerate(result.statement_origin):
        st = statements[j]
        if not (st.is_allow and st.action is not None):
            continue
        plan = plans.get(si)
        table = plan.origins if plan is not None else {}
        old = {p: o for s, p, o in result.pattern_origins if s == si}
        for value in st.action.values:
            pattern_origins.append((si, value, table.get(value, old.get(value, value))))
    policy = result.policy.model_copy(update={"statements": statements})
    from dataclasses import replace

    return (
        replace(
            result,
            policy=policy,
            replacements=replacements,
            pattern_origins=pattern_origins,
            traces=[r.trace for r in replacements],
        ),
        stats,
    )
