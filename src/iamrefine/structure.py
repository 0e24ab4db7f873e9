"""The structure of a refinement, re-derived from the two policies, the unused set and
the catalog alone (``proofs/THEOREMS.md`` §10, Theorem 4).

The refiner changes nothing but the action elements of Allow statements, and drops an
Allow statement only when every action it names is unused. :func:`structure_problems`
checks that a refined policy stands in exactly that relation to its original, trusting
nothing the refiner wrote: the statement origins are a claim to check, and the pattern
origins only say which original pattern to try first. When it finds no problem, the
refined policy allows a request iff the original does and the action is not an unused
catalog action, for every request and every condition semantics (Theorem 4); so a
certificate whose structure holds never rests on the condition encoding.

Everything is decided by the concrete matcher (:mod:`iamrefine.glob`) over the catalog
and by an exact glob-inclusion procedure (:func:`glob_counterexample`), never by a
solver. Statements are compared as canonical JSON text, so a condition value written
``1`` differs from one written ``1.0`` or ``true``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from iamrefine.glob import WILDCARDS, action_matches, ascii_lower, literal_prefix, normalize
from iamrefine.memo import forgettable

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.model import Policy, Statement

__all__ = [
    "action_contexts",
    "context_key",
    "expand",
    "glob_counterexample",
    "glob_included",
    "made_not_action",
    "same_frame",
    "structure_problems",
]


# --- glob inclusion -----------------------------------------------------------------------


@forgettable
@lru_cache(maxsize=65536)
def _tokens(pattern: str) -> str:
    return normalize(ascii_lower(pattern))


def _closure(tokens: str, states: Iterable[int]) -> frozenset[int]:
    out: set[int] = set()
    for s in states:
        while True:
            out.add(s)
            if s < len(tokens) and tokens[s] == "*":
                s += 1
                continue
            break
    return frozenset(out)


def _step(tokens: str, states: frozenset[int], ch: str) -> frozenset[int]:
    nxt: list[int] = []
    for s in states:
        if s == len(tokens):
            continue
        t = tokens[s]
        if t == "*":
            nxt.append(s)
        elif t == "?" or t == ch:
            nxt.append(s + 1)
    return _closure(tokens, nxt)


def glob_counterexample(sub: str, sup: str) -> str | None:
    """A string that the action pattern ``sub`` matches and ``sup`` does not (both
    ASCII case-insensitive), or None when ``sub`` is contained in ``sup``.

    Decided exactly by a product of the two globs' subset automata over the characters
    the patterns name plus one character neither names: any other character is matched
    only by wildcards, exactly like that one, so the finite search is complete.
    """
    a, b = _tokens(sub), _tokens(sup)
    if not any(ch in WILDCARDS for ch in a):
        return None if action_matches(b, a) else a
    named = sorted({ch for ch in a + b if ch not in WILDCARDS})
    fresh = next(chr(c) for c in range(0x21, 0x30000) if chr(c) not in named)
    if not any(ch in WILDCARDS for ch in b):
        # sup matches one string, which names no fresh character.
        return "".join(fresh if ch in WILDCARDS else ch for ch in a)
    if b == literal_prefix(b) + "*":
        # L(sub) is inside L(L*) iff every string sub matches starts with L, that is iff
        # sub's literal prefix does. Otherwise sub's first wildcard taking the fresh
        # character (and every later `*` the empty run, every later `?` the fresh one)
        # gives a string that sub matches and that does not start with L.
        if literal_prefix(a).startswith(b[:-1]):
            return None
        cut = len(literal_prefix(a))
        rest = "".join("" if ch == "*" else (fresh if ch == "?" else ch) for ch in a[cut + 1 :])
        return a[:cut] + fresh + rest
    alphabet = [*named, fresh]
    start = (_closure(a, [0]), _closure(b, [0]))
    seen = {start: ""}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        sa, sb = state
        if len(a) in sa and len(b) not in sb:
            return seen[state]
        for ch in alphabet:
            na = _step(a, sa, ch)
            if not na:
                continue
            nxt = (na, _step(b, sb, ch))
            if nxt not in seen:
                seen[nxt] = seen[state] + ch
                queue.append(nxt)
    return None


def glob_included(sub: str, sup: str) -> bool:
    """Does every string that action pattern ``sub`` matches also match ``sup``?"""
    return glob_counterexample(sub, sup) is None


def expand(catalog: Catalog, pattern: str) -> list[str]:
    """:meth:`Catalog.expand`, answered from the sorted names for an exact name or a
    ``prefix*`` pattern (the patterns the refiner emits)."""
    q = _tokens(pattern)
    lit = literal_prefix(q)
    if lit == q:
        return [q] if q in catalog.by_lower else []
    if q == lit + "*":
        names = catalog.lower_names
        lo = bisect_left(names, lit)
        hi = bisect_left(names, lit + "\U0010ffff", lo)
        return list(names[lo:hi])
    return catalog.expand(pattern)


# --- the structure ------------------------------------------------------------------------


def _text(value: Any) -> str:
    from iamrefine.write import json_text

    return json_text(value, compact=True)


def _statement_text(st: Statement, *, frame: bool) -> str:
    """The statement's canonical JSON text; with ``frame``, without its action element."""
    from iamrefine.write import statement_to_json

    body = statement_to_json(st)
    if frame:
        body.pop("Action", None)
        body.pop("NotAction", None)
    return _text(body)


def same_frame(old: Statement, new: Statement) -> bool:
    """Do the two statements have the same effect and, as canonical JSON text, the same
    elements other than the action element?"""
    return old.effect == new.effect and _statement_text(old, frame=True) == _statement_text(
        new, frame=True
    )


def context_key(st: Statement) -> str | None:
    """For an Allow statement with Action: its canonical JSON text without the action
    element and the Sid (which has no meaning in evaluation). Statements with one key
    allow a request on the same resources and conditions, so together they allow
    exactly what one statement with the union of their Action lists allows; None for
    any other statement."""
    if not st.is_allow or st.action is None:
        return None
    from iamrefine.write import statement_to_json

    body = statement_to_json(st)
    body.pop("Action", None)
    body.pop("Sid", None)
    return _text(body)


def action_contexts(
    statements: Sequence[Statement], leave_out: Iterable[int] = ()
) -> dict[str, list[int]]:
    """The indices of the Allow statements with Action by context (:func:`context_key`),
    in order, but for those in ``leave_out``."""
    skip = set(leave_out)
    groups: dict[str, list[int]] = {}
    for i, st in enumerate(statements):
        key = context_key(st) if i not in skip else None
        if key is not None:
            groups.setdefault(key, []).append(i)
    return groups


def made_not_action(
    original: Sequence[Statement], refined: Sequence[Statement], statement_origin: Sequence[int]
) -> set[int]:
    """The original Allow statements with Action whose refined statement has NotAction
    (an ``Action: "*"`` written as NotAction of the unused actions). Such a statement
    belongs to no context: its refinement is its own NotAction list, and merging the
    other statements of its context into it, or it into them, would mix the two forms."""
    return {
        i
        for j, i in enumerate(statement_origin)
        if j < len(refined)
        and 0 <= i < len(original)
        and refined[j].not_action is not None
        and original[i].action is not None
    }


def _envelope(policy: Policy) -> str:
    """Everything of the document but its statements (and whether they form a list)."""
    from iamrefine.write import policy_to_json

    body = policy_to_json(policy)
    body["Statement"] = isinstance(body.get("Statement"), list)
    return _text(body)


def _examples(names: Iterable[str], limit: int = 3) -> str:
    items = sorted(names)
    shown = ", ".join(f"`{n}`" for n in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class _Structure:
    def __init__(
        self,
        original: Policy,
        refined: Policy | None,
        unused: frozenset[str],
        catalog: Catalog,
        hints: dict[tuple[int, str], str],
        statement_origin: Sequence[int],
    ) -> None:
        self.old = original.statements
        self.new = refined.statements if refined is not None else []
        self.unused = unused
        self.catalog = catalog
        self.hints = hints
        self.problems: list[str] = []
        self._expanded: dict[str, frozenset[str]] = {}
        # The original Allow statements with Action by context (see `context_key`), but
        # those written as NotAction, and for each group, the refined Action patterns of
        # the statements whose origin is in it (with the refined statement's index).
        self.group = action_contexts(
            self.old, made_not_action(self.old, self.new, statement_origin)
        )
        self.context = {i: key for key, members in self.group.items() for i in members}
        self.refined: dict[str, list[tuple[int, str]]] = {}

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def matched(self, pattern: str) -> frozenset[str]:
        """The lowercase catalog actions that ``pattern`` matches."""
        key = _tokens(pattern)
        hit = self._expanded.get(key)
        if hit is None:
            hit = self._expanded[key] = frozenset(expand(self.catalog, key))
        return hit

    def name(self, lower: str) -> str:
        return self.catalog.by_lower.get(lower, lower)

    def statement(self, j: int, i: int) -> None:
        old, new = self.old[i], self.new[j]
        where = f"refined Statement[{j}] (from original Statement[{i}])"
        if old.effect != new.effect:
            self.fail(f"{where} is {new.effect} where the original is {old.effect}")
            return
        if not same_frame(old, new):
            self.fail(f"{where} differs from its original in more than its action element")
            return
        if not old.is_allow:
            if _statement_text(old, frame=False) != _statement_text(new, frame=False):
                self.fail(f"{where} changes a Deny statement's action element")
            return
        if new.action is not None and old.action is not None:
            found = self.refined.setdefault(self.context[i], [])
            found.extend((j, p) for p in new.action.values)
        elif new.not_action is not None and old.not_action is not None:
            self.not_actions(where, old.not_action.values, new.not_action.values)
        elif new.not_action is not None and old.action is not None:
            if not any(_tokens(v) == "*" for v in old.action.values):
                self.fail(f"{where} turns Action into NotAction, but no original pattern is `*`")
            self.not_actions(where, [], new.not_action.values)
        else:
            self.fail(f"{where} turns NotAction into Action")

    def actions(self, key: str) -> None:
        """The Action patterns of the refined statements of one context against those of
        its original statements (usually one statement each; several when the size
        optimizer merged statements of one context)."""
        members = self.group[key]
        found = self.refined.get(key, [])
        old = [p for i in members for p in self.old[i].action_element.values]
        written = set(old)
        covered: set[str] = set()
        origins = ", ".join(f"Statement[{i}]" for i in members)
        for j, p in found:
            where = f"refined Statement[{j}] (from original {origins})"
            hit = self.matched(p)
            covered |= hit
            if p not in written:
                hints = [self.hints.get((i, ascii_lower(p))) for i in members]
                tries = [h for h in hints if h in written] + old
                if not any(glob_included(p, q) for q in tries):
                    whose = "statement" if len(members) == 1 else "statements"
                    self.fail(f"{where}: `{p}` is contained in no pattern of the original {whose}")
            bad = hit & self.unused
            if bad:
                self.fail(
                    f"{where}: `{p}` matches unused action(s) "
                    f"{_examples(self.name(a) for a in bad)}"
                )
        js = sorted({j for j, _ in found})
        where = ", ".join(f"refined Statement[{j}]" for j in js)
        where += f" (from original {origins})"
        for q in dict.fromkeys(old):
            lost = (self.matched(q) - self.unused) - covered
            if lost:
                self.fail(
                    f"{where}: the original pattern `{q}` allows "
                    f"{_examples(self.name(a) for a in lost)}, which is not unused and "
                    f"which no refined pattern matches"
                )

    def not_actions(self, where: str, old: Sequence[str], new: Sequence[str]) -> None:
        if list(new[: len(old)]) != list(old):
            self.fail(f"{where}: the NotAction list does not start with the original's values")
            return
        for p in new[len(old) :]:
            # An added value may be a pattern (`svc:*` for a wholly unused service): it
            # must match catalog actions, all of them unused.
            hit = self.matched(p)
            if not hit or not hit <= self.unused:
                self.fail(
                    f"{where}: `{p}`, added to NotAction, is not an unused catalog action "
                    "(nor a pattern whose catalog actions are all unused)"
                )
        excluded: set[str] = set()
        for p in new:
            excluded |= self.matched(p)
        allowed = self.unused - excluded
        if allowed:
            self.fail(
                f"{where} still allows unused action(s) {_examples(self.name(a) for a in allowed)}"
            )

    def dropped(self, i: int) -> None:
        st = self.old[i]
        where = f"original Statement[{i}]"
        if not st.is_allow:
            self.fail(f"{where}, a Deny statement, is missing from the refined policy")
            return
        if st.action is None:
            self.fail(f"{where}, an Allow statement with NotAction, is missing")
            return
        if self.refined.get(self.context[i]):
            # Merged into a refined statement of its context: `actions` checks it there.
            return
        for p in st.action.values:
            hit = self.matched(p)
            if not hit:
                self.fail(f"{where} is dropped, but `{p}` matches no catalog action")
            elif not hit <= self.unused:
                self.fail(
                    f"{where} is dropped, but `{p}` allows "
                    f"{_examples(self.name(a) for a in hit - self.unused)}, which is not unused"
                )


def structure_problems(
    original: Policy,
    refined: Policy | None,
    unused: frozenset[str],
    catalog: Catalog,
    statement_origin: Sequence[int],
    pattern_origins: Sequence[tuple[int, str, str]] = (),
) -> list[str]:
    """Why ``refined`` is not the refinement of ``original`` by ``unused`` (lowercase
    catalog names) over ``catalog`` that the refiner makes; empty when it is.

    ``statement_origin[j]`` is the claimed original index of refined statement ``j``;
    ``pattern_origins`` (original statement, refined pattern, origin pattern) only say
    which original pattern to try first. The checks (``proofs/THEOREMS.md``, Theorem 4):

    - the document but its statements is unchanged;
    - the origins are strictly increasing indices of original statements, one per
      refined statement;
    - each refined statement has its origin's effect and everything but the action
      element of its origin, as canonical JSON text; a Deny statement is its origin,
      action element included;
    - an Allow statement with Action keeps Action. Its patterns are checked together with
      those of every refined statement whose origin has the same context
      (:func:`context_key`) against the patterns of all the original statements of that
      context (but those written as NotAction, :func:`made_not_action`): each is one of
      theirs or contained (over all strings) in one of them, and matches no unused
      catalog action; every catalog action an original pattern matches that is not
      unused is matched by some refined pattern of the context. (With one
      statement per context, the usual case, this is the statement's own check; the size
      optimizer may merge the statements of one context into one.)
    - an Allow statement with NotAction keeps its values in order and appends only
      unused catalog actions; one with Action turns into NotAction only when an original
      pattern is `*`; either way the NotAction list matches every unused catalog action;
    - an original statement with no refined statement is an Allow statement with Action
      that was merged (a refined statement has its context) or each of whose patterns
      matches catalog actions, all of them unused.
    """
    check = _Structure(
        original,
        refined,
        unused,
        catalog,
        {(s, ascii_lower(p)): o for s, p, o in pattern_origins},
        statement_origin,
    )
    if refined is not None and _envelope(original) != _envelope(refined):
        check.fail("the refined document differs from the original outside its statements")
    if len(statement_origin) != len(check.new):
        check.fail(
            f"{len(statement_origin)} statement origin(s) for {len(check.new)} refined statement(s)"
        )
        return check.problems
    previous = -1
    for j, i in enumerate(statement_origin):
        if not previous < i < len(check.old):
            check.fail(
                f"refined Statement[{j}] names original Statement[{i}] as its origin, "
                "out of order or out of range"
            )
            return check.problems
        previous = i
    for j, i in enumerate(statement_origin):
        check.statement(j, i)
    for key in check.refined:
        check.actions(key)
    kept = set(statement_origin)
    for i in range(len(check.old)):
        if i not in kept:
            check.dropped(i)
    return check.problems
