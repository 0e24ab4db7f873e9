"""Organization scale (issue 20 item 5): ``refine-batch`` with proof over a synthetic
organization (``iamrefine corpus synth``), on the local pool and on Dask.

For each executor (``local`` with one in-process worker, ``dask-local:1``,
``dask-local:2``) the same cases are refined and proved into a fresh output folder,
without certificates; reported per executor: wall time, throughput per worker, the
peak resident memory of each worker process (``VmHWM``, sampled every
:data:`SAMPLE_SECONDS` through psutil) and the outcomes. Derived: the scaling from one
to two Dask workers, Dask's overhead per case against the local pool, and the wall
time projected to 100,000 cases (linear in the number of cases: each case is
independent and the client's work per case is constant).

Usage: ``python benchmarks/bench_scale.py [--cases N] [--corpus DIR] [--only NAME ...]
[--name NAME]`` (needs the ``dist`` extra and ``../shared``). ``--corpus`` reuses a
corpus made earlier by ``iamrefine corpus synth DIR --policies M --seed 2026`` (its
first N cases when N < M); results go to ``results/NAME.json`` (default ``scale``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import RESULTS, SHARED, write_result

SEED = 2026
SAMPLE_SECONDS = 0.5
PROJECTED = 100_000
EXECUTORS = ("local", "dask-local:1", "dask-local:2")
TARGETS = {
    "cases_per_second_per_worker": 60.0,
    "scaling_1_to_2": 1.8,
    "dask_overhead_fraction": 0.10,
    "peak_mb_per_worker": 300.0,
}


class MemoryWatch:
    """The peak resident memory (``VmHWM``) of this process, or of its worker
    processes (spawned children, not the resource tracker), sampled in a thread."""

    def __init__(self, *, children: bool) -> None:
        import psutil

        self.me = psutil.Process()
        self.children = children
        self.peaks: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _targets(self) -> list[Any]:
        if not self.children:
            return [self.me]
        found = []
        for child in self.me.children(recursive=True):
            try:
                line = " ".join(child.cmdline())
            except Exception:
                continue
            if "spawn" in line and "resource_tracker" not in line:
                found.append(child)
        return found

    def _run(self) -> None:
        while not self.stop.is_set():
            for process in self._targets():
                try:
                    status = Path(f"/proc/{process.pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        mb = int(line.split()[1]) / 1024
                        self.peaks[process.pid] = max(self.peaks.get(process.pid, 0.0), mb)
            self.stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> MemoryWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def make_corpus(cases: int, folder: Path) -> Path:
    from iamrefine.catalog import load_catalog
    from iamrefine.harness.synth import read_sources, synthesize

    corpus = SHARED / "corpus"
    if not corpus.is_dir():
        sys.exit(f"bench_scale: the shared corpora `{corpus}` are absent")
    sources, _ = read_sources([corpus / "aws-managed", corpus / "aws-docs"])
    synthesize(sources, folder, policies=cases, seed=SEED, catalog=load_catalog(None))
    return folder


def run_one(name: str, corpus: Path, out: Path) -> dict[str, Any]:
    from iamrefine.harness.batch import refine_batch
    from iamrefine.harness.executors import ExecutorSpec

    spec = ExecutorSpec.parse(name)
    workers = spec.workers or 1
    load_start = os.getloadavg()[0]
    with MemoryWatch(children=spec.workers > 0) as watch:
        start = time.perf_counter()
        report = refine_batch(corpus, out, executor=spec, jobs=1)
        seconds = time.perf_counter() - start
    cases = len(report.cases)
    names = [c.name for c in report.cases]
    expected = sorted(p.name for p in corpus.iterdir() if p.is_dir())
    recorded = sorted(
        p.name for p in out.iterdir() if (p / "done").is_file() or (p / "error.json").is_file()
    )
    worker_seconds = sum(c.timings.get("worker", 0.0) for c in report.cases)
    return {
        "executor": name,
        "workers": workers,
        "cases": cases,
        "seconds": round(seconds, 2),
        "cases_per_second": round(cases / seconds, 2),
        "cases_per_second_per_worker": round(cases / seconds / workers, 2),
        "worker_busy_seconds": round(worker_seconds, 2),
        "peak_mb_per_worker": sorted(round(v, 1) for v in watch.peaks.values()),
        "outcomes": {str(k): v for k, v in report.counts.items()},
        "lost": len(set(expected) - set(names)) + len(set(expected) - set(recorded)),
        "duplicated": len(names) - len(set(names)),
        "load_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }


def run() -> dict[str, Any]:
    """The suite as ``run.py scale`` runs it: 20,000 cases on every executor."""
    main([])
    return json.loads((RESULTS / "scale.json").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=list(EXECUTORS))
    parser.add_argument("--name", default="scale")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        if args.corpus is not None:
            corpus = args.corpus
            names = sorted(json.loads((corpus / "MANIFEST.json").read_text())["cases"])
            cases = min(args.cases, len(names))
            if cases < len(names):
                # Case i of a seed is the same whatever the size: the first N cases of a
                # larger corpus are the corpus of N cases.
                corpus = work / "subset"
                corpus.mkdir()
                for name in names[:cases]:
                    (corpus / name).symlink_to(args.corpus.resolve() / name)
        else:
            corpus = make_corpus(args.cases, work / "corpus")
            cases = args.cases
        runs: dict[str, dict[str, Any]] = {}
        for name in args.only:
            out = work / f"out-{name.replace(':', '-')}"
            runs[name] = run_one(name, corpus, out)
            print(json.dumps(runs[name]), flush=True)
            shutil.rmtree(out, ignore_errors=True)
        derived: dict[str, Any] = {}
        if "dask-local:1" in runs and "dask-local:2" in runs:
            derived["scaling_1_to_2"] = round(
                runs["dask-local:1"]["seconds"] / runs["dask-local:2"]["seconds"], 3
            )
        if "local" in runs and "dask-local:1" in runs:
            local, dask = runs["local"]["seconds"], runs["dask-local:1"]["seconds"]
            derived["dask_overhead_ms_per_case"] = round((dask - local) / cases * 1000, 3)
            derived["dask_overhead_fraction"] = round((dask - local) / local, 4)
        derived["projected_seconds_100k"] = {
            name: round(run["seconds"] * PROJECTED / cases, 1) for name, run in runs.items()
        }
        write_result(
            args.name,
            {"cases": cases, "seed": SEED, "targets": TARGETS, "runs": runs, **derived},
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
