"""Hypothesis generators of small catalogs, policies, unused sets and candidate refinements,
shared by the fuzz targets, the differential, metamorphic and mutation-kill tests.

Everything is drawn from small fixed vocabularies, so that an enumerating judge can
decide each case exactly:

* action names come from :data:`UNIVERSE` (CamelCase words, an action that is a prefix
  of others, a hyphenated service), and patterns are cut from those names (exact,
  ``L*``, ``L*R``, ``?``, ``svc:*``, ``*:L*``, ``*``, names outside the catalog, case
  changes);
* resource elements come from :data:`RESOURCES`, and :data:`SAMPLE_RESOURCES` holds
  one resource for every combination of those globs that some string matches (checked
  by ``tests/test_differential.py``), so enumerating the samples covers every resource;
* conditions come from :data:`CONDITIONS`, each over keys of its own, so every
  combination of their truth values is realizable; the judges below run the reference
  judges in concrete mode on :func:`request_pool`, which realizes each combination of
  the conditions and the policy-variable resource element.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from hypothesis import strategies as st

from iamrefine.catalog import Catalog
from iamrefine.glob import ascii_lower, literal_prefix
from iamrefine.model import VERSION_2012, Policy
from iamrefine.parse import policy_from_json
from iamrefine.unused import UnusedSet

UNIVERSE: tuple[str, ...] = (
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectTagging",
    "s3:GetBucketAcl",
    "s3:GetBucketPolicy",
    "s3:ListBucket",
    "s3:ListAllMyBuckets",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:DeleteObject",
    "ec2:DescribeInstances",
    "ec2:DescribeImages",
    "ec2:RunInstances",
    "ec2:StartInstances",
    "iam:GetUser",
    "iam:GetRole",
    "iam:ListUsers",
    "iam:PassRole",
    "sqs:Send",
    "sqs:SendMessage",
    "sqs:SendMessageBatch",
    "vpc-lattice:GetService",
    "vpc-lattice:GetServiceNetwork",
)
"""Action names the generated catalogs are drawn from."""

FOREIGN_PATTERNS: tuple[str, ...] = (
    "newsvc:Get*",
    "newsvc:*",
    "s3:GetObjectFoo",
    "s3:Get*Foo",
    "ec2:Describe*Zone",
    "iam:Get?ser",
)
"""Patterns that name actions outside any generated catalog (or only some of it)."""

VARIABLE_RESOURCE = "arn:aws:s3:::home/${aws:username}/*"
RESOURCES: tuple[str, ...] = (
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/x",
    "arn:aws:s3:::b/?",
    "arn:aws:s3:::c*",
    "arn:aws:s3:::c*:d",
    VARIABLE_RESOURCE,
)
"""Resource elements of generated statements. Under Version 2012-10-17 the last one holds
a policy variable; under 2008-10-17 it is a literal glob."""

SAMPLE_RESOURCES: tuple[str, ...] = (
    "arn:aws:s3:::b/x",
    "arn:aws:s3:::b/y",
    "arn:aws:s3:::b/xy",
    "arn:aws:s3:::c",
    "arn:aws:s3:::cz",
    "arn:aws:s3:::d",
    "arn:aws:s3:::home/${aws:username}/f",
    "arn:aws:s3:::home/alice/f",
    "arn:aws:s3:::c:d",
    "arn:aws:s3:::cx:d",
    "arn:aws:s3:::c/:d",
    "arn:aws:s3:::c:x:d",
)
"""One resource per region of :data:`RESOURCES` (each set of globs that some string
matches and the others do not)."""

CONDITIONS: tuple[dict[str, Any], ...] = (
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}},
    {"Bool": {"aws:PrincipalTag/admin": ["true", "false"]}},
    {"NumericLessThan": {"s3:max-keys": "10.0"}},
    {"StringEquals": {"aws:TagKeys": "Owner"}, "StringLike": {"AWS:TAGKEYS": "Proj*"}},
    {"StringEquals": {"aws:userid": "u1", "AWS:USERID": "u2"}},
)
"""Condition blocks of generated statements, each over keys of its own. The adversarial
ones: a Bool over both values (false for a malformed value), a number written with a
fraction, two entries on one multi-valued key that no set operator reads (true only for
two values), and two spellings of one key (an AND that never holds)."""

MALFORMED = "n/a"
"""A request value that is no Boolean, number, date or address."""


def number_spellings(text: str) -> list[str]:
    """Other lexical forms of the number ``text`` (none when it is no plain decimal)."""
    m = re.fullmatch(r"([+-]?)(\d+)(?:\.(\d*))?", text)
    if m is None:
        return []
    sign, whole, frac = m.group(1), m.group(2), (m.group(3) or "").rstrip("0")
    base = whole.lstrip("0") or "0"
    body = f"{base}.{frac}" if frac else base
    forms = {f"{sign}{body}", f"{sign}0{body}", f"{sign}{body}{'' if frac else '.'}00"}
    if sign != "-":
        forms.add(f"+{body}")
    return sorted(forms - {text})


VERSIONS = ("2012-10-17", "2008-10-17")

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Patterns, statements, policies. Strategies are built once and cached: building one
# inside every draw costs hypothesis more than the draw itself.


@cache
def _below(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


@cache
def _between(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def pick(draw: st.DrawFn, items: Sequence[T]) -> T:
    """One of ``items`` (shrinking towards the first)."""
    return items[draw(_below(len(items)))]


def flip_case(text: str, mask: Iterable[bool]) -> str:
    """``text`` with the case of the letters at the masked positions swapped."""
    return "".join(c.swapcase() if m else c for c, m in zip(text, mask, strict=False))


_PATTERN_KINDS = (
    "prefix",
    "exact",
    "prefix",
    "infix",
    "question",
    "exact",
    "service",
    "any-service",
    "prefix",
    "star",
    "foreign",
)


@st.composite
def action_patterns(draw: st.DrawFn, names: tuple[str, ...]) -> str:
    """One action pattern cut from ``names`` (or a foreign one), sometimes re-cased."""
    kind = pick(draw, _PATTERN_KINDS)
    name = pick(draw, names)
    service, _, action = name.partition(":")
    if kind == "exact":
        pattern = name
    elif kind == "prefix":
        k = draw(_between(0, len(action)))
        pattern = f"{service}:{action[:k]}*"
    elif kind == "infix":
        i = draw(_between(0, len(action)))
        j = draw(_between(i, len(action)))
        pattern = f"{service}:{action[:i]}*{action[j:]}"
    elif kind == "question":
        i = draw(_below(len(action)))
        tail = pick(draw, ("", "*"))
        pattern = f"{service}:{action[:i]}?{action[i + 1 :]}{tail}"
    elif kind == "service":
        pattern = f"{service}:*"
    elif kind == "any-service":
        k = draw(_between(0, min(len(action), 6)))
        pattern = f"*:{action[:k]}*"
    elif kind == "star":
        pattern = "*"
    else:
        pattern = pick(draw, FOREIGN_PATTERNS)
    if draw(_below(5)) == 0:
        bits = draw(_below(1 << len(pattern)))
        pattern = flip_case(pattern, (bool(bits >> i & 1) for i in range(len(pattern))))
    return pattern


@st.composite
def statements(
    draw: st.DrawFn, names: tuple[str, ...], *, effect: str | None = None
) -> dict[str, Any]:
    """One statement as JSON: Allow (mostly) or Deny, Action or NotAction, Resource or
    NotResource from :data:`RESOURCES`, and sometimes a condition from :data:`CONDITIONS`."""
    out: dict[str, Any] = {}
    if draw(_below(6)) == 0:
        out["Sid"] = pick(draw, ("A", "B", "Read", "s1"))
    out["Effect"] = effect or pick(draw, ("Allow", "Allow", "Allow", "Deny"))
    patterns = [draw(action_patterns(names)) for _ in range(1 + draw(_below(3)))]
    key = "NotAction" if draw(_below(7)) == 0 else "Action"
    out[key] = patterns if len(patterns) > 1 or draw(_below(2)) else patterns[0]
    first = draw(_below(len(RESOURCES)))
    resources = [RESOURCES[first]]
    if draw(_below(3)) == 0:
        second = RESOURCES[draw(_below(len(RESOURCES)))]
        if second not in resources:
            resources.append(second)
    rkey = "NotResource" if draw(_below(9)) == 0 else "Resource"
    out[rkey] = resources if len(resources) > 1 or draw(_below(2)) else resources[0]
    if draw(_below(4)) == 0:
        out["Condition"] = copy.deepcopy(pick(draw, CONDITIONS))
    return out


@st.composite
def policy_documents(
    draw: st.DrawFn, names: tuple[str, ...], *, max_statements: int = 3
) -> dict[str, Any]:
    """A policy document as JSON, with at least one Allow statement."""
    stmts = [draw(statements(names, effect="Allow"))]
    stmts += [draw(statements(names)) for _ in range(draw(_below(max_statements)))]
    at = draw(_below(len(stmts)))
    stmts.insert(at, stmts.pop(0))
    sids: set[str] = set()
    for stmt in stmts:  # IAM refuses a policy that uses a Sid twice
        if stmt.get("Sid") in sids:
            del stmt["Sid"]
        elif "Sid" in stmt:
            sids.add(stmt["Sid"])
    return {"Version": pick(draw, VERSIONS), "Statement": stmts}


def to_policy(document: dict[str, Any], source: str = "<generated>") -> Policy:
    """Parse a generated document (through the real validator)."""
    return policy_from_json(copy.deepcopy(document), source)


# ---------------------------------------------------------------------------
# Whole cases.


@dataclass
class Case:
    """A catalog, an original policy and an unused set."""

    names: tuple[str, ...]
    document: dict[str, Any]
    unused_names: tuple[str, ...]
    catalog: Catalog = field(init=False)
    policy: Policy = field(init=False)
    unused: UnusedSet = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = Catalog.from_names(self.names, source="generated")
        self.policy = to_policy(self.document)
        self.unused = UnusedSet.from_names(list(self.unused_names), self.catalog)

    def describe(self) -> str:
        """The case as JSON text, for failure messages."""
        return json.dumps(
            {"catalog": self.names, "policy": self.document, "unused": self.unused_names}
        )


@st.composite
def cases(draw: st.DrawFn, *, max_statements: int = 3) -> Case:
    """A catalog (4 to all of :data:`UNIVERSE`), a policy over it and an unused set."""
    names = tuple(sorted(draw(_CATALOG_NAMES)))
    document = draw(policy_documents(names, max_statements=max_statements))
    # Each action is unused with probability 1/4 (two random masks ANDed).
    bits = draw(_below(1 << len(names))) & draw(_below(1 << len(names)))
    unused = tuple(n for i, n in enumerate(names) if bits >> i & 1)
    return Case(names, document, unused)


_CATALOG_NAMES = st.sets(st.sampled_from(UNIVERSE), min_size=4)


# ---------------------------------------------------------------------------
# Mutations of a refined policy document.

Mutation = Callable[[dict[str, Any], Case, Any], "dict[str, Any] | None"]


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    stmts = doc["Statement"]
    return stmts if isinstance(stmts, list) else [stmts]


def _values(stmt: dict[str, Any], key: str) -> list[str]:
    value = stmt[key]
    return list(value) if isinstance(value, list) else [value]


def _allow_actions(doc: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, s) for i, s in enumerate(_statements(doc)) if s["Effect"] == "Allow" and "Action" in s
    ]


def _with_statements(doc: dict[str, Any], stmts: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["Statement"] = stmts
    return out


def instances(pattern: str, fills: Iterable[str] = ("", "x", "Zq")) -> set[str]:
    """Strings the glob matches: each ``*`` replaced by one fill, each ``?`` by ``x``."""
    return {pattern.replace("*", f).replace("?", "x") for f in fills}


def sample_actions(patterns: Iterable[str], catalog: Catalog) -> list[str]:
    """Action strings for judging "no escalation": every catalog name, instances of every
    pattern (several fills, re-cased), and a few names outside the catalog."""
    out = set(catalog.actions)
    for p in patterns:
        for s in instances(p, ("", "x", "Zq", "Object", "Get")):
            out.update((s, s.upper(), s.lower()))
    out.update(("newsvc:Get", "s3:GetObjectFoo", "x", ":", ""))
    return sorted(out)


def all_patterns(*documents: dict[str, Any] | None) -> list[str]:
    """Every Action and NotAction pattern of the documents."""
    out: list[str] = []
    for doc in documents:
        if doc is None:
            continue
        for s in _statements(doc):
            for key in ("Action", "NotAction"):
                if key in s:
                    out.extend(_values(s, key))
    return out


def kept_actions(case: Case) -> list[str]:
    """Catalog actions that some Allow statement of the original may allow and that are
    not unused (ignoring Deny, resources and conditions): candidates for dropping."""
    from iamrefine.reference import action_element_matches

    dead = case.unused.actions
    return [
        a
        for a in case.catalog.actions
        if ascii_lower(a) not in dead
        and any(s.is_allow and action_element_matches(s, a) for s in case.policy.statements)
    ]


@dataclass(frozen=True)
class MutationKind:
    """A named mutation of a refined document; ``semantic`` says whether it is meant to
    change what the policy allows (it may still turn out equivalent on a given case)."""

    name: str
    semantic: bool
    apply: Callable[[dict[str, Any], Case, st.DrawFn], dict[str, Any] | None]


def _drop_pattern(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    targets = [(i, s) for i, s in _allow_actions(doc) if len(_values(s, "Action")) > 1]
    if not targets:
        return None
    i, s = draw(st.sampled_from(targets))
    values = _values(s, "Action")
    j = draw(st.integers(0, len(values) - 1))
    stmts = copy.deepcopy(_statements(doc))
    stmts[i]["Action"] = values[:j] + values[j + 1 :]
    return _with_statements(doc, stmts)


def _drop_statement(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = _statements(doc)
    if len(stmts) < 2:
        return None
    j = draw(st.integers(0, len(stmts) - 1))
    return _with_statements(doc, [copy.deepcopy(s) for k, s in enumerate(stmts) if k != j])


def _keep_unused(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    targets = _allow_actions(doc)
    if not targets or not case.unused_names:
        return None
    i, s = draw(st.sampled_from(targets))
    name = draw(st.sampled_from(case.unused_names))
    stmts = copy.deepcopy(_statements(doc))
    stmts[i]["Action"] = [*_values(s, "Action"), name]
    return _with_statements(doc, stmts)


def _widen_pattern(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    targets = _allow_actions(doc)
    if not targets:
        return None
    i, s = draw(st.sampled_from(targets))
    values = _values(s, "Action")
    j = draw(st.integers(0, len(values) - 1))
    lit = literal_prefix(values[j])
    service = lit.partition(":")[0]
    wider = draw(st.sampled_from((lit[:-1] + "*", f"{service}:*", lit + "*")))
    if wider == values[j] or ":" not in wider:
        return None
    stmts = copy.deepcopy(_statements(doc))
    stmts[i]["Action"] = [*values[:j], wider, *values[j + 1 :]]
    return _with_statements(doc, stmts)


def _narrow_pattern(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    targets = [
        (i, s) for i, s in _allow_actions(doc) if any("*" in v for v in _values(s, "Action"))
    ]
    if not targets:
        return None
    i, s = draw(st.sampled_from(targets))
    values = _values(s, "Action")
    j = draw(st.sampled_from([k for k, v in enumerate(values) if "*" in v]))
    fill = draw(st.sampled_from(("Object", "Bucket", "Instances", "")))
    stmts = copy.deepcopy(_statements(doc))
    stmts[i]["Action"] = [*values[:j], values[j].replace("*", fill, 1), *values[j + 1 :]]
    return _with_statements(doc, stmts)


def _swap_not_action(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = copy.deepcopy(_statements(doc))
    j = draw(st.integers(0, len(stmts) - 1))
    s = stmts[j]
    old, new = ("Action", "NotAction") if "Action" in s else ("NotAction", "Action")
    rebuilt = {(new if k == old else k): v for k, v in s.items()}
    stmts[j] = rebuilt
    return _with_statements(doc, stmts)


def _flip_effect(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = copy.deepcopy(_statements(doc))
    j = draw(st.integers(0, len(stmts) - 1))
    stmts[j]["Effect"] = "Deny" if stmts[j]["Effect"] == "Allow" else "Allow"
    return _with_statements(doc, stmts)


def _change_resource(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = copy.deepcopy(_statements(doc))
    j = draw(st.integers(0, len(stmts) - 1))
    key = "Resource" if "Resource" in stmts[j] else "NotResource"
    current = set(_values(stmts[j], key))
    other = [r for r in RESOURCES if r not in current]
    stmts[j][key] = draw(st.sampled_from(other))
    return _with_statements(doc, stmts)


def _toggle_condition(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = copy.deepcopy(_statements(doc))
    j = draw(st.integers(0, len(stmts) - 1))
    if "Condition" in stmts[j]:
        del stmts[j]["Condition"]
    else:
        stmts[j]["Condition"] = copy.deepcopy(draw(st.sampled_from(CONDITIONS)))
    return _with_statements(doc, stmts)


def _drop_deny(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = _statements(doc)
    denies = [k for k, s in enumerate(stmts) if s["Effect"] == "Deny"]
    if not denies:
        return None
    j = draw(st.sampled_from(denies))
    return _with_statements(doc, [copy.deepcopy(s) for k, s in enumerate(stmts) if k != j])


def _add_foreign(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    targets = _allow_actions(doc)
    if not targets:
        return None
    i, s = draw(st.sampled_from(targets))
    stmts = copy.deepcopy(_statements(doc))
    stmts[i]["Action"] = [*_values(s, "Action"), draw(st.sampled_from(FOREIGN_PATTERNS))]
    return _with_statements(doc, stmts)


def _drop_kept_name(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    """Replace a pattern that matches a kept action by the exact kept names it matches,
    minus one."""
    from iamrefine.glob import action_matches

    kept = kept_actions(case)
    targets = []
    for i, s in _allow_actions(doc):
        for j, v in enumerate(_values(s, "Action")):
            hits = [a for a in kept if action_matches(v, a)]
            if hits:
                targets.append((i, j, hits))
    if not targets:
        return None
    i, j, hits = draw(st.sampled_from(targets))
    gone = draw(st.sampled_from(hits))
    stmts = copy.deepcopy(_statements(doc))
    values = _values(stmts[i], "Action")
    rest = [h for h in hits if h != gone]
    stmts[i]["Action"] = values[:j] + rest + values[j + 1 :]
    if not stmts[i]["Action"]:
        del stmts[i]
        if not stmts:
            return None
    return _with_statements(doc, stmts)


def _recase(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = copy.deepcopy(_statements(doc))
    j = draw(st.integers(0, len(stmts) - 1))
    key = "Action" if "Action" in stmts[j] else "NotAction"
    stmts[j][key] = [v.swapcase() for v in _values(stmts[j], key)]
    return _with_statements(doc, stmts)


def _reorder(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    stmts = copy.deepcopy(_statements(doc))
    stmts = list(draw(st.permutations(stmts)))
    for s in stmts:
        key = "Action" if "Action" in s else "NotAction"
        s[key] = list(draw(st.permutations(_values(s, key))))
    return _with_statements(doc, stmts)


def _duplicate_pattern(doc: dict[str, Any], case: Case, draw: st.DrawFn) -> dict[str, Any] | None:
    targets = _allow_actions(doc)
    if not targets:
        return None
    i, s = draw(st.sampled_from(targets))
    values = _values(s, "Action")
    stmts = copy.deepcopy(_statements(doc))
    stmts[i]["Action"] = [*values, draw(st.sampled_from(values))]
    return _with_statements(doc, stmts)


MUTATIONS: tuple[MutationKind, ...] = (
    MutationKind("drop a pattern", True, _drop_pattern),
    MutationKind("drop a statement", True, _drop_statement),
    MutationKind("drop one kept action", True, _drop_kept_name),
    MutationKind("keep an unused action", True, _keep_unused),
    MutationKind("widen a pattern", True, _widen_pattern),
    MutationKind("narrow a pattern", True, _narrow_pattern),
    MutationKind("swap Action and NotAction", True, _swap_not_action),
    MutationKind("flip an Effect", True, _flip_effect),
    MutationKind("change a resource", True, _change_resource),
    MutationKind("add or drop a condition", True, _toggle_condition),
    MutationKind("drop a Deny statement", True, _drop_deny),
    MutationKind("add a foreign pattern", True, _add_foreign),
    MutationKind("change the case of patterns", False, _recase),
    MutationKind("reorder statements and patterns", False, _reorder),
    MutationKind("duplicate a pattern", False, _duplicate_pattern),
)
"""Every mutation of a refined document; the last three never change the semantics."""


def valid_document(doc: dict[str, Any] | None) -> bool:
    """Does ``doc`` pass the policy validator (mutations can break a pattern)?"""
    from iamrefine.errors import PolicyError

    if doc is None or not doc["Statement"]:
        return False
    try:
        to_policy(doc)
    except PolicyError:
        return False
    return True


@st.composite
def mutants(
    draw: st.DrawFn, refined: dict[str, Any], case: Case
) -> tuple[MutationKind, dict[str, Any]] | None:
    """A valid mutant of ``refined``: from a drawn mutation, or the next one (in
    :data:`MUTATIONS` order) that applies; None when none does."""
    first = draw(_below(len(MUTATIONS)))
    for k in range(len(MUTATIONS)):
        kind = MUTATIONS[(first + k) % len(MUTATIONS)]
        mutant = kind.apply(refined, case, draw)
        if valid_document(mutant):
            assert mutant is not None
            return kind, mutant
    return None


# ---------------------------------------------------------------------------
# Enumerating judges over concrete requests.

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _glob_regex(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def variable_values(element: str, resource: str) -> dict[str, str]:
    """Values of the policy variables of the Resource ``element`` under which it matches
    ``resource`` (one choice; each occurrence of a variable takes the same value), or {}
    when none makes it match."""
    parts: list[str] = []
    groups: dict[str, str] = {}
    pos = 0
    for m in _VARIABLE.finditer(element):
        parts.append(_glob_regex(element[pos : m.start()]))
        name = m.group(1).strip()
        if name in ("*", "?", "$"):
            parts.append(re.escape(name))
        elif name in groups:
            parts.append(f"(?P={groups[name]})")
        else:
            groups[name] = f"v{len(groups)}"
            parts.append(f"(?P<{groups[name]}>.*)")
        pos = m.end()
    parts.append(_glob_regex(element[pos:]))
    found = re.fullmatch("".join(parts), resource, re.DOTALL)
    return {} if found is None else {name: found.group(g) for name, g in groups.items()}


def request_pool(
    policies: Iterable[Policy | None],
    resources: Iterable[str],
    extra: Iterable[dict[str, list[str]]] = (),
) -> list[dict[str, list[str]]]:
    """Concrete requests for the judges' concrete mode (:mod:`iamrefine.reference`): every
    combination, over the condition keys and the policy variables (Version 2012-10-17) of
    ``policies``, of the key absent, one value no policy names, each value a policy
    compares the key with (its text, read literally), and each value of a variable under
    which a Resource element matches one of ``resources``; then the ``extra`` requests.

    Every request is real, so a violation on the pool is a real one; a violation that
    needs other values can be missed (callers add the checker's counterexample requests).
    For the vocabulary above (conditions over keys of their own, one variable element)
    the pool gives every realizable combination of the atoms."""
    from iamrefine.reference import is_variable_element

    values: dict[str, dict[str, None]] = {}

    def add(key: str, value: str | None = None) -> None:
        spelled = next((k for k in values if ascii_lower(k) == ascii_lower(key)), key)
        slot = values.setdefault(spelled, {})
        if value is not None:
            slot[value] = None

    samples = list(resources)
    for policy in policies:
        if policy is None:
            continue
        version = policy.effective_version
        for st_ in policy.statements:
            for clause in st_.condition.clauses if st_.condition is not None else []:
                for entry in clause.entries:
                    for v in entry.values:
                        text = ("true" if v else "false") if isinstance(v, bool) else str(v)
                        add(entry.key, text)
                        for name in _VARIABLE.findall(text) if version == VERSION_2012 else []:
                            add(name.strip())
            element = st_.resource if st_.resource is not None else st_.not_resource
            for value in element.values if element is not None else []:
                if is_variable_element(value, version):
                    for name in (n.strip() for n in _VARIABLE.findall(value)):
                        add(name)
                    for r in samples:
                        for name, text in variable_values(value, r).items():
                            add(name, text)
    for name in ("*", "?", "$"):
        values.pop(name, None)
    fresh = "~" * (1 + max((len(v) for vs in values.values() for v in vs), default=0))
    keys = list(values)
    variables = {
        ascii_lower(n.strip())
        for p in policies
        if p is not None
        for text in _texts(p)
        for n in _VARIABLE.findall(text)
    }
    choices = [_choices(k, list(values[k]), fresh, single=k.lower() in variables) for k in keys]
    pool = [
        {k: v for k, v in zip(keys, combo, strict=True) if v}
        for combo in itertools.product(*choices)
    ]
    # Each key once more under another spelling: keys match case-insensitively.
    for k in keys:
        for v in values[k]:
            pool.append({k.swapcase(): [v]})
            break
    return pool + [dict(r) for r in extra]


def _texts(policy: Policy) -> list[str]:
    out: list[str] = []
    for st_ in policy.statements:
        element = st_.resource if st_.resource is not None else st_.not_resource
        if element is not None:
            out.extend(element.values)
        for clause in st_.condition.clauses if st_.condition is not None else []:
            for entry in clause.entries:
                out.extend(str(v) for v in entry.values)
    return out


def _choices(key: str, named: list[str], fresh: str, *, single: bool) -> list[list[str]]:
    """The values a request gives ``key`` in the pool: none, one no policy names, each
    named one, other spellings of named numbers, a malformed one, and (unless AWS
    documents the key single-valued or a policy variable names it) two values at once."""
    from iamrefine.conditions.keys import documented_single_valued

    out: list[list[str]] = [[], [fresh], *([v] for v in named)]
    out += [[n] for v in named for n in number_spellings(v)]
    out.append([MALFORMED])
    if not single and not documented_single_valued(key) and named:
        out.append([fresh, named[0]])
        out.extend([a, b] for a, b in itertools.combinations(named, 2))
    return out


def judge_refinement(
    original: Policy,
    refined: Policy | None,
    unused: Iterable[str],
    actions: Iterable[str],
    resources: Iterable[str],
    requests: Iterable[dict[str, list[str]]] = (),
) -> Any:
    """``refined(a,r,c) <=> original(a,r,c) and a not in unused`` over every action, resource
    and request of :func:`request_pool` (with ``requests`` added); the first
    :class:`~iamrefine.reference.Violation`, or None."""
    from iamrefine import reference

    samples = list(resources)
    pool = request_pool([original, refined], samples, requests)
    return reference.judge_refinement(original, refined, unused, actions, samples, pool)


def judge_containment(
    sub: Policy | None,
    sup: Policy | None,
    actions: Iterable[str],
    resources: Iterable[str],
    requests: Iterable[dict[str, list[str]]] = (),
) -> Any:
    """``sub(a,r,c) => sup(a,r,c)`` over every action, resource and request of
    :func:`request_pool` (with ``requests`` added); the first
    :class:`~iamrefine.reference.Violation` (kind ``escalation``), or None."""
    from iamrefine import reference

    samples = list(resources)
    pool = request_pool([sub, sup], samples, requests)
    return reference.judge_containment(sub, sup, actions, samples, pool)
