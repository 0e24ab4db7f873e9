"""End-to-end CLI latency: ``iamrefine refine`` on the worked example, with its proof,
from process start, median of repeated runs (warm catalog cache). Target: at most 0.8 s.
``iamrefine --help`` is timed too, as the floor set by interpreter and import start-up."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, write_result

EXAMPLE = ROOT / "examples" / "access-analyzer-blog"


def _iamrefine() -> str:
    script = Path(sys.executable).with_name("iamrefine")
    if not script.exists():
        sys.exit("benchmarks: the `iamrefine` console script is not installed next to python")
    return str(script)


def _time(cmd: list[str], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return samples


def run(repeat: int = 9) -> dict[str, object]:
    exe = _iamrefine()
    refine = [exe, "refine", str(EXAMPLE / "policy.json"), "--unused", str(EXAMPLE / "unused.json")]
    _time(refine, 1)  # warms the catalog cache
    refine_s = _time(refine, repeat)
    help_s = _time([exe, "--help"], repeat)
    data = {
        "repeat": repeat,
        "refine_with_proof_median_s": round(statistics.median(refine_s), 3),
        "refine_with_proof_samples_s": [round(s, 3) for s in refine_s],
        "help_median_s": round(statistics.median(help_s), 3),
        "target_s": 0.8,
    }
    write_result("cli", data)
    return data


if __name__ == "__main__":
    print(run())
