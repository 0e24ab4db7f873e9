"""The encoder: regexes against the concrete matcher, affixes, the class partition."""

from __future__ import annotations

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from iamrefine.catalog import Catalog
from iamrefine.encode import (
    Encoder,
    build_partition,
    common_affixes,
    compatible,
    compile_policy,
    literal_suffix,
    lower_pattern,
    service_key,
)
from iamrefine.glob import action_matches, ascii_lower, literal_prefix, resource_matches
from iamrefine.model import Policy, Statement, ValueList
from iamrefine.parse import policy_from_json
from iamrefine.reference import action_element_matches
from iamrefine.solver import new_context, string_of, string_value

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
    enc = Encoder(CTX)
    assert member(enc, text, enc.glob_union([pattern])) == resource_matches(pattern, text)


@SETTINGS
@given(st.lists(patterns, min_size=1, max_size=6), strings)
def test_trie_union_is_the_union(pats: list[str], text: str) -> None:
    enc = Encoder(CTX)
    rx = enc.glob_union(pats)
    assert member(enc, text, rx) == any(resource_matches(p, text) for p in pats)


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


@SETTINGS
@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x2FFFF), max_size=12))
def test_string_values_round_trip_by_code_point(text: str) -> None:
    v = string_value(text, CTX)
    assert string_of(z3.simplify(v)) == text


def test_string_values_do_not_read_escapes() -> None:
    # z3.StringVal would read `\u{41}` as `A`.
    assert string_of(string_value("x\\u{41}y", CTX)) == "x\\u{41}y"


NAMES = ["a:x", "a:xy", "a:yx", "a:y", "b:x", "b:xa", "ab:x", "a:"[:2] + "z"]


def test_partition_classes_cover_the_catalog_once_and_agree_with_the_matcher() -> None:
    catalog = Catalog.from_names(NAMES, source="test")
    orig = policy_from_json(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["a:x*", "B:*"], "Resource": "*"},
                {"Effect": "Deny", "NotAction": "a:*", "Resource": "*"},
                {"Effect": "Allow", "Action": "*:?x", "Resource": "r"},
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
