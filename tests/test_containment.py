"""Containment of wildcard patterns by automaton inclusion, against brute force."""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamrefine.glob import action_matches, compile_glob, normalize
from iamrefine.refine.containment import contains, counterexample

ALPHABET = "ab:"
patterns = st.text(alphabet="ab:*?", max_size=6)


def _strings(max_len: int) -> list[str]:
    # Over "ab:" plus "c", a character in no pattern: it stands for all the others.
    out = [""]
    for n in range(1, max_len + 1):
        out.extend("".join(t) for t in product("ab:c", repeat=n))
    return out


STRINGS = _strings(7)


def _matches(pattern: str, s: str) -> bool:
    """The plain, case-sensitive glob (no ARN segments)."""
    return compile_glob(pattern, fold_case=False).fullmatch(s) is not None


def _brute(outer: str, inner: str) -> str | None:
    for s in STRINGS:
        if _matches(inner, s) and not _matches(outer, s):
            return s
    return None


def _agrees_with_brute_force(outer: str, inner: str) -> None:
    found = _brute(outer, inner)
    witness = counterexample(outer, inner, fold_case=False)
    if found is not None:
        # A brute-force counterexample exists, so the automaton must find one, and no
        # longer than the shortest one.
        assert witness is not None
        assert len(witness) <= len(found)
    if witness is not None:
        # Every witness is checked with the trusted matcher.
        assert _matches(inner, witness)
        assert not _matches(outer, witness)
    else:
        assert found is None


def _case_insensitive_witness(outer: str, inner: str) -> None:
    witness = counterexample(outer, inner)
    if witness is not None:
        assert action_matches(inner, witness)
        assert not action_matches(outer, witness)
    else:
        for s in STRINGS:
            if action_matches(inner, s):
                assert action_matches(outer, s), s


# The default run draws a sample of each property; the slow suite draws the full count.
@settings(max_examples=100, deadline=None)
@given(patterns, patterns)
def test_agrees_with_brute_force(outer: str, inner: str) -> None:
    _agrees_with_brute_force(outer, inner)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(patterns, patterns)
def test_agrees_with_brute_force_600(outer: str, inner: str) -> None:
    _agrees_with_brute_force(outer, inner)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="aB:*?", max_size=6), st.text(alphabet="Ab:*?", max_size=6))
def test_case_insensitive_witnesses(outer: str, inner: str) -> None:
    _case_insensitive_witness(outer, inner)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aB:*?", max_size=6), st.text(alphabet="Ab:*?", max_size=6))
def test_case_insensitive_witnesses_300(outer: str, inner: str) -> None:
    _case_insensitive_witness(outer, inner)


def test_examples() -> None:
    assert contains("s3:Get*", "s3:GetObject*")
    assert contains("s3:Get*", "S3:get*Tagging")
    assert contains("s3:*", "s3:Get*Object*")
    assert contains("ec2:Describe*", "ec2:Describe*Vpc*")
    assert contains("*Stack*", "cloudformation:Create*Stacks")
    assert contains("iam:Get?ser", "iam:GetUser")
    assert contains("s3:*Object", "s3:Get*Object")
    # A future `s3:GetObjectFoo` escapes `s3:*Object`.
    assert counterexample("s3:*Object", "s3:GetObj*") is not None
    assert not contains("s3:Get*", "s3:*Tagging")
    assert not contains("iam:GetUser", "iam:Get?ser")
    assert contains("a*b*c", "a*b*b*c")
    assert not contains("a*b*b*c", "a*b*c")
    assert contains("*", "")
    assert not contains("?*", "")
    assert counterexample("a?", "a*", fold_case=False) == "a"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab:?", max_size=4), patterns)
def test_trailing_star_shortcut_agrees_with_the_automaton(head: str, inner: str) -> None:
    from iamrefine.refine.containment import _search

    outer = head.replace("?", "") + "*"
    expected = _search(normalize(outer), normalize(inner)) is None
    assert contains(outer, inner, fold_case=False) == expected


@settings(max_examples=300, deadline=None)
@given(patterns, st.text(alphabet="ab:", max_size=6))
def test_literal_shortcut_agrees_with_the_automaton(outer: str, inner: str) -> None:
    from iamrefine.refine.containment import _search

    expected = _search(normalize(outer), normalize(inner)) is None
    assert contains(outer, inner, fold_case=False) == expected
