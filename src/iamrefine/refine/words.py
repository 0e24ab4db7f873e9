"""Splitting action names into words, the units of the refinement trie.

An action name ``service:ActionName`` is split into the service prefix with its
colon (one word, ``s3:``) followed by the CamelCase words of the action part:

* a run of capitals followed by a capitalized word is an acronym, so
  ``GetBucketCORSConfiguration`` is ``Get``, ``Bucket``, ``CORS``, ``Configuration``;
* a capital followed by lowercase letters is a word, as is a lowercase run at the
  start (``uploadFiles`` is ``upload``, ``Files``);
* a run of digits is a word (``S3`` is ``S``, ``3``);
* every other character (``-``, ``_``, ``.``, Latin-1 letters) is a word by itself.

The words of a name concatenate back to the name; the word boundaries are the
positions at which a trie node may end.
"""

from __future__ import annotations

import re

_WORD = re.compile(
    r"[A-Z]+(?=[A-Z][a-z])"  # an acronym before a capitalized word: CORS|Configuration
    r"|[A-Z]?[a-z]+"  # a capitalized or lowercase word
    r"|[A-Z]+"  # a trailing acronym or a lone capital
    r"|[0-9]+"
    r"|[^A-Za-z0-9]"
)


def split_words(name: str) -> list[str]:
    """The words of an action name: the ``service:`` prefix, then CamelCase words.

    A name without a colon is split as an action part only.
    """
    service, colon, action = name.partition(":")
    if not colon:
        return _WORD.findall(name)
    return [service + colon, *_WORD.findall(action)]


def word_boundaries(name: str) -> list[int]:
    """The lengths of ``name``'s proper prefixes that end at a word boundary, ascending.

    The end of the ``service:`` prefix is always one; the full length never is.
    """
    start = name.find(":") + 1
    cuts = [m.end() for m in _WORD.finditer(name, start)]
    if start:
        cuts.insert(0, start)
    if cuts and cuts[-1] == len(name):
        cuts.pop()
    return cuts
