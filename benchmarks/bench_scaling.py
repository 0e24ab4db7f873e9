"""Scaling of refine plus prove: time and peak memory against

- the number of patterns in a policy (10 to 5,000),
- the fraction of allowed actions unused (0 to 90%),
- the catalog size (1x, 2x and 4x the real catalog, made by renaming services).

Each point runs in a fresh process (so that peak RSS belongs to that point), ``--repeat``
times; medians are reported. The plot goes to ``results/scaling.png`` (matplotlib, from
the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from typing import Any

from common import RESULTS, SEED, peak_rss_mb, write_result

PATTERNS = [10, 50, 100, 500, 1000, 2000, 3000, 4000, 5000]
FRACTIONS = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9]
SCALES = [1, 2, 4]


def _catalog(scale: int) -> Any:
    from iamrefine.catalog import Catalog, load_catalog

    base = load_catalog()
    if scale == 1:
        return base
    names = list(base.actions)
    for k in range(2, scale + 1):
        names += [f"{a.partition(':')[0]}x{k}:{a.partition(':')[2]}" for a in base.actions]
    return Catalog.from_names(names, source=f"synthetic-{scale}x")


def _policy_with_patterns(catalog: Any, count: int, rng: random.Random) -> dict[str, Any]:
    """``count`` patterns: a mix of exact names and word-prefix wildcards drawn from the
    catalog, spread over statements of at most 100 patterns each."""
    from iamrefine.refine.words import split_words

    patterns: list[str] = []
    seen: set[str] = set()
    actions = list(catalog.actions)
    while len(patterns) < count:
        action = rng.choice(actions)
        service, _, name = action.partition(":")
        words = split_words(name)
        if rng.random() < 0.5 and len(words) > 1:
            pattern = f"{service}:{''.join(words[: rng.randint(1, len(words) - 1)])}*"
        else:
            pattern = action
        if pattern.lower() not in seen:
            seen.add(pattern.lower())
            patterns.append(pattern)
    statements = [
        {"Effect": "Allow", "Action": patterns[i : i + 100], "Resource": "*"}
        for i in range(0, len(patterns), 100)
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def child(kind: str, value: float) -> dict[str, Any]:
    from iamrefine.harness.corpus import allowed_actions
    from iamrefine.parse import policy_from_json
    from iamrefine.refine import refine_policy
    from iamrefine.unused import UnusedSet
    from iamrefine.verify import verify_result

    rng = random.Random(f"{SEED}:{kind}:{value}")
    scale = int(value) if kind == "catalog" else 1
    catalog = _catalog(scale)
    count = int(value) if kind == "patterns" else 1000
    fraction = value if kind == "fraction" else 0.3
    if kind == "catalog":
        doc = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
    else:
        doc = _policy_with_patterns(catalog, count, rng)
    policy = policy_from_json(doc)
    allowed = sorted(allowed_actions(policy, catalog))
    unused = UnusedSet.from_names(
        [catalog.by_lower[a] for a in rng.sample(allowed, round(fraction * len(allowed)))], catalog
    )
    t0 = time.perf_counter()
    result = refine_policy(policy, unused, catalog)
    t1 = time.perf_counter()
    report = verify_result(result, unused, catalog)
    t2 = time.perf_counter()
    return {
        "refine_s": t1 - t0,
        "prove_s": t2 - t1,
        "total_s": t2 - t0,
        "verdict": report.verdict.name,
        "allowed": len(allowed),
        "engines": sorted({c.stats["solver"] for c in report.claims}),
        "peak_rss_mb": peak_rss_mb(),
    }


def _point(kind: str, value: float, repeat: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(value)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(proc.stdout))
    return {
        "x": value,
        "refine_s": round(statistics.median(r["refine_s"] for r in runs), 4),
        "prove_s": round(statistics.median(r["prove_s"] for r in runs), 4),
        "total_s": round(statistics.median(r["total_s"] for r in runs), 4),
        "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs), 1),
        "verdicts": sorted({r["verdict"] for r in runs}),
        "engines": sorted({e for r in runs for e in r["engines"]}),
        "allowed": runs[0]["allowed"],
    }


def plot(series: dict[str, list[dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {
        "patterns": "patterns in the policy",
        "fraction": "fraction of allowed actions unused",
        "catalog": "catalog size (x real catalog)",
    }
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (kind, points) in zip(axes, series.items(), strict=True):
        xs = [p["x"] for p in points]
        ax.plot(xs, [p["refine_s"] for p in points], "o-", label="refine (s)")
        ax.plot(xs, [p["prove_s"] for p in points], "s-", label="prove (s)")
        ax.plot(xs, [p["total_s"] for p in points], "^-", label="total (s)")
        ax.set_xlabel(labels[kind])
        ax.set_ylabel("seconds (median)")
        ax.grid(True, alpha=0.3)
        mem = ax.twinx()
        mem.plot(xs, [p["peak_rss_mb"] for p in points], "k--", alpha=0.5, label="peak RSS (MB)")
        mem.set_ylabel("peak RSS (MB)")
        ax.legend(loc="upper left", fontsize=8)
        mem.legend(loc="lower right", fontsize=8)
    fig.suptitle("iamrefine refine + prove scaling (2-core machine, medians)")
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "scaling.png", dpi=90)


def run(repeat: int = 3) -> dict[str, Any]:
    series = {
        "patterns": [_point("patterns", n, repeat) for n in PATTERNS],
        "fraction": [_point("fraction", f, repeat) for f in FRACTIONS],
        "catalog": [_point("catalog", s, repeat) for s in SCALES],
    }
    write_result("scaling", {"repeat": repeat, **series})
    plot(series)
    return series


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], float(sys.argv[3]))))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--repeat", type=int, default=3)
        print(run(parser.parse_args().repeat))
