"""The encoder: regexes against the concrete matcher, affixes, the class partition."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from iamrefine import reference
from iamrefine.catalog import Catalog
from iamrefine.encode import (
    CatalogIndex,
    Encoder,
    build_partition,
    common_affixes,
    compatible,
    compile_policy,
    literal_suffix,
    lower_pattern,
    service_key,
)
from iamrefine.glob import (
    action_matches,
    ascii_lower,
    compile_glob,
    literal_prefix,
    resource_matches,
)
from iamrefine.model import Policy, Statement, ValueList
from iamrefine.parse import policy_from_json
from iamrefine.reference import action_element_matches
from iamrefine.solver import new_context, string_value

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None)

# Small alphabets make collisions between patterns and strings likely; `[`, `]`, `\`
# and non-ASCII letters check that nothing is read as regex syntax or an escape.
PATTERN_CHARS = st.sampled_from(list("ab:A*?*[]\\é"))
STRING_CHARS = st.sampled_from(list("abAB:[]\\é\u212a"))
patterns = st.text(PATTERN_CHARS, max_size=7)
strings = st.text(STRING_CHARS, max_size=7)

CTX = new_context()


def member(enc: Encoder, text: str, rx: z3.ReRef | None) -> bool:
    """Z3's own verdict on ``text in rx``, through its rewriter."""
    if rx is None:
        return False
    got = z3.simplify(z3.InRe(string_value(text, enc.ctx), rx))
    assert z3.is_true(got) or z3.is_false(got), got
    return z3.is_true(got)


@SETTINGS
@given(patterns, strings)
def test_action_regex_agrees_with_the_concrete_matcher(pattern: str, text: str) -> None:
    enc = Encoder(CTX)
    rx = enc.action_regex([lower_pattern(pattern)])
    assert member(enc, ascii_lower(text), rx) == action_matches(pattern, text)


@SETTINGS
@given(patterns, strings)
def test_resource_regex_agrees_with_the_concrete_matcher(pattern: str, text: str) -> None:
    # Resource globs follow the ARN segment rule in the encoder and in the matcher.
    enc = Encoder(CTX)
    assert member(enc, text, enc.resource_regex(pattern)) == resource_matches(pattern, text)


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=6), strings)
def test_trie_union_is_the_union(pats: list[str], text: str) -> None:
    # The trie union is the plain glob (action patterns, lowered by the caller).
    enc = Encoder(CTX)
    rx = enc.glob_union(pats)
    plain = [compile_glob(p, fold_case=False) for p in pats]
    assert member(enc, text, rx) == any(g.fullmatch(text) is not None for g in plain)


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=5), strings)
def test_affix_stripping_preserves_membership(pats: list[str], text: str) -> None:
    lowered = [lower_pattern(p) for p in pats]
    head, tail = common_affixes(lowered)
    for p in lowered:
        assert literal_prefix(p).startswith(head)
        assert literal_suffix(p).endswith(tail)
    enc = Encoder(CTX, affixes=(head, tail))
    full = head + ascii_lower(text) + tail
    for p in lowered:
        assert member(enc, ascii_lower(text), enc.action_regex([p])) == action_matches(p, full)


def test_affixes_never_overlap_in_a_literal_pattern() -> None:
    assert common_affixes(["ab", "a*b"]) == ("a", "b")
    assert common_affixes(["aba", "a*a"]) == ("a", "a")
    assert common_affixes(["aa", "a*a"]) == ("a", "a")
    assert common_affixes(["a", "a*a"]) == ("a", "")
    assert common_affixes(["s3:getobject", "s3:get*"]) == ("s3:get", "")
    assert common_affixes([]) == ("", "")


def test_service_keys_and_compatibility() -> None:
    assert service_key("s3:get*") == "s3:"
    assert service_key("s3*") == "s3"
    assert service_key("*") == ""
    assert compatible("s3:", "s3:get")
    assert compatible("s3", "s3-outposts:")
    assert not compatible("s3:", "s3-outposts:")
    assert compatible("", "anything")


NAMES = ["a:x", "a:xy", "a:yx", "a:y", "b:x", "b:xa", "ab:x", "a:"[:2] + "z"]


def test_partition_classes_cover_the_catalog_once_and_agree_with_the_matcher() -> None:
    catalog = Catalog.from_names(NAMES, source="test")
    orig = policy_from_json(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["a:x*", "B:*"], "Resource": "*"},
                {"Effect": "Deny", "NotAction": "a:*", "Resource": "*"},
                {"Effect": "Allow", "Action": "*:?x", "Resource": "arn:r"},
            ],
        }
    )
    new = policy_from_json(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "a:X", "Resource": "*"}],
        }
    )
    unused = frozenset({"a:xy", "b:x"})
    part = build_partition(catalog, [compile_policy(orig), compile_policy(new)], ["o", "n"], unused)
    seen = [m for c in part.classes for m in c.members]
    assert sorted(seen) == sorted(catalog.lower_names)
    sigs = set()
    for c in part.classes:
        sig = (c.matches, c.unused)
        assert sig not in sigs
        sigs.add(sig)
        for m in c.members:
            for pi, pol in enumerate([orig, new]):
                want = {i for i, s in enumerate(pol.statements) if action_element_matches(s, m)}
                assert c.matches[pi] == want
            assert c.unused == (m in unused)
    js = part.to_json(catalog)
    assert js[0]["signature"].keys() == {"o", "n", "unused"}
    assert part.width >= 1


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=4), st.booleans())
def test_partition_matches_agree_with_the_matcher_on_random_patterns(
    pats: list[str], not_action: bool
) -> None:
    catalog = Catalog.from_names(
        ["a:ab", "a:b", "a:ba", "a:", "b:a", "ab:a", "a:[a]", "a:\\", "a:é"], source="t"
    )
    # Built directly: the parser would reject patterns without a service prefix.
    element = ValueList(values=pats, is_list=True)
    statement = Statement(
        effect="Allow",
        action=None if not_action else element,
        not_action=element if not_action else None,
        resource=ValueList(values=["*"], is_list=False),
        keys=["Effect", "NotAction" if not_action else "Action", "Resource"],
    )
    pol = Policy(version="2012-10-17", statements=[statement], keys=["Version", "Statement"])
    part = build_partition(catalog, [compile_policy(pol)], ["p"])
    for c in part.classes:
        for m in c.members:
            assert (0 in c.matches[0]) == action_element_matches(pol.statements[0], m)


# --- terms against the reference evaluator ---------------------------------------------

USER_PREFIX = {"StringEquals": {"s3:prefix": "${aws:username}"}}
ROOT_PRINCIPAL = {"AWS": "arn:aws:iam::1:root"}
EXACT = "arn:aws:s3:::b/exact"
GLOB = "arn:aws:s3:::g/*/x?z"
HOME = "arn:aws:s3:::home/${aws:username}"
# Every kind of resource element (literal, prefix, glob, variable, none, NotResource),
# a NotAction, a Principal, a NotPrincipal, a variable condition shared by two statements,
# a frame shared by two statements and a glob shared by two frames.
TERM_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:Get*", "s3:List?ucket"],
            "Resource": [EXACT, "arn:aws:s3:::p/*", GLOB, HOME],
        },
        {"Effect": "Deny", "NotAction": "s3:Get*", "Resource": "*", "Condition": USER_PREFIX},
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::2:root"], "Service": "x.amazonaws.com"},
            "Action": "s3:PutObject",
            "NotResource": "arn:aws:s3:::p/*",
        },
        {
            "Effect": "Deny",
            "NotPrincipal": ROOT_PRINCIPAL,
            "Action": "s3:GetObject",
            "Resource": GLOB,
            "Condition": USER_PREFIX,
        },
        {"Effect": "Allow", "Principal": "*", "Action": "s3:DeleteObject"},
        {
            "Effect": "Allow",
            "Action": "s3:PutObjectAcl",
            "Resource": [HOME, GLOB, "arn:aws:s3:::p/*", EXACT],
        },
    ],
}
TERM_ACTIONS = [
    "s3:GetObject",
    "S3:listbucket",
    "s3:ListBuckets",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:DeleteObject",
]
TERM_RESOURCES = [
    EXACT,
    EXACT + "x",
    "arn:aws:s3:::p/k",
    "arn:aws:s3:::g/a/b/xyz",
    "arn:aws:s3:::g/a/xz",
    "arn:aws:s3:::home/alice",
]


def assert_terms_agree_with_the_reference(
    doc: dict[str, Any], actions: list[str], resources: list[str]
) -> None:
    """The encoder's decision term, with the action, the resource and every atom made
    concrete, simplifies to the reference evaluator's decision on the same request."""
    pol = policy_from_json(doc)
    enc = Encoder(new_context())
    term = enc.allowed(compile_policy(pol), enc.statement_action)
    keys = reference.atom_keys(pol)
    assert set(enc.atoms) == set(keys)
    for values in itertools.product((False, True), repeat=len(keys)):
        ctx = dict(zip(keys, values, strict=True))
        atoms = [(enc.atoms[k], z3.BoolVal(v, enc.ctx)) for k, v in ctx.items()]
        for action in actions:
            for resource in resources:
                concrete = z3.substitute(
                    term,
                    (enc.action, string_value(ascii_lower(action), enc.ctx)),
                    (enc.resource, string_value(resource, enc.ctx)),
                    *atoms,
                )
                got = z3.simplify(concrete)
                assert z3.is_true(got) or z3.is_false(got), got
                want = reference.evaluate(pol, action, resource, ctx).allowed
                assert z3.is_true(got) == want, (action, resource, ctx)


def test_decision_terms_agree_with_the_reference() -> None:
    assert_terms_agree_with_the_reference(TERM_POLICY, TERM_ACTIONS, TERM_RESOURCES)


def test_decision_terms_read_variables_as_text_under_2008() -> None:
    doc = {**TERM_POLICY, "Version": "2008-10-17"}
    resources = [*TERM_RESOURCES, HOME, "arn:aws:s3:::home/$"]
    assert_terms_agree_with_the_reference(doc, TERM_ACTIONS[:3], resources)


def test_atom_names_map_back_to_their_keys() -> None:
    pol = policy_from_json(TERM_POLICY)
    enc = Encoder(new_context(), affixes=("s3:", "object"))
    enc.allowed(compile_policy(pol), lambda st: enc.true)
    assert enc.atom_names == {str(v): k for k, v in enc.atoms.items()}
    assert enc.atom("another", "cond") is enc.atom("another", "cond")
    lines = enc.comments()
    assert lines[0] == 'the action is "s3:" ++ `action` ++ "object"'
    assert lines[1:] == [f"{name} = {json.dumps(key)}" for name, key in enc.atom_names.items()]
    assert Encoder(new_context(), affixes=("s3:", "")).comments()[0].endswith('++ ""')
    assert Encoder(new_context()).comments() == []


def test_opaque_resources_are_atoms_except_star() -> None:
    pol = policy_from_json(TERM_POLICY)
    enc = Encoder(new_context(), opaque_resources=True)
    frame = compile_policy(pol)[0].frame
    enc.resource_match(frame)
    assert set(enc.atoms) == {
        f"resource-element {t}" for t in (EXACT, "arn:aws:s3:::p/*", GLOB)
    } | {reference.resource_variable_key(HOME, "2012-10-17")}
    assert enc.resource_match(compile_policy(pol)[1].frame) is enc.true


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("a*bc", "axbc"),
        ("a*bc", "abc"),
        ("a*bc", "axbXc"),
        ("*ab?cd", "xabzcd"),
        ("a?bc", "azbc"),
        ("*", ""),
        ("a*", "a"),
    ],
)
def test_literal_runs_after_a_wildcard(pattern: str, text: str) -> None:
    enc = Encoder(CTX)
    assert member(enc, text, enc.glob_union([pattern])) == resource_matches(pattern, text)
    # The second call is served from the regex cache.
    assert member(enc, text, enc.glob_union([pattern])) == resource_matches(pattern, text)


def test_service_key_stops_at_the_first_colon() -> None:
    assert service_key("s3:get:x*") == "s3:"
    assert service_key(":a*") == ":"


def test_affixes_keep_the_longest_suffix_that_fits() -> None:
    assert common_affixes(["ab", "a*ab"]) == ("a", "b")


@pytest.mark.parametrize(
    ("affixes", "pattern"),
    [(("a:", "x"), "b:*x"), (("a:", "x"), "a:*y"), (("a:x", "x"), "a:x")],
)
def test_patterns_outside_the_affixes_are_refused(affixes: tuple[str, str], pattern: str) -> None:
    enc = Encoder(CTX, affixes=affixes)
    with pytest.raises(ValueError, match=f"pattern `{re.escape(pattern)}` is not"):
        enc.action_regex([pattern])


def test_a_literal_pattern_may_be_exactly_the_affixes() -> None:
    enc = Encoder(CTX, affixes=("a:", "x"))
    assert member(enc, "", enc.action_regex(["a:x"]))


INDEX_NAMES = ["A:x", "a:xy", "a:yx", "a:y", "b:x", "b:xa", "ab:x", "a:X?"]
INDEX_PATTERNS = ["a:x", "a:q", "a:*", "b:*", "a:?", "a:*x", "b:x?", "*x", "*", "a:x?"]


def test_a_fresh_catalog_index_agrees_with_the_matcher() -> None:
    # A fresh index each time: `catalog_index` caches indexes across tests by digest.
    catalog = Catalog.from_names(INDEX_NAMES, source="test")
    index = CatalogIndex(catalog)
    assert index.names == tuple(sorted(index.names))
    for _ in range(2):  # the second round is served from the cache
        for pattern in INDEX_PATTERNS:
            got = [index.names[i] for i in index.matching(pattern)]
            assert got == [n for n in index.names if action_matches(pattern, n)], pattern


def test_partition_terms_follow_the_classes() -> None:
    catalog = Catalog.from_names(INDEX_NAMES, source="test")
    pol = policy_from_json(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "a:x*", "Resource": "*"},
                {"Effect": "Allow", "NotAction": "b:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ab:*", "Resource": "*"},
            ],
        }
    )
    stmts = compile_policy(pol)
    part = build_partition(catalog, [stmts], ["p"], frozenset({"b:x"}), index=CatalogIndex(catalog))
    assert len(part) == 5 and part.width == 3
    assert part.to_json(catalog)[0]["members"] == ["A:x", "a:X?", "a:xy"]
    enc = Encoder(new_context())
    # The class-domain term is built first, so it creates the class symbol.
    domain = enc.class_domain(part)
    tail = enc.class_domain(part, range(1, len(part)))
    action_of = enc.class_action(part, 0)
    unused = enc.unused_class(part)
    k = enc.class_index(part)
    for value in range(1 << part.width):

        def at(term: z3.BoolRef, value: int = value) -> bool:
            got = z3.simplify(z3.substitute(term, (k, z3.BitVecVal(value, part.width, enc.ctx))))
            assert z3.is_true(got) or z3.is_false(got)
            return z3.is_true(got)

        assert at(domain) == (value < len(part))
        assert at(tail) == (0 < value < len(part))
        if value < len(part):
            c = part.classes[value]
            assert [at(action_of(st)) for st in stmts] == [st.index in c.matches[0] for st in stmts]
            assert at(unused) == c.unused


def test_frames_of_two_versions_stay_apart() -> None:
    # The same condition text under two versions: frames must not share a cached term.
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": USER_PREFIX}
    new = policy_from_json({"Version": "2012-10-17", "Statement": [statement]})
    old = policy_from_json({"Version": "2008-10-17", "Statement": [statement]})
    enc = Encoder(new_context())
    terms = [enc.frame(compile_policy(p)[0]) for p in (new, old)]
    assert not terms[0].eq(terms[1])
    assert set(enc.atoms) == {*reference.atom_keys(new), *reference.atom_keys(old)}
