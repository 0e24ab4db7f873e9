"""What a condition block adds to a check. Every distinct condition block of the managed
corpus (a fixed-seed sample of ``SAMPLE``) is put in a one-statement policy and checked
for equivalence against the same statement with the block rewritten in a way that keeps
its meaning (``tests/conditions_rewrite.py``), so the full condition semantics decides
it; the same check without any block is the baseline. Each block's figure is the
minimum of ``REPEAT`` runs minus the minimum of as many baseline runs interleaved with
them. Also measured: the same block on
both sides (what a refinement proof sees, decided with opaque atoms). Target: a typical
(median) block adds at most 50 ms."""

from __future__ import annotations

import json
import random
import statistics
import sys
from typing import Any

from common import ROOT, SEED, median_of, policy_files, timed, write_result

SAMPLE = 300
REPEAT = 3


def _blocks() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for path in policy_files():
        doc = json.loads(path.read_text())
        statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        for st in statements:
            block = st.get("Condition") if isinstance(st, dict) else None
            if isinstance(block, dict) and block:
                seen.setdefault(json.dumps(block, sort_keys=True), block)
    return [seen[k] for k in sorted(seen)]


def run(sample: int = SAMPLE) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from conditions_rewrite import rewrite_condition
    from iamrefine.catalog import load_catalog
    from iamrefine.parse import policy_from_json
    from iamrefine.verify import verify_equivalence

    catalog = load_catalog()

    def policy(block: dict[str, Any] | None) -> Any:
        st: dict[str, Any] = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
        if block is not None:
            st["Condition"] = block
        return policy_from_json({"Version": "2012-10-17", "Statement": [st]})

    base = policy(None)
    verify_equivalence(base, base, catalog)
    # Minima of runs interleaved per block: the machine is shared, and load only adds time.
    baseline = min(median_of(lambda: verify_equivalence(base, base, catalog), 15)[1])
    blocks = _blocks()
    rng = random.Random(SEED)
    chosen = blocks if sample >= len(blocks) else rng.sample(blocks, sample)
    added: list[float] = []
    shared: list[float] = []
    verdicts: dict[str, int] = {}
    for block in chosen:
        a, b = policy(block), policy(rewrite_condition(block, random.Random(SEED)))
        cond, same, plain = [], [], []
        for _ in range(REPEAT):
            seconds, report = timed(lambda a=a, b=b: verify_equivalence(a, b, catalog))
            cond.append(seconds)
            same.append(timed(lambda a=a: verify_equivalence(a, a, catalog))[0])
            plain.append(timed(lambda: verify_equivalence(base, base, catalog))[0])
        verdicts[report.verdict.name] = verdicts.get(report.verdict.name, 0) + 1
        added.append(min(cond) - min(plain))
        shared.append(min(same) - min(plain))
    added.sort()
    shared.sort()

    def pct(values: list[float], q: float) -> float:
        return round(values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1000, 2)

    result = {
        "distinct_blocks": len(blocks),
        "sampled": len(chosen),
        "repeat": REPEAT,
        "baseline_check_ms": round(baseline * 1000, 2),
        "added_median_ms": round(statistics.median(added) * 1000, 2),
        "added_p90_ms": pct(added, 0.9),
        "added_max_ms": pct(added, 1.0),
        "shared_added_median_ms": round(statistics.median(shared) * 1000, 2),
        "shared_added_max_ms": pct(shared, 1.0),
        "verdicts": verdicts,
        "target_ms": 50,
    }
    write_result("conditions", result)
    return result


if __name__ == "__main__":
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE))
