"""Refinement and proof throughput on the real managed-policy corpus.

Every policy in ``../shared/corpus/aws-managed`` gets a reproducible random 30% of the
catalog actions it allows marked unused (``iamrefine.harness.corpus.pick_unused``, the
same rule as ``iamrefine corpus make``, seed ``common.SEED``). Refinement is timed over
``--repeat`` passes (per-policy median), twice: with readable word prefixes only
(``--optimize readable``) and with the default (``auto``: the size optimizer, then a
split, for the results over the managed-policy quota); the full check of both claims
once per policy. Targets: readable refinement of the corpus at most 5 s in total
(issue 7); the default at most 30 s in total with p99 <= 2 s per policy (issue 16);
proofs median <= 0.1 s, p99 <= 1 s, worst <= 10 s, the whole corpus <= 3 min, and no
UNKNOWN verdict.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from common import SEED, UNUSED_RATIO, policy_files, summarize, write_result


def load_cases() -> tuple[Any, list[tuple[str, Any, Any]]]:
    """The default catalog and (name, policy, unused set) for every corpus policy."""
    from iamrefine.catalog import load_catalog
    from iamrefine.harness.corpus import allowed_actions, pick_unused
    from iamrefine.parse import load_policy
    from iamrefine.unused import UnusedSet

    catalog = load_catalog()
    cases = []
    for path in policy_files():
        policy = load_policy(path)
        names = pick_unused(path.stem, allowed_actions(policy, catalog), UNUSED_RATIO, SEED)
        cases.append((path.stem, policy, UnusedSet.from_names(names, catalog)))
    return catalog, cases


def bench_refine(
    catalog: Any, cases: list[tuple[str, Any, Any]], repeat: int, *, optimize: Any
) -> dict[str, Any]:
    from iamrefine.refine import refine_policy

    per: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    totals = []
    for _ in range(repeat):
        start = time.perf_counter()
        for name, policy, unused in cases:
            t = time.perf_counter()
            refine_policy(policy, unused, catalog, optimize=optimize)
            per[name].append(time.perf_counter() - t)
        totals.append(time.perf_counter() - start)
    stats = summarize({k: statistics.median(v) for k, v in per.items()})
    stats["total_s"] = round(statistics.median(totals), 3)
    stats["total_samples_s"] = [round(t, 3) for t in totals]
    return stats


def bench_check(catalog: Any, cases: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    from iamrefine.refine import refine_policy
    from iamrefine.verify import Verdict, verify_result

    times: dict[str, float] = {}
    verdicts: dict[str, int] = {}
    not_proved: list[str] = []
    start = time.perf_counter()
    for name, policy, unused in cases:
        result = refine_policy(policy, unused, catalog)
        t = time.perf_counter()
        report = verify_result(result, unused, catalog)
        times[name] = time.perf_counter() - t
        verdict = report.verdict.name
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        if report.verdict is not Verdict.PROVED:
            not_proved.append(name)
    stats = summarize(times)
    stats["wall_s"] = round(time.perf_counter() - start, 2)
    stats["verdicts"] = verdicts
    stats["unknown"] = verdicts.get("UNKNOWN", 0)
    stats["not_proved"] = not_proved[:20]
    stats["targets"] = {"median_s": 0.1, "p99_s": 1.0, "worst_s": 10.0, "total_s": 180.0}
    return stats


def run(repeat: int = 3, check: bool = True) -> dict[str, Any]:
    t = time.perf_counter()
    catalog, cases = load_cases()
    setup = time.perf_counter() - t
    from iamrefine.choices import Optimize

    refine = bench_refine(catalog, cases, repeat, optimize=Optimize.readable)
    default = bench_refine(catalog, cases, repeat, optimize=Optimize.auto)
    write_result(
        "refine_corpus",
        {
            "seed": SEED,
            "unused_ratio": UNUSED_RATIO,
            "setup_s": round(setup, 2),
            "repeat": repeat,
            **refine,
            "target_total_s": 5.0,
            "default": {**default, "target_total_s": 30.0, "target_p99_s": 2.0},
        },
    )
    out: dict[str, Any] = {"refine": refine}
    if check:
        proof = bench_check(catalog, cases)
        write_result("check_corpus", {"seed": SEED, "unused_ratio": UNUSED_RATIO, **proof})
        out["check"] = proof
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-check", action="store_true", help="refinement only")
    args = parser.parse_args()
    print(run(args.repeat, check=not args.no_check))
