"""Shared helpers for the benchmark scripts: timing, statistics, corpus access, results."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared"
MANAGED = SHARED / "corpus" / "aws-managed"
SEED = 20261128
UNUSED_RATIO = 0.30
START_LOAD = os.getloadavg()[0]
"""The 1-minute load average when this benchmark process started."""


def require_corpus() -> Path:
    """The managed-policy corpus folder, or exit with a message when it is absent."""
    if not MANAGED.is_dir():
        sys.exit(f"benchmarks: the shared corpus `{MANAGED}` is absent")
    return MANAGED


def policy_files() -> list[Path]:
    """Every managed policy file, sorted by name (MANIFEST.json excluded)."""
    return sorted(p for p in require_corpus().glob("*.json") if p.name != "MANIFEST.json")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` from ``/proc/self/status``.

    ``getrusage``'s ``ru_maxrss`` is not used where ``/proc`` exists, because Linux
    keeps it across ``exec``: a child started by a large parent would report the
    parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once; return (seconds, result)."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_of(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    """Median wall time of ``repeat`` runs of ``fn``, and all the samples."""
    samples = [timed(fn)[0] for _ in range(repeat)]
    return statistics.median(samples), samples


def summarize(times: dict[str, float]) -> dict[str, Any]:
    """Total, median, p99 and worst of per-item times (seconds)."""
    values = sorted(times.values())
    if not values:
        return {"count": 0}
    worst_name = max(times, key=lambda k: times[k])
    p99_index = min(len(values) - 1, round(0.99 * (len(values) - 1)))
    return {
        "count": len(values),
        "total_s": round(sum(values), 4),
        "median_s": round(statistics.median(values), 5),
        "p99_s": round(values[p99_index], 5),
        "worst_s": round(times[worst_name], 5),
        "worst_name": worst_name,
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/NAME.json`` atomically, with machine facts attached:
    the 1-minute load average at the start and at the end of the run, because the
    machine is shared and a loaded run's absolute times are inflated."""
    from iamrefine.files import write_atomic

    data = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_1m_start": round(START_LOAD, 2),
            "load_1m_end": round(os.getloadavg()[0], 2),
        },
        **data,
    }
    target = RESULTS / f"{name}.json"
    write_atomic(target, json.dumps(data, indent=2) + "\n", parents=True)
    return target
