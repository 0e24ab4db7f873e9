"""Canonical forms: the text a certificate's digests are taken of.

A policy is the writer's JSON (:func:`iamrefine.write.policy_to_json`) serialized like
``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` with
every number written as in the source (:func:`iamrefine.write.json_text`); the
unused set is the JSON list of its catalog names, sorted by lowercase name, serialized
the same way. Digests are ``sha256:`` and 64 hex digits of the UTF-8 text.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iamrefine.model import Policy


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON text with characters written as themselves, and each
    :class:`~iamrefine.model.Number` as its source text."""
    from iamrefine.write import json_text

    return json_text(value, compact=True)


def json_with_numbers(text: str) -> Any:
    """Decode JSON text keeping every number's source text (as a Number)."""
    from iamrefine.model import Number

    return json.loads(text, parse_float=Number, parse_int=Number)


def sha256_text(text: str) -> str:
    """``sha256:`` and the hex digest of the UTF-8 text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_policy(policy: Policy) -> tuple[dict[str, Any], str]:
    """The policy's canonical JSON document and its canonical text."""
    from iamrefine.write import policy_to_json

    text = canonical_json(policy_to_json(policy))
    return json_with_numbers(text), text
