"""Counterexamples: a model of a sat query decoded into a request (action, resource,
condition context), made readable, and replayed through :mod:`iamrefine.reference`
before anyone sees it (the cedar-style decoder)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from iamrefine import reference
from iamrefine.catalog import Catalog
from iamrefine.conditions import concrete
from iamrefine.conditions.smt import FullConditions
from iamrefine.encode import (
    Encoder,
    Partition,
)
from iamrefine.errors import InternalError
from iamrefine.model import Statement
from iamrefine.prove.claim import MAX_INSTANCES, Side, UnrealizableModel
from iamrefine.prove.results import Counterexample
from iamrefine.reference import Decision
from iamrefine.write import json_text


def show(text: str) -> str:
    """``text`` for a message: as is when printable, else with JSON escapes."""
    return text if text.isprintable() else json.dumps(text, ensure_ascii=False)[1:-1]


# --- decoding ---------------------------------------------------------------------------

FILLERS = "#~_0123456789!%&+=@^|"


def statement_sids(sides: Sequence[Side]) -> dict[str, list[str | None]]:
    """Each side's statement Sids, in order (for messages that name statements)."""
    return {s.label: [st.sid for st in s.policy.statements] if s.policy else [] for s in sides}


def filler(sides: Sequence[Side]) -> str:
    """A character that no action pattern of ``sides`` names."""
    used = {ch for s in sides for st in s.stmts for p in st.patterns for ch in p}
    for ch in FILLERS:
        if ch not in used:
            return ch
    code = 0x100
    while chr(code) in used:
        code += 1
    return chr(code)


def sanitize_action(text: str, sides: Sequence[Side]) -> str:
    """Replace ASCII uppercase letters, which lowered patterns only match by wildcards,
    by a character no pattern names: memberships are unchanged (Lemma 4) and the
    request then means the same after IAM's case folding."""
    if not re.search("[A-Z]", text):
        return text
    fill = filler(sides)
    return re.sub("[A-Z]", fill, text)


def readable_resource(
    found: str,
    action: str,
    ctx: dict[str, bool],
    sides: Sequence[Side],
    expect: Callable[[dict[str, Decision]], bool],
) -> str:
    """A resource for the counterexample that reads well: the first Resource element (taken
    as a literal string) on which the request still fails the claim in the reference
    evaluator, trying first the statements that match the request with ``found``; else
    the solver's own ``found``."""
    statements: list[Statement] = []
    for side in sides:
        if side.policy is None:
            continue
        decision = reference.evaluate(side.policy, action, found, ctx)
        statements.extend(side.policy.statements[i] for i in decision.matched_allow)
        statements.extend(side.policy.statements[i] for i in decision.matched_deny)
    for side in sides:
        if side.policy is not None:
            statements.extend(
                st for st in side.policy.statements if st.action is not None and st.is_allow
            )
    seen: set[str] = set()
    for st in statements:
        for element in st.resource.values if st.resource is not None else []:
            # An instance without wildcard characters reads best; the element taken
            # literally (a star in a resource name) only when no instance will do.
            for value in (fill_wildcards(element), element):
                if value in seen or len(seen) >= MAX_INSTANCES:
                    continue
                seen.add(value)
                decisions = {
                    s.label: reference.evaluate(s.policy, action, value, ctx) for s in sides
                }
                if expect(decisions):
                    return value
    return found


def fill_wildcards(glob: str) -> str:
    """A readable instance of a Resource glob: each ``*`` an ``example`` and each ``?``
    an ``x``, so ``arn:aws:s3:::reports*`` reads as ``arn:aws:s3:::reportsexample``. The
    element ``*`` alone stays ``*``: it reads as "any resource", which it is."""
    if glob == "*":
        return glob
    return glob.replace("*", "example").replace("?", "x")


def context(
    enc: Encoder, values: dict[str, Any], sides: Sequence[Side]
) -> tuple[dict[str, bool], dict[str, list[str]] | None]:
    """The atoms' values in a model, and the concrete request when the encoder decided
    condition blocks by their full semantics (each block's atom is then the independent
    evaluator's verdict on that request, and so is each Resource element with a policy
    variable, on the model's resource)."""
    ctx = {k: False for s in sides for k in reference.atom_keys(s.policy)}
    for name, key in enc.atom_names.items():
        ctx[key] = bool(values[name])
    full = enc.condition_encoder
    if not isinstance(full, FullConditions):
        return ctx, None
    request = {full.spelling.get(k, k): v for k, v in full.request(enc, values).items()}
    for side in sides:
        if side.policy is None:
            continue
        version = side.policy.effective_version
        for st in side.policy.statements:
            if st.condition is not None:
                key = reference.condition_key(st.condition, version)
                ctx[key] = concrete.condition_holds(st.condition, version, request)
            element = st.resource if st.resource is not None else st.not_resource
            for value in element.values if element is not None else []:
                if reference.is_variable_element(value, version):
                    ctx[reference.resource_variable_key(value, version)] = concrete.resource_holds(
                        value, values["resource"], request
                    )
    return ctx, request


def has_variable_resources(sides: Sequence[Side]) -> bool:
    """Does a Resource element of ``sides`` hold a policy variable? (Its truth value in a
    full-semantics context is tied to the model's resource, so no other is tried.)"""
    for side in sides:
        if side.policy is None:
            continue
        version = side.policy.effective_version
        for st in side.policy.statements:
            element = st.resource if st.resource is not None else st.not_resource
            if element is not None and any(
                reference.is_variable_element(v, version) for v in element.values
            ):
                return True
    return False


def render_request(request: dict[str, list[str]]) -> str:
    """The request's condition keys as a user writes them: ``aws:SourceIp = 10.0.0.7``
    (a multi-valued key as a list)."""
    if not request:
        return "no condition key is present"
    shown = []
    for key, raw in request.items():
        vals = [v if v and v.strip() == v and "," not in v else json.dumps(v) for v in raw]
        text = vals[0] if len(vals) == 1 else "[" + ", ".join(vals) + "]"
        shown.append(f"{show(key)} = {show(text)}")
    return ", ".join(shown)


def condition_report(
    action: str, resource: str, ctx: dict[str, bool], sides: Sequence[Side]
) -> list[str]:
    """For each statement whose action and resource elements match the request and that
    has a condition block: whether its block holds (``the condition of A statement 2
    (Sid x) holds``), so a reader sees which condition makes the policies differ."""
    out = []
    for side in sides:
        if side.policy is None:
            continue
        version = side.policy.effective_version
        for i, st in enumerate(side.policy.statements):
            if st.condition is None or not reference.action_element_matches(st, action):
                continue
            if not reference.resource_element_matches(st, resource, version, ctx):
                continue
            verdict = "holds" if ctx[reference.condition_key(st.condition, version)] else "fails"
            sid = f" (Sid {show(st.sid)})" if st.sid else ""
            out.append(f"the condition of {side.label} statement {i + 1}{sid} {verdict}")
    return out


def describe_atom(key: str, shown: str, value: bool) -> str:
    if key.startswith("resource-variable "):
        return f"resource element `{shown}` {'matches' if value else 'does not match'}"
    if key.startswith(("Principal ", "NotPrincipal ")):
        kind, _, text = key.partition(" ")
        return f"{kind} `{text}` {'matches' if value else 'does not match'}"
    return f"condition `{shown}` {'holds' if value else 'does not hold'}"


def relevant_atoms(
    action: str, resource: str, ctx: dict[str, bool], sides: Sequence[Side]
) -> dict[str, str]:
    """The atoms that can change the decisions on this request: those of the statements
    whose action and resource elements match it (their condition, principal and resource
    variables), in policy order, each with the text that shows it (a condition block as
    written in the first statement that has it)."""
    keys: dict[str, str] = {}
    for side in sides:
        policy = side.policy
        if policy is None:
            continue
        version = policy.effective_version
        for st in policy.statements:
            if not reference.action_element_matches(st, action):
                continue
            if not reference.resource_element_matches(st, resource, version, ctx):
                continue
            element = st.resource if st.resource is not None else st.not_resource
            for value in element.values if element is not None else []:
                if reference.is_variable_element(value, version):
                    keys.setdefault(reference.resource_variable_key(value, version), value)
            principal = reference.principal_key(st)
            if principal is not None:
                keys.setdefault(principal, principal)
            if st.condition is not None:
                shown = json_text(st.condition.to_json())
                keys.setdefault(reference.condition_key(st.condition, version), shown)
    return keys


def with_context(
    message: str,
    relevant: dict[str, str],
    ctx: dict[str, bool],
    request: dict[str, list[str]] | None = None,
    conditions: Sequence[str] = (),
) -> str:
    if request is not None:
        # The blocks were decided on a concrete request: show it and each block's verdict.
        parts = [render_request(request), *conditions]
        parts += [
            describe_atom(k, shown, ctx[k])
            for k, shown in relevant.items()
            if k.startswith(("resource-variable ", "Principal ", "NotPrincipal "))
        ]
        return message + " when " + "; ".join(parts)
    if not relevant:
        return message
    described = (describe_atom(k, shown, ctx[k]) for k, shown in relevant.items())
    return message + " when " + ", ".join(described)


def replay(
    cex_claim: str,
    action: str,
    resource: str,
    ctx: dict[str, bool],
    sides: Sequence[Side],
    expect: Callable[[dict[str, Decision]], bool],
    request: dict[str, list[str]] | None = None,
) -> dict[str, Decision]:
    """The sides' decisions on the counterexample, which must show the claim false. A
    full-semantics model (``request`` given) that does not replay is no real request
    (its typed views of one key disagree): :class:`UnrealizableModel`, which makes the
    claim UNKNOWN. Any other failure to replay is a bug."""
    decisions = {s.label: reference.evaluate(s.policy, action, resource, ctx) for s in sides}
    if not expect(decisions) and request is not None:
        raise UnrealizableModel(
            f"the solver's model of `{cex_claim}` is no real request (views of one condition "
            f"key that no single value has; rendered as {render_request(request)})"
        )
    if not expect(decisions):
        raise InternalError(
            f"counterexample to `{cex_claim}` does not replay: action `{action}`, resource "
            f"`{resource}`, context {ctx}; reference decisions "
            + ", ".join(f"{k}: {v}" for k, v in decisions.items())
        )
    return decisions


def decode_class(
    claim_name: str,
    direction: str,
    values: dict[str, Any],
    enc: Encoder,
    partition: Partition,
    sides: Sequence[Side],
    catalog: Catalog,
    unused: frozenset[str],
) -> Counterexample:
    k = values["class"]
    if not 0 <= k < len(partition):
        raise InternalError(f"model picks class {k} of {len(partition)}")
    cls = partition.classes[k]
    action = catalog.by_lower[cls.members[0]]
    resource = values["resource"]
    ctx, request = context(enc, values, sides)
    a, b = sides[0].label, sides[1].label
    is_unused = cls.members[0] in unused

    def expect(d: dict[str, Decision]) -> bool:
        kept = d[a].allowed and not is_unused
        if direction == "within":
            return d[a].allowed and not d[b].allowed
        if direction == "over":
            return d[b].allowed and not kept
        return kept and not d[b].allowed

    if request is None or not has_variable_resources(sides):
        resource = readable_resource(resource, action, ctx, sides, expect)
    decisions = replay(claim_name, action, resource, ctx, sides, expect, request)
    relevant = relevant_atoms(action, resource, ctx, sides)
    if direction == "within":
        msg = f"{a} allows `{action}` on `{show(resource)}`, which {b} does not"
    elif direction == "over" and is_unused:
        msg = f"the {b} policy still allows unused `{action}` on `{show(resource)}`"
    elif direction == "over":
        msg = (
            f"the {b} policy allows `{action}` on `{show(resource)}`, which the {a} policy does not"
        )
    else:
        msg = f"the {b} policy no longer allows `{action}` on `{show(resource)}`"
    if len(cls.members) > 1:
        more = len(cls.members) - 1
        msg += f" (and {more} more {'action' if more == 1 else 'actions'} of the same class)"
    return Counterexample(
        claim_name,
        action,
        resource,
        ctx,
        decisions,
        with_context(msg, relevant, ctx, request, condition_report(action, resource, ctx, sides)),
        True,
        [catalog.by_lower[m] for m in cls.members],
        list(relevant),
        request or {},
        sids=statement_sids(sides),
    )
