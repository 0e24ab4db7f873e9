"""Claim 2, no escalation for any action string: per-pattern containment for a
structure-preserving refinement (Theorem 2), else one query per Allow statement and
literal service prefix (Theorem 3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import z3

from iamrefine import solver
from iamrefine.catalog import Catalog
from iamrefine.encode import (
    CompiledStatement,
    Encoder,
    Frame,
    common_affixes,
    compatible,
    literal_prefix,
    lower_pattern,
    matches_lowered,
    service_key,
)
from iamrefine.errors import InternalError
from iamrefine.prove.claim import (
    FINITE_CHUNK,
    MAX_INSTANCES,
    RESTRICTED_BUDGET,
    Claim,
    Query,
    Side,
    UnrealizableModel,
)
from iamrefine.prove.decode import (
    condition_report,
    context,
    filler,
    has_variable_resources,
    readable_resource,
    relevant_atoms,
    replay,
    sanitize_action,
    statement_sids,
    with_context,
)
from iamrefine.prove.results import ClaimResult, Counterexample, Verdict
from iamrefine.reference import Decision
from iamrefine.solver import SolverStatus


def instances(glob: str, fill: str) -> set[str]:
    """Two strings that ``glob`` matches: its stars empty, and its stars one ``fill``
    (question marks are ``fill`` in both)."""
    one = glob.replace("?", fill)
    return {one.replace("*", ""), one.replace("*", fill)}


def has_uncovered_instance(
    drive: Sequence[str],
    not_action: bool,
    sup_action: Sequence[str],
    sup_not: Sequence[Sequence[str]],
) -> bool:
    """Does a string of the drive's language fall outside ``sup_action`` and outside the
    complement of every ``sup_not`` set? Tried: instances of the drive's patterns, or,
    for a NotAction drive, two strings it names none of. (Then the language is not
    contained; this only saves asking a query whose answer is sat.)"""
    if not_action:
        tries = [c for c in ("#", "#:#") if not any(matches_lowered(p, c) for p in drive)]
    else:
        tries = [inst for p in drive for inst in instances(p, "#")]
    for inst in tries:
        if any(matches_lowered(q, inst) for q in sup_action):
            continue
        if any(not any(matches_lowered(q, inst) for q in n) for n in sup_not):
            continue
        return True
    return False


# --- the all-strings claim ------------------------------------------------------------


def group_patterns(st: CompiledStatement) -> dict[str | None, list[str]]:
    """An Action statement's patterns by service key; a NotAction statement is one group."""
    if st.not_action:
        return {None: list(st.patterns)}
    groups: dict[str | None, list[str]] = {}
    for p in st.patterns:
        groups.setdefault(service_key(p), []).append(p)
    return groups


def keeper(group: str | None) -> Callable[[str], bool] | None:
    if group is None:
        return None
    return lambda p: compatible(literal_prefix(p), group)


class Containment:
    """``sub(a,r,c) => sup(a,r,c)`` for every action string: Theorem 2 where its premises
    hold, the per-(statement, service) query (Theorem 3) otherwise or as the fallback."""

    def __init__(
        self,
        name: str,
        sub: Side,
        sup: Side,
        claim: Claim,
        catalog: Catalog,
        *,
        provenance: Sequence[tuple[int, str, str]] | None,
        statement_origin: Sequence[int] | None,
        message: Callable[[str, str, bool], str],
    ) -> None:
        self.name = name
        self.sub = sub
        self.sup = sup
        self.claim = claim
        self.catalog = catalog
        self.message = message
        self.statement_origin = statement_origin
        self.prov: dict[tuple[int, str], set[str]] = {}
        for orig_index, new_pattern, origin in provenance or ():
            self.prov.setdefault((orig_index, lower_pattern(new_pattern)), set()).add(
                lower_pattern(origin)
            )
        sup_denies = {st.key for st in sup.stmts if not st.allow}
        sub_denies = {st.key for st in sub.stmts if not st.allow}
        self.denies_kept = sup_denies <= sub_denies
        self.peers: dict[Frame, list[CompiledStatement]] = {}
        self._buckets: dict[Frame, dict[str, set[str]]] = {}
        self._languages: dict[tuple[Frame, str | None], tuple[list[str], list[list[str]]]] = {}
        for st in sup.stmts:
            if st.allow:
                self.peers.setdefault(st.frame, []).append(st)

    def run(self) -> ClaimResult:
        allows = [st for st in self.sub.stmts if st.allow]
        if not allows:
            # Nothing to contain; the query "sub allows some request" is still decided.
            def build(enc: Encoder) -> list[z3.BoolRef]:
                """Unsat iff the policy, which has no Allow statement, allows no request."""
                return [enc.allowed(self.sub.stmts, lambda st: enc.statement_action(st))]

            answer, _ = self.claim.run(
                Query(f"{self.sub.label} allows nothing", "statement", build)
            )
            if answer.status is SolverStatus.SAT:
                raise InternalError(f"{self.sub.label} has no Allow statement yet allows a request")
        for st in allows:
            groups = group_patterns(st)
            if self.denies_kept and self.peers.get(st.frame):
                groups = self._decompose(st, groups)
            for group, patterns in groups.items():
                cex = self._full(st, group, patterns)
                if cex is not None:
                    return self.claim.result(Verdict.REFUTED, cex)
        return self.claim.result(Verdict.UNKNOWN if self.claim.unknown else Verdict.PROVED)

    # Theorem 2

    def _premise(self, st: CompiledStatement, peers: list[CompiledStatement]) -> str:
        return (
            f"{self.sub.label} Statement[{st.index}] has the frame of {self.sup.label} "
            f"Statement{[p.index for p in peers]}, and every Deny statement of "
            f"{self.sup.label} is a Deny statement of {self.sub.label}"
        )

    def _origins(
        self, st: CompiledStatement, peers: list[CompiledStatement]
    ) -> dict[str, set[str]]:
        """For each pattern of ``st``, the origin patterns that provenance names for it and
        that really are patterns of a peer Action statement (provenance is a hint, never
        trusted: it only chooses which query to ask)."""
        wanted = None
        if self.statement_origin is not None and st.index < len(self.statement_origin):
            wanted = self.statement_origin[st.index]
        out: dict[str, set[str]] = {}
        for peer in peers:
            if peer.not_action or (wanted is not None and peer.index != wanted):
                continue
            theirs = set(peer.patterns)
            for p in st.patterns:
                named = self.prov.get((peer.index, p))
                if named:
                    out.setdefault(p, set()).update(named & theirs)
        return out

    def _contained(
        self,
        qname: str,
        st: CompiledStatement,
        drive: list[str],
        peers: list[CompiledStatement],
        sup_action: list[str],
        sup_not: list[list[str]],
    ) -> bool:
        """Is the language of ``drive`` (Action, or NotAction when ``st`` is one) inside
        the union of the languages ``sup_action`` and the complements of ``sup_not``?
        The query is unsat iff it is."""
        if has_uncovered_instance(drive, st.not_action, sup_action, sup_not):
            # The query is sat (a concrete instance escapes): do not ask it.
            return False
        affixes = ("", "")
        if not st.not_action:
            affixes = common_affixes([*drive, *sup_action, *(p for n in sup_not for p in n)])

        def build(enc: Encoder) -> list[z3.BoolRef]:
            """Unsat iff every action string of ``drive`` (of its complement for a
            NotAction statement) is in ``sup_action`` or outside one of the sets of
            ``sup_not`` (Theorem 2)."""
            covered = [enc.action_in(sup_action), *(enc.not_(enc.action_in(n)) for n in sup_not)]
            escapes = enc.not_(enc.or_(covered))
            if escapes is enc.false:
                # The union accepts every string: the query is `false` whatever `D` is.
                return [escapes]
            a = enc.action_in(drive)
            if st.not_action:
                a = enc.not_(a)
            return [a, escapes]

        answer, _ = self.claim.run(
            Query(qname, "containment", build, affixes, premise=self._premise(st, peers))
        )
        return answer.status is SolverStatus.UNSAT

    def _peer_languages(self, frame: Frame, group: str | None) -> tuple[list[str], list[list[str]]]:
        """The peers' Action patterns and NotAction sets, keeping only patterns whose literal
        prefix is compatible with ``group`` (the others match none of its strings)."""
        key = (frame, group)
        found = self._languages.get(key)
        if found is not None:
            return found
        peers = self.peers[frame]
        buckets = self._buckets.get(frame)
        if buckets is None:
            buckets = {}
            for pe in peers:
                if not pe.not_action:
                    for p in pe.patterns:
                        buckets.setdefault(service_key(p), set()).add(p)
            self._buckets[frame] = buckets
        keep = keeper(group)
        if group is None or keep is None:
            action = sorted({p for pats in buckets.values() for p in pats})
        else:
            action = sorted(
                p
                for bucket, pats in buckets.items()
                if compatible(bucket, group)
                for p in pats
                if keep(p)
            )
        nots = [
            [p for p in pe.patterns if keep is None or keep(p)] for pe in peers if pe.not_action
        ]
        found = self._languages[key] = (action, nots)
        return found

    def _decompose(
        self, st: CompiledStatement, groups: dict[str | None, list[str]]
    ) -> dict[str | None, list[str]]:
        """Prove what Theorem 2 can of ``st``; return the groups it could not prove."""
        peers = self.peers[st.frame]
        where = f"{self.sub.label} Statement[{st.index}]"
        if st.not_action:
            mine = set(st.patterns)
            if any(pe.not_action and set(pe.patterns) <= mine for pe in peers):
                self.claim.syntactic += 1
                return {}
            action, nots = self._peer_languages(st.frame, None)
            if self._contained(
                f"{where} (NotAction) within its peers", st, list(st.patterns), peers, action, nots
            ):
                return {}
            return groups
        known = {p for pe in peers if not pe.not_action for p in pe.patterns}
        pending = {g: [p for p in pats if p not in known] for g, pats in groups.items()}
        pending = {g: pats for g, pats in pending.items() if pats}
        self.claim.syntactic += len(st.patterns) - sum(len(v) for v in pending.values())
        if not pending:
            return {}
        # One small query per origin pattern that provenance names, then one query per
        # service group, against every compatible peer pattern, for what remains.
        origins = self._origins(st, peers)
        by_origin: dict[tuple[str, ...], list[str]] = {}
        rest: dict[str | None, list[str]] = {}
        for g, pats in pending.items():
            for p in pats:
                named = origins.get(p)
                if named:
                    by_origin.setdefault(tuple(sorted(named)), []).append(p)
                else:
                    rest.setdefault(g, []).append(p)
        for named_origins, drive in by_origin.items():
            label = ", ".join(f"`{o}`" for o in named_origins)
            if not self._contained(
                f"{where}: {len(drive)} pattern(s) within {label}",
                st,
                drive,
                peers,
                list(named_origins),
                [],
            ):
                for p in drive:
                    rest.setdefault(service_key(p), []).append(p)
        left: dict[str | None, list[str]] = {}
        for g, pats in rest.items():
            action, nots = self._peer_languages(st.frame, g)
            if not self._contained(
                f"{where}: {len(pats)} `{g}` pattern(s) within the peers' patterns",
                st,
                pats,
                peers,
                action,
                nots,
            ):
                left[g] = groups[g]
        return left

    # Theorem 3

    def _full(
        self, st: CompiledStatement, group: str | None, patterns: list[str]
    ) -> Counterexample | None:
        keep = keeper(group)
        sub_denies = [d for d in self.sub.stmts if not d.allow]
        others = [*sub_denies, *self.sup.stmts]
        affixes = ("", "")
        if not st.not_action:
            kept = [p for o in others for p in o.patterns if keep is None or keep(p)]
            affixes = common_affixes([*patterns, *kept])

        def build(enc: Encoder) -> list[z3.BoolRef]:
            """Unsat iff the other policy allows every request that statement ``st``
            matches through ``patterns`` and no Deny of its own policy denies (Theorem 3)."""

            def act(s: CompiledStatement) -> z3.BoolRef:
                return enc.statement_action(s, keep)

            mine = enc.action_in(patterns)
            if st.not_action:
                mine = enc.not_(mine)
            return [
                mine,
                enc.frame(st),
                enc.not_(enc.any_matches(sub_denies, act)),
                enc.not_(enc.allowed(self.sup.stmts, act)),
            ]

        where = f"{self.sub.label} Statement[{st.index}]"
        qname = f"{where} within {self.sup.label}" + (f" for `{group}`" if group else "")
        sides = [self.sub, self.sup]
        head, tail = affixes

        def fixed_to(middles: list[str]) -> Callable[[Encoder], list[z3.BoolRef]]:
            """The query with the action fixed to one of ``middles`` (one disjunct each),
            every action element decided by the concrete matcher: no regex is left."""

            def restricted(enc: Encoder) -> list[z3.BoolRef]:
                """Unsat iff the statement query holds for every action of ``middles``."""
                picks = []
                for m in middles:
                    with enc.fixing_action(head + m + tail):
                        fixed = enc.and_(build(enc))
                    if fixed is not enc.false:
                        value = solver.string_value(m, enc.ctx)
                        picks.append(enc.and_([enc.action == value, fixed]))
                return [enc.or_(picks)]

            return restricted

        if not st.not_action and all(literal_prefix(p) == p for p in patterns):
            # Lemma 8: the patterns are action names, so the action ranges over them and
            # the query is the disjunction of the query with the action fixed to each.
            # Chunks split the names; the query is unsat when every chunk is.
            names = sorted({p[len(head) : len(p) - len(tail)] for p in patterns})
            proved = True
            for i in range(0, len(names), FINITE_CHUNK):
                chunk = names[i : i + FINITE_CHUNK]
                answer, enc = self.claim.run(
                    Query(
                        f"{qname} (its {len(names)} action names, from {i})",
                        "statement",
                        fixed_to(chunk),
                        affixes,
                        premise="the patterns are action names (Lemma 8)",
                        fresh=True,
                        abstract_first=True,
                        auxiliary=True,
                    )
                )
                if answer.status is SolverStatus.SAT:
                    return self._decode(answer, enc, sides)
                proved = proved and answer.status is SolverStatus.UNSAT
            if proved:
                return None
        # Otherwise a model, when there is one, usually has for its action an instance
        # of the statement's own patterns (for NotAction: a string no pattern names, or
        # an instance of another statement's pattern). The search query fixes the action
        # to a few such strings: its models are replayed like any other, and any other
        # answer leaves the question to the query itself.
        fill = filler(sides)
        if st.not_action:
            sources = [p for o in others for p in o.patterns if keep is None or keep(p)]
            middles = sorted({fill, f"{fill}:{fill}"})
            middles += sorted({m for p in sources for m in instances(p, fill)} - set(middles))
        else:
            middles = sorted(
                {m for p in patterns for m in instances(p[len(head) : len(p) - len(tail)], fill)}
            )
        answer, enc = self.claim.run(
            Query(
                f"{qname} (action among instances of its patterns)",
                "statement",
                fixed_to(middles[:MAX_INSTANCES]),
                affixes,
                fresh=True,
                budget=RESTRICTED_BUDGET,
                auxiliary=True,
                search_only=True,
            )
        )
        if answer.status is not SolverStatus.SAT:
            answer, enc = self.claim.run(
                Query(qname, "statement", build, affixes, fresh=True, abstract_first=True)
            )
        if answer.status is not SolverStatus.SAT:
            return None
        return self._decode(answer, enc, sides)

    def _decode(
        self, answer: solver.Answer, enc: Encoder, sides: list[Side]
    ) -> Counterexample | None:
        """The counterexample of a model, or None (the claim UNKNOWN) for a model that
        is no real request."""
        try:
            return self._decode_model(answer, enc, sides)
        except UnrealizableModel as exc:
            self.claim.unknown.append(str(exc))
            return None

    def _decode_model(
        self, answer: solver.Answer, enc: Encoder, sides: list[Side]
    ) -> Counterexample:
        action = sanitize_action(enc.decode_action(answer.values["action"]), sides)
        ctx, request = context(enc, answer.values, sides)
        a, b = self.sub.label, self.sup.label

        def expect(d: dict[str, Decision]) -> bool:
            return d[a].allowed and not d[b].allowed

        resource = answer.values["resource"]
        if request is None or not has_variable_resources(sides):
            resource = readable_resource(resource, action, ctx, sides, expect)
        decisions = replay(self.name, action, resource, ctx, sides, expect, request)
        relevant = relevant_atoms(action, resource, ctx, sides)
        in_catalog = action in self.catalog
        shown = self.catalog.canonical(action) or action
        msg = self.message(shown, resource, in_catalog)
        return Counterexample(
            self.name,
            shown,
            resource,
            ctx,
            decisions,
            with_context(
                msg, relevant, ctx, request, condition_report(action, resource, ctx, sides)
            ),
            in_catalog,
            [],
            list(relevant),
            request or {},
            sids=statement_sids(sides),
        )
