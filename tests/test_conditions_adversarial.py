"""The checker against the evaluator on adversarial condition blocks and requests.

Two blocks are drawn from :mod:`fuzz.adversarial` (shared and re-spelled keys, every
family on every key, IfExists and set qualifiers, numbers and dates in several forms).
The checker decides "A within B" for Allow statements that differ only in their blocks:

- PROVED: no request of the adversarial pool satisfies A and fails B;
- REFUTED: the counterexample's request satisfies A and fails B in the evaluator;
- UNKNOWN: only with one of two documented reasons: the two case-folding readings
  disagree, or the solver's model gives one key typed views no single value has.

The default run asks ``IAMREFINE_ADVERSARIAL_CASES`` (default 40) questions; the slow
run asks ``IAMREFINE_ADVERSARIAL_SLOW_CASES`` (default 1,000, a few minutes in CI) over two
processes, and ``scripts/reliability.py`` asks 10,000 and records the counts. This test
would have caught each false PROVED of issue 13 (case-variant keys, malformed typed
values, multi-valued keys).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

from fuzz.adversarial import blocks, request_pool
from iamrefine.catalog import Catalog
from iamrefine.conditions import concrete
from iamrefine.model import Condition
from iamrefine.parse import parse_policy
from iamrefine.verify import Verdict, verify_equivalence

CATALOG = Catalog.from_names(["s3:GetObject"], source="adversarial")
CASES = int(os.environ.get("IAMREFINE_ADVERSARIAL_CASES", "40"))
SLOW_CASES = int(os.environ.get("IAMREFINE_ADVERSARIAL_SLOW_CASES", "1000"))
FOLDING = "folds case beyond ASCII"
UNREAL = "is no real request"


def _policy(block: dict[str, Any]) -> Any:
    st = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": block}
    return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [st]}))


def _condition(policy: Any) -> Condition:
    condition = policy.statements[0].condition
    assert condition is not None
    return condition


def judge(a_block: dict[str, Any], b_block: dict[str, Any], stats: Counter[str]) -> None:
    a, b = _policy(a_block), _policy(b_block)
    ca, cb = _condition(a), _condition(b)
    report = verify_equivalence(a, b, CATALOG, subset=True, engine="z3", timeout=60)
    claim = report.claims[0]
    stats["cases"] += 1
    stats[f"verdict {claim.verdict.value}"] += 1

    def holds(c: Condition, request: dict[str, list[str]]) -> bool:
        return concrete.condition_holds(c, "2012-10-17", request)

    if claim.verdict is Verdict.PROVED:
        for request in request_pool([a_block, b_block]):
            assert not (holds(ca, request) and not holds(cb, request)), (
                f"PROVED, but the evaluator refutes it on {request}: A={a_block} B={b_block}"
            )
    elif claim.verdict is Verdict.REFUTED:
        cex = claim.counterexample
        assert cex is not None
        assert holds(ca, cex.request) and not holds(cb, cex.request), (
            f"counterexample {cex.request} does not replay: A={a_block} B={b_block}"
        )
    else:
        reason = claim.reason or ""
        assert FOLDING in reason or UNREAL in reason, (reason, a_block, b_block)
        stats["unknown, " + ("folding" if FOLDING in reason else "no real request")] += 1


def run_shard(shard: int, count: int) -> dict[str, Any]:
    stats: Counter[str] = Counter()

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @seed(shard)
    @given(a=blocks(), b=blocks())
    def check(a: dict[str, Any], b: dict[str, Any]) -> None:
        judge(a, b, stats)

    start = time.perf_counter()
    failure = None
    try:
        check()
    except Exception as exc:  # reported to the parent, which fails the test
        failure = "".join(traceback.format_exception(exc))[-6000:]
    return {"stats": dict(stats), "failure": failure, "seconds": time.perf_counter() - start}


def _run(total: int, workers: int) -> Counter[str]:
    shares = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]
    if workers == 1:
        results = [run_shard(0, total)]
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = list(pool.map(run_shard, range(workers), shares))
    stats: Counter[str] = Counter()
    for r in results:
        stats.update(r["stats"])
    failures = [r["failure"] for r in results if r["failure"]]
    assert not failures, failures[0]
    return stats


def test_adversarial_blocks_agree_with_the_evaluator() -> None:
    stats = _run(CASES, 1)
    assert stats["cases"] >= CASES
    assert stats["verdict PROVED"] and stats["verdict REFUTED"], stats


@pytest.mark.slow
def test_adversarial_blocks_agree_with_the_evaluator_at_scale() -> None:
    start = time.perf_counter()
    stats = _run(SLOW_CASES, 2)
    seconds = round(time.perf_counter() - start, 1)
    folder = os.environ.get("IAMREFINE_RELIABILITY_DIR")
    if folder:
        record = {
            "cases": stats["cases"],
            "counts": dict(sorted(stats.items())),
            "seconds": seconds,
        }
        Path(folder, "adversarial.json").write_text(json.dumps(record, indent=2), "utf-8")
    print(f"adversarial differential: {dict(stats)} in {seconds} s")
    assert stats["cases"] >= SLOW_CASES


def test_the_pool_holds_the_review_counterexamples() -> None:
    # The requests that refute the review's false PROVED answers are in the pool.
    pool = request_pool(
        [
            {"StringEquals": {"aws:TagKeys": "Owner"}, "StringLike": {"aws:TagKeys": "Project"}},
            {"Bool": {"aws:PrincipalTag/t": ["true", "false"]}},
        ]
    )
    assert {"aws:tagkeys": ["Owner", "Project"]} in [
        {k: v for k, v in r.items() if k == "aws:tagkeys"} for r in pool
    ]
    assert any(r.get("aws:principaltag/t") == ["n/a"] for r in pool)
    assert any(k.lower() == "aws:tagkeys" and k != "aws:tagkeys" for r in pool for k in r)
