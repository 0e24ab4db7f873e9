"""The least-generality claim: every pattern the refiner generated has a witness that its
parent could not have been emitted. Checked by the same code when a certificate is
built and when it is verified."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iamrefine.certificate.report import examples
from iamrefine.certificate.schema import Witness
from iamrefine.glob import action_matches, ascii_lower
from iamrefine.structure import (
    action_contexts,
    context_key,
    expand,
    glob_counterexample,
    glob_included,
    made_not_action,
    same_frame,
)

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.model import Policy


def check_least_general(
    witnesses: Sequence[Witness],
    original: Policy,
    refined: Policy | None,
    unused: frozenset[str],
    catalog: Catalog,
    statement_origin: Sequence[int],
) -> list[str]:
    """Problems with the least-generality claim (none: it holds).

    Every pattern of a refined Allow statement with Action that is not a value of the
    original statement it came from must have a witness, and every witness must hold:
    its original pattern is a value of that Action statement; the pattern is in the
    refined statement, is contained in the original pattern (over all strings), is
    safe (every catalog action it matches is matched by the original pattern and not
    unused), and is strictly contained in its parent; the witness is a catalog action
    that the parent matches and that is unused or not matched by the original pattern.
    """
    problems: list[str] = []
    stmts = original.statements
    new_stmts = refined.statements if refined is not None else []
    witnessed = {(w.statement, ascii_lower(w.pattern)) for w in witnesses}
    # The original Allow statements with Action by context: the size optimizer may merge
    # the statements of one context, so a pattern's witness may name any of them.
    members = action_contexts(stmts, made_not_action(stmts, new_stmts, statement_origin))
    refined_of: dict[int, set[str]] = {}
    broken: set[int] = set()
    # Origins and frames are checked by structure_problems, which this claim presupposes;
    # here a statement that breaks them only has its witnesses left unchecked.
    for j, (i, st) in enumerate(zip(statement_origin, new_stmts, strict=False)):
        if not 0 <= i < len(stmts):
            continue
        old = stmts[i]
        if not same_frame(old, st):
            broken.add(i)
            continue
        if not (st.is_allow and st.action is not None and old.action is not None):
            continue
        group = members[context_key(old) or ""]
        patterns = {ascii_lower(p) for p in st.action.values}
        for k in group:
            refined_of.setdefault(k, set()).update(patterns)
        kept = {p for k in group for p in stmts[k].action_element.values}
        for p in st.action.values:
            if p in kept:
                continue
            if not any((k, ascii_lower(p)) in witnessed for k in group):
                problems.append(
                    f"generated pattern `{p}` of refined Statement[{j}] has no "
                    f"least-generality witness"
                )
    for w in witnesses:
        where = f"witness for `{w.pattern}`"
        if w.statement >= len(stmts):
            problems.append(f"{where}: original Statement[{w.statement}] does not exist")
            continue
        old = stmts[w.statement]
        if not old.is_allow or old.action is None or w.original not in old.action.values:
            problems.append(
                f"{where}: `{w.original}` is not an Action pattern of Allow "
                f"Statement[{w.statement}] of the original policy"
            )
            continue
        if w.statement in refined_of:
            if ascii_lower(w.pattern) not in refined_of[w.statement]:
                problems.append(f"{where}: the pattern is not in the refined statement(s)")
        elif w.statement not in broken:
            problems.append(
                f"{where}: original Statement[{w.statement}] has no refined Allow statement "
                "with Action"
            )
        escape = glob_counterexample(w.pattern, w.original)
        if escape is not None:
            problems.append(
                f"{where}: the pattern is not contained in `{w.original}` (it matches `{escape}`)"
            )
        bad = [
            a
            for a in expand(catalog, w.pattern)
            if a in unused or not action_matches(w.original, a)
        ]
        if bad:
            problems.append(
                f"{where}: the pattern is not safe: it matches "
                f"{examples(catalog.by_lower[a] for a in bad)}"
            )
        if not glob_included(w.pattern, w.parent):
            problems.append(f"{where}: the pattern is not contained in its parent `{w.parent}`")
        elif glob_included(w.parent, w.pattern):
            problems.append(f"{where}: the parent `{w.parent}` is no more general than the pattern")
        if w.witness not in catalog:
            problems.append(f"{where}: `{w.witness}` is not a catalog action")
            continue
        if not action_matches(w.parent, w.witness):
            problems.append(f"{where}: the parent `{w.parent}` does not match `{w.witness}`")
            continue
        in_original = action_matches(w.original, w.witness)
        if in_original and ascii_lower(w.witness) not in unused:
            problems.append(
                f"{where}: `{w.witness}` is neither unused nor outside "
                f"`{w.original}`, so it does not show that `{w.parent}` is unsafe"
            )
            continue
        reason = "unused" if in_original else "not allowed"
        if reason != w.reason:
            problems.append(
                f"{where}: the recorded reason is `{w.reason}`, but `{w.witness}` is `{reason}`"
            )
    return problems
