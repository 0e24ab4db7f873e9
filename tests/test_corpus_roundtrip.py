"""Every policy of both shared corpora that IAM would accept parses without error and
survives ``parse -> dump -> parse`` with its JSON content and key order unchanged; the
documentation examples IAM would refuse (placeholders such as ``dax-cluster-arn`` where
an ARN belongs) are refused, each with a positioned error."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conftest import corpus_files, iam_refusals, requires_shared
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
        refusals = iam_refusals(json.loads(raw))
        try:
            policy = parse_policy(raw, path.name)
        except PolicyError as exc:
            if not refusals:
                failures.append(str(exc))
            elif not re.match(rf"{re.escape(path.name)}:\d+:\d+: error: ", str(exc)):
                failures.append(f"{path.name}: refused without a position: {exc}")
            continue
        if refusals:
            failures.append(f"{path.name}: parsed, but IAM refuses it: {refusals}")
            continue
        dumped = dump_policy(policy)
        # A byte-identical dump re-parses to the same policy; only other dumps need a parse.
        if dumped != raw.decode("utf-8") and parse_policy(dumped) != policy:
            failures.append(f"{path.name}: parse(dump(p)) != p")
        if _pairs(dumped) != _pairs(raw):
            failures.append(f"{path.name}: dumped JSON differs from the original")
    assert not failures, "\n".join(failures[:20])
