"""Every policy of both shared corpora parses without error and survives
``parse -> dump -> parse`` with its JSON content and key order unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import corpus_files, requires_shared
from iamrefine.errors import PolicyError
from iamrefine.parse import parse_policy
from iamrefine.write import dump_policy

pytestmark = [pytest.mark.corpus, pytest.mark.slow, requires_shared]


def _pairs(text: str | bytes) -> Any:
    """Decoded JSON whose objects are lists of pairs, so that key order is compared."""
    return json.loads(text, object_pairs_hook=list)


@pytest.mark.parametrize("corpus", ["aws-managed", "aws-docs"])
def test_corpus_round_trip(corpus: str) -> None:
    files = corpus_files(corpus)
    assert len(files) > 400
    failures: list[str] = []
    for path in files:
        raw = path.read_bytes()
        try:
            policy = parse_policy(raw, path.name)
        except PolicyError as exc:
            failures.append(str(exc))
            continue
        dumped = dump_policy(policy)
        # A byte-identical dump re-parses to the same policy; only other dumps need a parse.
        if dumped != raw.decode("utf-8") and parse_policy(dumped) != policy:
            failures.append(f"{path.name}: parse(dump(p)) != p")
        if _pairs(dumped) != _pairs(raw):
            failures.append(f"{path.name}: dumped JSON differs from the original")
    assert not failures, "\n".join(failures[:20])
