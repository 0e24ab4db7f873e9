"""The refinement rules: remove unused actions from one statement, pattern by pattern
(:class:`Refiner`; :mod:`iamrefine.refine.engine` runs it over a policy).

Per statement (see ``proofs/REFINEMENT.md``):

* **Deny** statements are never changed.
* **Allow with NotAction** keeps its structure; the unused catalog actions that the
  statement allows are appended to NotAction (canonical names, sorted).
* **Allow with Action**: each pattern P that matches no unused catalog action stays
  exactly as written. Every other pattern is replaced, in place, by a sorted list of
  patterns that together match exactly ``M \\ U`` within the catalog (M: the catalog
  actions P matches, U: the unused actions), each contained in P over all strings.
  Which rule applies depends on P's shape:

  - ``L*`` (one trailing star): the shortest safe prefixes in the catalog trie under L;
  - ``L*R`` (first wildcard a star, R not empty): the safe nodes ``s*R`` of the trie
    under L, with an exact name for an action no safe node matches;
  - a wildcard in the service part and a literal colon (``*:Get*``): one
    sub-pattern ``svc:REST`` per catalog service, each refined recursively;
  - ``L?R`` (first wildcard a question mark): one sub-pattern ``LcR`` per character
    c that catalog actions have at that position, each refined recursively.

  A safe node that matches a single catalog action is written as that action's
  exact name, in the catalog's casing. In a statement that changes, a pattern equal
  (ignoring case) to one written earlier in it is not repeated. A statement left
  without actions is removed; a policy left without statements is to be detached.

The result warns when the unused-actions input changes nothing: when it lists no
catalog action; when individually named unused actions are allowed by no Allow
statement; and when a service given whole has no action that the policy allows.

With ``strategy="notaction"``, an Allow statement whose Action contains ``*`` (alone)
is written as ``NotAction`` of the unused actions instead; for any other pattern a
NotAction rewrite would allow actions the original did not, so the pattern form is
kept.
"""

from __future__ import annotations

from itertools import groupby

from iamrefine.errors import Diagnostic
from iamrefine.glob import compile_glob, has_wildcard, literal_prefix, normalize
from iamrefine.model import Statement, ValueList, ascii_lower
from iamrefine.refine.messages import ineffective_unused, unknown_message
from iamrefine.refine.results import (
    NodeKind,
    NotActionChange,
    PatternTrace,
    Replacement,
    Rule,
    Strategy,
    TraceNode,
)
from iamrefine.refine.trie import CatalogIndex
from iamrefine.unused import UnusedSet


def _normalize(pattern: str) -> str:
    """:func:`iamrefine.glob.normalize`, skipped when no two wildcards are adjacent
    (the common case, in which normalizing changes nothing)."""
    if "**" in pattern or "*?" in pattern or "?*" in pattern:
        return normalize(pattern)
    return pattern


class Refiner:
    """Per-policy state: the unused flags over the catalog index, warnings, records."""

    def __init__(self, index: CatalogIndex, unused: UnusedSet, source: str) -> None:
        self.index = index
        self.source = source
        self.unused_source = unused.source
        flags = bytearray(index.size)
        position = index.position
        unused_positions = []
        for name in unused.actions:
            i = position.get(name)
            if i is not None:
                flags[i] = 1
                unused_positions.append(i)
        self.flags = flags
        self.unused_sorted = sorted(unused_positions)
        # The unused positions that some Allow statement allows; always a subset of flags.
        self.allowed = bytearray(index.size)
        self.warnings: list[Diagnostic] = []
        self.replacements: list[Replacement] = []
        self.notaction_changes: list[NotActionChange] = []
        self.origins: dict[int, dict[str, str]] = {}

    # --- statements ------------------------------------------------------------

    def statement(self, si: int, st: Statement, strategy: Strategy) -> Statement | None:
        if not st.is_allow:
            return st
        if st.not_action is not None:
            return self._not_action(si, st)
        if st.action is None:
            return st
        values = st.action.values
        if strategy == "notaction" and any(_normalize(v) == "*" for v in values):
            for vi, value in enumerate(values):
                self._check_known(st.action, vi, value)
            return self._star_to_not_action(si, st)
        new_values: list[str] = []
        seen: set[str] = set()
        table: dict[str, str] = {}
        replaced = False
        for vi, value in enumerate(values):
            out = self._pattern(si, vi, value, st.action)
            if out is None:
                out = [value]
            else:
                replaced = True
            for p in out:
                key = ascii_lower(p)
                if key in seen:
                    continue
                seen.add(key)
                new_values.append(p)
                table.setdefault(p, value)
        self.origins[si] = table
        if not replaced:
            return st
        if not new_values:
            return None
        return st.with_actions(new_values, not_action=False)

    def warn_ineffective(self, unused: UnusedSet) -> None:
        """Warn about the parts of the unused-actions input that change nothing."""
        found = ineffective_unused(
            self.index, self.unused_sorted, self.flags, self.allowed, unused.services
        )
        for message in found:
            self._input_warning(message)

    def _input_warning(self, message: str) -> None:
        self.warnings.append(Diagnostic(self.unused_source, None, None, message, "warning"))

    def _not_action(self, si: int, st: Statement) -> Statement:
        assert st.not_action is not None
        excluded = [compile_glob(p, fold_case=True) for p in st.not_action.values]
        names = self.index.names
        allowed = self.allowed
        positions = [
            i for i in self.unused_sorted if not any(rx.fullmatch(names[i]) for rx in excluded)
        ]
        if not positions:
            return st
        for i in positions:
            allowed[i] = 1
        added = self._whole_services(positions)
        self.notaction_changes.append(NotActionChange(si, tuple(added)))
        return st.with_actions([*st.not_action.values, *added], not_action=True)

    def _whole_services(self, positions: list[int]) -> list[str]:
        """The NotAction values excluding the catalog actions at ``positions``
        (ascending): ``svc:*`` for a service all of whose catalog actions are there
        (exact over the catalog, and it excludes more strings, never fewer), the
        action names otherwise; sorted case-insensitively."""
        index = self.index
        out: list[str] = []
        for service, group in groupby(positions, key=lambda i: index.names[i].partition(":")[0]):
            members = list(group)
            lo, hi = index.range_of(service + ":")
            if len(members) == hi - lo:
                out.append(index.canon[lo].partition(":")[0] + ":*")
            else:
                out.extend(index.canon[i] for i in members)
        out.sort(key=lambda a: (ascii_lower(a), a))
        return out

    def _star_to_not_action(self, si: int, st: Statement) -> Statement:
        assert st.action is not None
        if not self.unused_sorted:
            return st
        self.allowed[:] = self.flags
        added = self._whole_services(self.unused_sorted)
        self.notaction_changes.append(NotActionChange(si, tuple(added), from_action=True))
        return st.with_actions(added, not_action=True)

    # --- patterns --------------------------------------------------------------

    def _warn(self, element: ValueList, vi: int, message: str) -> None:
        span = element.span_of(vi)
        line = span.line if span is not None else None
        column = span.column if span is not None else None
        self.warnings.append(Diagnostic(self.source, line, column, message, "warning"))

    def _check_known(self, element: ValueList, vi: int, pattern: str) -> None:
        q = ascii_lower(_normalize(pattern))
        if not has_wildcard(q):
            if q not in self.index.position:
                self._warn(element, vi, unknown_message(pattern, self.index))
        elif not self.index.matching(q):
            self._warn(
                element, vi, f"`{pattern}` matches no action in the catalog; kept as written"
            )

    def _pattern(self, si: int, vi: int, pattern: str, element: ValueList) -> list[str] | None:
        """The patterns replacing ``pattern``, or None when it stays as written."""
        w = _normalize(pattern)
        q = ascii_lower(w)
        index = self.index
        flags = self.flags
        if not has_wildcard(q):
            i = index.position.get(q)
            if i is None:
                self._warn(element, vi, unknown_message(pattern, index))
                return None
            if not flags[i]:
                return None
            self.allowed[i] = 1
            root = TraceNode.unsafe(
                pattern, parent=None, kind="root", actions=1, unused=1, witness=index.canon[i]
            )
            self._record(si, vi, pattern, "exact", [root], [])
            return []
        matched = self.index.matching(q)
        if not matched:
            self._warn(
                element, vi, f"`{pattern}` matches no action in the catalog; kept as written"
            )
            return None
        if isinstance(matched, range):
            first = flags.find(1, matched.start, matched.stop)
            if first < 0:
                return None
            unused = flags.count(1, matched.start, matched.stop)
            self.allowed[first : matched.stop] = flags[first : matched.stop]
        else:
            hits = [i for i in matched if flags[i]]
            if not hits:
                return None
            first, unused = hits[0], len(hits)
            allowed = self.allowed
            for i in hits:
                allowed[i] = 1
        root = TraceNode.unsafe(
            pattern,
            parent=None,
            kind="root",
            actions=len(matched),
            unused=unused,
            witness=index.canon[first],
        )
        nodes = [root]
        out: list[str] = []
        rule = self._expand(w, q, list(matched), 0, nodes, out)
        self._record(si, vi, pattern, rule, nodes, out)
        return out

    def _record(
        self, si: int, vi: int, pattern: str, rule: Rule, nodes: list[TraceNode], out: list[str]
    ) -> None:
        out.sort(key=lambda p: (ascii_lower(p), p))
        trace = PatternTrace(si, vi, pattern, rule, nodes)
        self.replacements.append(Replacement(si, vi, pattern, tuple(out), trace))

    def _expand(
        self,
        w: str,
        q: str,
        matched: list[int],
        parent: int,
        nodes: list[TraceNode],
        out: list[str],
    ) -> Rule:
        """Refine the unsafe (sub-)pattern ``w`` (lowercase ``q``), which matches the
        catalog indices ``matched``, under node ``parent``; emit into ``out``."""
        lit = literal_prefix(q)
        rest = q[len(lit) :]
        if ":" not in lit and ":" in q:
            self._by_service(w, q, matched, parent, nodes, out)
            return "service"
        if rest == "*":
            self._prefix(lit, parent, nodes, out)
            return "prefix"
        if rest.startswith("*"):
            self._infix(len(lit), w[len(lit) + 1 :], matched, parent, nodes, out)
            return "infix"
        self._single(w, len(lit), matched, parent, nodes, out)
        return "single"

    def _sub_pattern(
        self,
        w: str,
        members: list[int],
        kind: NodeKind,
        parent: int,
        nodes: list[TraceNode],
        out: list[str],
    ) -> None:
        """A sub-pattern ``w`` contained in its parent and matching ``members``: emit it
        when safe, otherwise refine it further."""
        flags = self.flags
        canon = self.index.canon
        hits = [i for i in members if flags[i]]
        if not hits:
            text = canon[members[0]] if len(members) == 1 else w
            nodes.append(
                TraceNode.kept(w, parent=parent, kind=kind, actions=len(members), emitted=text)
            )
            out.append(text)
            return
        nodes.append(
            TraceNode.unsafe(
                w,
                parent=parent,
                kind=kind,
                actions=len(members),
                unused=len(hits),
                witness=canon[hits[0]],
            )
        )
        if len(members) > 1:
            self._expand(w, ascii_lower(w), members, len(nodes) - 1, nodes, out)

    def _by_service(
        self,
        w: str,
        q: str,
        matched: list[int],
        parent: int,
        nodes: list[TraceNode],
        out: list[str],
    ) -> None:
        # Catalog names have exactly one colon, so P's first literal colon matches it,
        # and the name's service matches P's service part.
        rest = w[q.index(":") :]
        names = self.index.names
        canon = self.index.canon
        for _, group in groupby(matched, key=lambda i: names[i].partition(":")[0]):
            members = list(group)
            service = canon[members[0]].partition(":")[0]
            self._sub_pattern(service + rest, members, "service", parent, nodes, out)

    def _single(
        self,
        w: str,
        at: int,
        matched: list[int],
        parent: int,
        nodes: list[TraceNode],
        out: list[str],
    ) -> None:
        names = self.index.names
        canon = self.index.canon
        by_char: dict[str, list[int]] = {}
        for i in matched:
            by_char.setdefault(names[i][at], []).append(i)
        for _, members in sorted(by_char.items()):
            ch = canon[members[0]][at]
            self._sub_pattern(w[:at] + ch + w[at + 1 :], members, "single", parent, nodes, out)

    def _prefix(self, lit: str, parent: int, nodes: list[TraceNode], out: list[str]) -> None:
        """Shortest safe prefixes below the unsafe node ``L*`` (``lit``: L, lowercase)."""
        index = self.index
        flags = self.flags
        canon = index.canon
        lo, hi = index.range_of(lit)
        stack = [(len(lit), lo, hi, parent)]
        while stack:
            plen, lo, hi, pid = stack.pop()
            for cut, clo, chi in index.children(lo, hi, plen):
                n = chi - clo
                if cut is None:
                    text = canon[clo]
                    kind: NodeKind = "exact"
                else:
                    text = canon[clo][:cut] + "*"
                    kind = "prefix"
                first = flags.find(1, clo, chi)
                if first < 0:
                    emitted = canon[clo] if n == 1 else text
                    nodes.append(
                        TraceNode.kept(text, parent=pid, kind=kind, actions=n, emitted=emitted)
                    )
                    out.append(emitted)
                    continue
                nodes.append(
                    TraceNode.unsafe(
                        text,
                        parent=pid,
                        kind=kind,
                        actions=n,
                        unused=flags.count(1, clo, chi),
                        witness=canon[first],
                    )
                )
                if cut is not None and n > 1:
                    stack.append((cut, clo, chi, len(nodes) - 1))

    def _infix(
        self,
        plen: int,
        tail: str,
        matched: list[int],
        parent: int,
        nodes: list[TraceNode],
        out: list[str],
    ) -> None:
        """Most general safe nodes ``s*R`` below the unsafe node ``L*R`` (``plen`` =
        len(L), ``tail`` = R as written); exact names for actions no safe node matches."""
        index = self.index
        flags = self.flags
        names = index.names
        canon = index.canon
        rx = compile_glob("*" + tail, fold_case=True)

        def exact(i: int, pid: int) -> None:
            if flags[i]:
                nodes.append(
                    TraceNode.unsafe(
                        canon[i], parent=pid, kind="exact", actions=1, unused=1, witness=canon[i]
                    )
                )
            else:
                nodes.append(
                    TraceNode.kept(canon[i], parent=pid, kind="exact", actions=1, emitted=canon[i])
                )
                out.append(canon[i])

        stack = [(plen, matched, parent)]
        while stack:
            plen, covered, pid = stack.pop()
            cuts = {i: index.next_cut(i, plen) for i in covered}

            def child_key(i: int, cuts: dict[int, int | None] = cuts) -> str | int:
                cut = cuts[i]
                return i if cut is None else names[i][:cut]

            for _, group in groupby(covered, key=child_key):
                members = list(group)
                cut = cuts[members[0]]
                if cut is None:
                    exact(members[0], pid)
                    continue
                inner = [i for i in members if rx.fullmatch(names[i], cut)]
                if inner:
                    text = canon[inner[0]][:cut] + "*" + tail
                    hits = [i for i in inner if flags[i]]
                    if not hits:
                        emitted = canon[inner[0]] if len(inner) == 1 else text
                        nodes.append(
                            TraceNode.kept(
                                text, parent=pid, kind="prefix", actions=len(inner), emitted=emitted
                            )
                        )
                        out.append(emitted)
                    else:
                        nodes.append(
                            TraceNode.unsafe(
                                text,
                                parent=pid,
                                kind="prefix",
                                actions=len(inner),
                                unused=len(hits),
                                witness=canon[hits[0]],
                            )
                        )
                        if len(inner) > 1:
                            stack.append((cut, inner, len(nodes) - 1))
                if len(inner) != len(members):
                    kept = set(inner)
                    for i in members:
                        if i not in kept:
                            exact(i, pid)
