"""The reference evaluator: plain-Python IAM evaluation of one policy, part of the trusted base.

It is deliberately small and shares nothing with the encoder except the names of
the opaque atoms (the ``*_key`` functions below). It decides one request
``(action, resource, context)``:

- a statement matches when its action element, its resource element, its
  principal element and its condition block all hold;
- the request is allowed iff some Allow statement matches and no Deny statement does.

Actions are matched with :func:`iamrefine.glob.action_matches` (case-insensitive),
resources with :func:`iamrefine.glob.resource_matches` (case-sensitive). A missing
Resource/NotResource matches every resource.

Three things are *opaque* and read from the context, a mapping from atom key to bool:

- a condition block, keyed by :func:`condition_key` (its canonical text);
- a resource element that contains a policy variable (``${...}``) under Version
  2012-10-17, keyed by :func:`resource_variable_key`; under 2008-10-17 the element
  is literal text and is matched as a glob;
- a Principal/NotPrincipal element, keyed by :func:`principal_key`.

A key the context lacks is an error (:class:`KeyError`), never a silent default.
Condition semantics go through :func:`condition_holds`, the hook that a full
operator semantics replaces. The full semantics lives in
:mod:`iamrefine.conditions.concrete` (an evaluator written independently of the
encoder): when the checker decides blocks semantically, it computes each block's atom
(and each variable Resource element's) from the concrete request with it, and replays
the counterexample here.

The module also holds the enumerating judges used by differential tests. By default
(*opaque mode*) they enumerate every truth assignment of the atoms, which includes
assignments no request produces (a variable Resource element matching a resource its
variable's value cannot give). Given a list of concrete requests (*concrete mode*), they
compute the condition and variable-resource atoms of each request with
:mod:`iamrefine.conditions.concrete` (:func:`request_context`), as the checker does, and
enumerate only the principals; a violation found is then shown by a real request (up
to the principals, which stay opaque as in the checker).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from iamrefine.conditions import concrete
from iamrefine.glob import action_matches, ascii_lower, literal_prefix, resource_matches
from iamrefine.memo import forgettable
from iamrefine.model import VERSION_2012, Condition, Policy, Statement

Context = Mapping[str, bool]
Request = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Decision:
    """The outcome of one request: allowed or not, and which statements matched (0-based)."""

    allowed: bool
    matched_allow: list[int] = field(default_factory=list)
    matched_deny: list[int] = field(default_factory=list)


# --- atom keys (shared with the encoder) -------------------------------------


def has_policy_variable(text: str) -> bool:
    """Does ``text`` contain a policy variable (``${``)? Only meaningful under 2012-10-17."""
    return "${" in text


def condition_key(condition: Condition, version: str) -> str:
    """The atom key of a condition block: its canonical text. A block that contains
    ``${`` also carries the policy version, because variables are substituted only
    under 2012-10-17, so the same text means different things under the two versions."""
    text = condition.canonical()
    if has_policy_variable(text):
        return f"{text} @{version}"
    return text


def resource_variable_key(element: str, version: str) -> str:
    """The atom key of a resource element that holds a policy variable."""
    return f"resource-variable {version} {element}"


def principal_key(statement: Statement) -> str | None:
    """The atom key of a statement's Principal or NotPrincipal, None when it has neither."""
    if statement.principal is not None:
        return "Principal " + json.dumps(statement.principal, sort_keys=True)
    if statement.not_principal is not None:
        return "NotPrincipal " + json.dumps(statement.not_principal, sort_keys=True)
    return None


def is_variable_element(element: str, version: str) -> bool:
    """Is this resource element opaque (a policy variable under 2012-10-17)?"""
    return version == VERSION_2012 and has_policy_variable(element)


# --- evaluation ---------------------------------------------------------------


def condition_holds(condition: Condition, version: str, context: Context) -> bool:
    """Does the condition block hold? Opaque semantics: the context says so by its key."""
    return context[condition_key(condition, version)]


@forgettable
@lru_cache(maxsize=1 << 16)
def _lowered_prefix(pattern: str) -> str:
    return ascii_lower(literal_prefix(pattern))


def _action_matches(pattern: str, action: str) -> bool:
    # A glob matches only strings that start with its literal prefix; checking that
    # first spares compiling most patterns of a large policy.
    if not ascii_lower(action).startswith(_lowered_prefix(pattern)):
        return False
    return action_matches(pattern, action)


def action_element_matches(statement: Statement, action: str) -> bool:
    """Action: some pattern matches; NotAction: no pattern matches."""
    element = statement.action_element
    hit = any(_action_matches(p, action) for p in element.values)
    return not hit if statement.uses_not_action else hit


def resource_element_matches(
    statement: Statement, resource: str, version: str, context: Context
) -> bool:
    """Resource: some element matches; NotResource: none does; neither: every resource."""
    element = statement.resource if statement.resource is not None else statement.not_resource
    if element is None:
        return True
    hit = False
    for value in element.values:
        if is_variable_element(value, version):
            hit = context[resource_variable_key(value, version)]
        else:
            hit = resource_matches(value, resource)
        if hit:
            break
    return not hit if statement.not_resource is not None else hit


def statement_matches(
    statement: Statement, action: str, resource: str, version: str, context: Context
) -> bool:
    """Do the action, resource, principal and condition of ``statement`` all hold?"""
    if not action_element_matches(statement, action):
        return False
    if not resource_element_matches(statement, resource, version, context):
        return False
    key = principal_key(statement)
    if key is not None and not context[key]:
        return False
    return statement.condition is None or condition_holds(statement.condition, version, context)


def evaluate(policy: Policy | None, action: str, resource: str, context: Context) -> Decision:
    """Evaluate one request against ``policy`` (None: a detached policy, allowing nothing)."""
    if policy is None:
        return Decision(False)
    version = policy.effective_version
    allows: list[int] = []
    denies: list[int] = []
    for i, st in enumerate(policy.statements):
        if statement_matches(st, action, resource, version, context):
            (allows if st.is_allow else denies).append(i)
    return Decision(bool(allows) and not denies, allows, denies)


def atom_keys(policy: Policy | None) -> list[str]:
    """Every context key that evaluating ``policy`` may read, in order of appearance."""
    if policy is None:
        return []
    version = policy.effective_version
    keys: dict[str, None] = {}
    for st in policy.statements:
        element = st.resource if st.resource is not None else st.not_resource
        for value in element.values if element is not None else []:
            if is_variable_element(value, version):
                keys[resource_variable_key(value, version)] = None
        pk = principal_key(st)
        if pk is not None:
            keys[pk] = None
        if st.condition is not None:
            keys[condition_key(st.condition, version)] = None
    return list(keys)


# --- enumerating judges (for differential tests) ------------------------------


@dataclass(frozen=True)
class Violation:
    """A request on which a judged property fails (``request``: in concrete mode only)."""

    kind: str
    action: str
    resource: str
    context: dict[str, bool]
    request: dict[str, list[str]] | None = None


def _assignments(names: Sequence[str]) -> Iterator[dict[str, bool]]:
    for values in itertools.product((False, True), repeat=len(names)):
        yield dict(zip(names, values, strict=True))


def contexts(policies: Iterable[Policy | None]) -> Iterator[dict[str, bool]]:
    """Every truth assignment of the opaque atoms of ``policies`` (2**n of them)."""
    keys: dict[str, None] = {}
    for p in policies:
        keys.update(dict.fromkeys(atom_keys(p)))
    yield from _assignments(list(keys))


def request_context(
    policies: Iterable[Policy | None], resource: str, request: Request
) -> dict[str, bool]:
    """The condition and variable-resource atoms of ``policies`` on a concrete request:
    each block by :func:`iamrefine.conditions.concrete.condition_holds`, each Resource
    element with a policy variable by :func:`~iamrefine.conditions.concrete.resource_holds`
    on ``resource``. Principal atoms are not included."""
    chosen = list(policies)
    return {
        **condition_context(chosen, request),
        **resource_variable_context(chosen, resource, request),
    }


def condition_context(policies: Iterable[Policy | None], request: Request) -> dict[str, bool]:
    """The condition-block atoms of ``policies`` on a concrete request (no resource is
    involved, so a judge computes them once per request)."""
    ctx: dict[str, bool] = {}
    for policy in policies:
        if policy is None:
            continue
        version = policy.effective_version
        for st in policy.statements:
            if st.condition is not None:
                holds = concrete.condition_holds(st.condition, version, request)
                ctx[condition_key(st.condition, version)] = holds
    return ctx


def resource_variable_context(
    policies: Iterable[Policy | None], resource: str, request: Request
) -> dict[str, bool]:
    """The atoms of the Resource elements of ``policies`` that hold a policy variable,
    on ``resource`` and a concrete request."""
    expanded = _variable_elements(policies, request)
    return {key: concrete.resource_chars_match(chars, resource) for key, chars in expanded}


def _variable_elements(
    policies: Iterable[Policy | None], request: Request
) -> list[tuple[str, concrete.ResourceChars]]:
    """Each Resource element of ``policies`` with a policy variable: its atom key and
    its characters once ``request`` is substituted (the same for every resource)."""
    out: dict[str, concrete.ResourceChars] = {}
    for policy in policies:
        if policy is None:
            continue
        version = policy.effective_version
        for st in policy.statements:
            element = st.resource if st.resource is not None else st.not_resource
            for value in element.values if element is not None else []:
                key = resource_variable_key(value, version)
                if key not in out and is_variable_element(value, version):
                    out[key] = concrete.resource_element_chars(value, request)
    return list(out.items())


_World = tuple[dict[str, bool], dict[str, list[str]] | None, Sequence[str]]


def _worlds(
    policies: list[Policy | None], resources: Sequence[str], requests: Iterable[Request] | None
) -> Iterator[_World]:
    """``(context, request, resources)`` groups to judge every action on. Opaque mode
    (``requests`` None): each atom assignment with all resources. Concrete mode: per
    resource, each distinct context that a request and a principal assignment give."""
    if requests is None:
        for ctx in contexts(policies):
            yield ctx, None, resources
        return
    pool = [{k: list(v) for k, v in r.items()} for r in requests]
    found = (principal_key(st) for p in policies if p is not None for st in p.statements)
    keys = list(dict.fromkeys(k for k in found if k is not None))
    conditions = [condition_context(policies, request) for request in pool]
    elements = [_variable_elements(policies, request) for request in pool]
    for resource in resources:
        seen: set[tuple[tuple[str, bool], ...]] = set()
        for request, held, expanded in zip(pool, conditions, elements, strict=True):
            variables = {k: concrete.resource_chars_match(c, resource) for k, c in expanded}
            base = {**held, **variables}
            for who in _assignments(keys):
                ctx = {**base, **who}
                signature = tuple(sorted(ctx.items()))
                if signature not in seen:
                    seen.add(signature)
                    yield ctx, request, [resource]


def judge_refinement(
    original: Policy,
    refined: Policy | None,
    unused: Iterable[str],
    actions: Iterable[str],
    resources: Sequence[str],
    requests: Iterable[Request] | None = None,
) -> Violation | None:
    """Check ``refined(a,r,c) <=> original(a,r,c) and a not in unused`` for every
    action in ``actions`` x resource in ``resources`` x atom assignment (concrete mode,
    with ``requests``: x each request's atoms x principal assignment; an empty list
    judges nothing, ``[{}]`` is the request without keys); return the first violation
    (kind ``over`` or ``under``), or None."""
    dead = {ascii_lower(a) for a in unused}
    acts = list(actions)
    for ctx, request, group in _worlds([original, refined], resources, requests):
        for action in acts:
            for resource in group:
                want = evaluate(original, action, resource, ctx).allowed
                want = want and ascii_lower(action) not in dead
                got = evaluate(refined, action, resource, ctx).allowed
                if got != want:
                    return Violation("over" if got else "under", action, resource, ctx, request)
    return None


def judge_containment(
    sub: Policy | None,
    sup: Policy | None,
    actions: Iterable[str],
    resources: Sequence[str],
    requests: Iterable[Request] | None = None,
) -> Violation | None:
    """Check ``sub(a,r,c) => sup(a,r,c)`` over the given actions and resources and every
    atom assignment (with ``requests``: as in :func:`judge_refinement`); return the first
    violation (kind ``escalation``), or None."""
    acts = list(actions)
    for ctx, request, group in _worlds([sub, sup], resources, requests):
        for action in acts:
            for resource in group:
                if (
                    evaluate(sub, action, resource, ctx).allowed
                    and not evaluate(sup, action, resource, ctx).allowed
                ):
                    return Violation("escalation", action, resource, ctx, request)
    return None
