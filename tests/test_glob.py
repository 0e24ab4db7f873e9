"""The concrete IAM glob matcher (:mod:`iamrefine.glob`), against an independent
dynamic-programming matcher and on the cases that differ from shell globs."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from iamrefine.glob import (
    action_matches,
    ascii_lower,
    compile_glob,
    has_wildcard,
    literal_prefix,
    normalize,
    resource_matches,
)

SETTINGS = settings(max_examples=150, derandomize=True, deadline=None)
patterns = st.text(st.sampled_from(list("ab:/*?[]\\.é")), max_size=8)
strings = st.text(st.sampled_from(list("abAB:/[]\\.\né")), max_size=8)


def dp_match(pattern: str, text: str) -> bool:
    """IAM glob semantics written as the textbook recursion: ``*`` any run, ``?`` one
    character, everything else literal."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        if pattern[i] == "*":
            return go(i + 1, j) or (j < len(text) and go(i, j + 1))
        if j < len(text) and (pattern[i] == "?" or pattern[i] == text[j]):
            return go(i + 1, j + 1)
        return False

    return go(0, 0)


def arn_match(pattern: str, text: str) -> bool:
    """The Resource rule as a recursion: ``?`` and a ``*`` inside an ARN segment never
    match ``:``; a ``*`` followed by ``:`` or by the end matches any run."""

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        if pattern[i] == "*":
            free = i + 1 == len(pattern) or pattern[i + 1] == ":"
            step = j < len(text) and (free or text[j] != ":")
            return go(i + 1, j) or (step and go(i, j + 1))
        if j < len(text) and (
            (pattern[i] == "?" and text[j] != ":") or (pattern[i] != "?" and pattern[i] == text[j])
        ):
            return go(i + 1, j + 1)
        return False

    return go(0, 0)


@SETTINGS
@given(patterns, strings)
def test_resource_matching_agrees_with_the_recursion(pattern: str, text: str) -> None:
    assert resource_matches(pattern, text) is arn_match(pattern, text)


@SETTINGS
@given(patterns, st.text(st.sampled_from(list("abAB/[]\\.\né")), max_size=8))
def test_resource_matching_without_colons_is_the_plain_glob(pattern: str, text: str) -> None:
    # On a resource without colons the segment rule restricts nothing.
    assert resource_matches(pattern, text) is dp_match(pattern, text)


def test_inner_star_does_not_cross_a_colon() -> None:
    assert dp_match("*a", ":a") and not resource_matches("*a", ":a")
    assert resource_matches("*:a", "x:y:a")


@SETTINGS
@given(patterns, strings)
def test_action_matching_is_the_recursion_on_ascii_lowercase(pattern: str, text: str) -> None:
    assert action_matches(pattern, text) is dp_match(ascii_lower(pattern), ascii_lower(text))


@SETTINGS
@given(patterns, strings)
def test_normalizing_keeps_the_language(pattern: str, text: str) -> None:
    assert dp_match(normalize(pattern), text) is dp_match(pattern, text)


def test_normalize_writes_question_marks_then_one_star() -> None:
    assert normalize("a*?**?b") == "a??*b"
    assert normalize("??") == "??"
    assert normalize("*") == "*"


def test_brackets_backslashes_and_dots_are_literal() -> None:
    assert resource_matches("arn:[ab]", "arn:[ab]")
    assert not resource_matches("arn:[ab]", "arn:a")
    assert resource_matches("a\\*", "a\\anything")
    assert not resource_matches("a.b", "axb")


def test_star_spans_colons_slashes_and_newlines() -> None:
    assert resource_matches("arn:*", "arn:aws:s3:::bucket/key\nmore")
    assert action_matches("*", "")


def test_actions_fold_ascii_case_only() -> None:
    assert action_matches("S3:getobject", "s3:GetObject")
    assert not resource_matches("Bucket", "bucket")
    # The Kelvin sign folds to `k` under str.lower, but not in IAM.
    assert not action_matches("s3:\u212a", "s3:k")
    assert ascii_lower("ÄB\u212a") == "Äb\u212a"


def test_literal_prefix_and_has_wildcard() -> None:
    assert literal_prefix("s3:Get*Acl") == "s3:Get"
    assert literal_prefix("s3:Ge?") == "s3:Ge"
    assert literal_prefix("s3:GetObject") == "s3:GetObject"
    assert has_wildcard("a?b") and has_wildcard("*") and not has_wildcard("[a]")


def test_compiled_globs_are_shared() -> None:
    assert compile_glob("s3:*", fold_case=True) is compile_glob("s3:*", fold_case=True)
