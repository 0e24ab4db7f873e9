"""The worst case: ``{"Action": "*", "Resource": "*"}`` with a random 40% of the catalog
unused. Refine plus prove, in a fresh process per run, with its peak resident memory.
Target: at most 10 s. Both strategies are measured: explicit patterns (the default)
and ``--strategy notaction``."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from typing import Any

from common import SEED, peak_rss_mb, write_result

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def child(strategy: str) -> dict[str, Any]:
    from iamrefine.catalog import load_catalog
    from iamrefine.parse import policy_from_json
    from iamrefine.refine import refine_policy
    from iamrefine.unused import UnusedSet
    from iamrefine.verify import verify_result

    catalog = load_catalog()
    rng = random.Random(SEED)
    names = rng.sample(list(catalog.actions), round(0.4 * len(catalog)))
    unused = UnusedSet.from_names(names, catalog)
    policy = policy_from_json(POLICY)
    t0 = time.perf_counter()
    result = refine_policy(policy, unused, catalog, strategy=strategy)  # type: ignore[arg-type]
    t1 = time.perf_counter()
    report = verify_result(result, unused, catalog)
    t2 = time.perf_counter()
    patterns = (
        sum(len(s.action_element.values) for s in result.policy.statements) if result.policy else 0
    )
    return {
        "refine_s": t1 - t0,
        "prove_s": t2 - t1,
        "total_s": t2 - t0,
        "verdict": report.verdict.name,
        "patterns": patterns,
        "peak_rss_mb": peak_rss_mb(),
    }


def run(repeat: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {"repeat": repeat, "unused_fraction": 0.4, "target_s": 10.0}
    for strategy in ("patterns", "notaction"):
        runs = []
        for _ in range(repeat):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", strategy],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(proc.stdout))
        out[strategy] = {
            "refine_median_s": round(statistics.median(r["refine_s"] for r in runs), 3),
            "prove_median_s": round(statistics.median(r["prove_s"] for r in runs), 3),
            "total_median_s": round(statistics.median(r["total_s"] for r in runs), 3),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            "verdicts": sorted({r["verdict"] for r in runs}),
            "patterns": runs[0]["patterns"],
        }
    write_result("worst_case", out)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
    else:
        print(run())
