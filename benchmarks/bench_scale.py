"""Organization scale (issue 20 item 5): ``refine-batch`` with proof over a synthetic
organization (``iamrefine corpus synth``), on the local pool and on Dask.

For each executor (``local`` with one in-process worker, ``dask-local:1``,
``dask-local:2``) the same cases are refined and proved into a fresh output folder,
without certificates; reported per executor: wall time, throughput per worker, the
peak resident memory of each worker process (``VmHWM``, sampled every
:data:`SAMPLE_SECONDS` through psutil) and the outcomes. Derived: the scaling from one
to two Dask workers, Dask's overhead per case against the local pool (in wall time,
and in CPU time of the workers and the client, which the load of other processes on
a shared machine inflates far less), and the wall time projected to 100,000 cases
(linear in the number of cases: each case is independent and the client's work per
case is constant).

With ``--rounds R`` every executor runs R times, alternated (each round starts with the
next one); each executor's figures are those of its median run, and the scaling and
the overheads are the medians of the ratios within each round, which the machine's
drift between rounds does not move. With ``--fixed-cases K`` every round also runs each
executor on the first K cases: the slope between the two runs is the CPU time per case
beyond the executor's fixed start-up (importing Dask, starting the cluster), which a
run of a few thousand cases otherwise spreads over its cases.

Usage: ``python benchmarks/bench_scale.py [--cases N] [--corpus DIR] [--only NAME ...]
[--name NAME] [--rounds R]`` (needs the ``dist`` extra and ``../shared``). ``--corpus``
reuses a corpus made earlier by ``iamrefine corpus synth DIR --policies M --seed 2026``
(its first N cases when N < M); results go to ``results/NAME.json`` (default ``scale``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
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


class Watch:
    """The peak resident memory (``VmHWM``) and the CPU time of a run's processes,
    sampled in a thread: its worker processes (spawned children of ``root``, not the
    resource tracker), or ``root`` itself when it has none (the local pool with one
    worker runs in the command's own process); and ``root``'s own CPU time."""

    def __init__(self, root: int, *, children: bool) -> None:
        import psutil

        self.root = psutil.Process(root)
        self.children = children
        self.peaks: dict[int, float] = {}
        self.cpu: dict[int, float] = {}
        """Each worker's user + system CPU seconds, as last sampled."""
        self.root_cpu = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _targets(self) -> list[Any]:
        if not self.children:
            return [self.root]
        found = []
        for child in self.root.children(recursive=True):
            try:
                line = " ".join(child.cmdline())
            except Exception:
                continue
            if "spawn" in line and "resource_tracker" not in line:
                found.append(child)
        return found

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                times = self.root.cpu_times()
                self.root_cpu = times.user + times.system
                targets = self._targets()
            except Exception:
                targets = []
            for process in targets:
                try:
                    status = Path(f"/proc/{process.pid}/status").read_text()
                    times = process.cpu_times()
                except Exception:
                    continue
                self.cpu[process.pid] = times.user + times.system
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        mb = int(line.split()[1]) / 1024
                        self.peaks[process.pid] = max(self.peaks.get(process.pid, 0.0), mb)
            self.stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> Watch:
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


def run_one(name: str, corpus: Path, out: Path, deadline: float | None) -> dict[str, Any]:
    """``iamrefine refine-batch CORPUS OUT --executor NAME`` as a whole process; killed
    (with its cluster) after ``deadline`` seconds, when given: then the cases with a
    ``done`` or ``error.json`` are the ones finished (a rerun would resume there)."""
    from iamrefine.harness.executors import ExecutorSpec

    spec = ExecutorSpec.parse(name)
    workers = spec.workers or 1
    load_start = os.getloadavg()[0]
    command = [sys.executable, "-m", "iamrefine", "refine-batch", str(corpus), str(out)]
    command += ["--executor", name]
    start = time.perf_counter()
    # Every process of the run (client, scheduler, nannies, workers) is reaped by its
    # parent before the command ends, so its CPU time is in our children's usage.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    with Watch(proc.pid, children=spec.workers > 0) as watch:
        try:
            _, stderr = proc.communicate(timeout=deadline)
            interrupted = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            interrupted = True
        seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode not in (0, 1) and not interrupted:
        sys.exit(f"bench_scale: {' '.join(command)} failed:\n{stderr.decode()[-2000:]}")
    expected = sorted(p.name for p in corpus.iterdir() if p.is_dir())
    finished = _finished(out)
    names = [n for n, _ in finished]
    if not interrupted:
        summary = json.loads((out / "summary.json").read_text())
        names = [c["name"] for c in summary["cases"]]
    else:
        expected = sorted(set(expected) & set(names))
    cases = len(names)
    counts: dict[str, int] = {}
    for _, outcome in finished:
        counts[outcome] = counts.get(outcome, 0) + 1
    client_cpu = watch.root_cpu
    worker_cpu = sum(watch.cpu.values()) if spec.workers else client_cpu
    return {
        "executor": name,
        "workers": workers,
        "cases": cases,
        "seconds": round(seconds, 2),
        "cases_per_second": round(cases / seconds, 2),
        "cases_per_second_per_worker": round(cases / seconds / workers, 2),
        # CPU time does not grow with the load of other processes as wall time does.
        # With the local pool's one worker, the client's process is the worker.
        "worker_cpu_ms_per_case": round(worker_cpu / max(cases, 1) * 1000, 2),
        "client_cpu_ms_per_case": round(client_cpu / max(cases, 1) * 1000, 2),
        # Exact, and of every process of the run (the two above are sampled).
        "total_cpu_seconds": round(total_cpu, 3),
        "peak_mb_per_worker": sorted(round(v, 1) for v in watch.peaks.values()),
        "outcomes": counts,
        "lost": len(set(expected) - {n for n, _ in finished}),
        "duplicated": len(names) - len(set(names)),
        "load_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "interrupted": interrupted,
    }


def _cpu_ms(run: dict[str, Any]) -> float:
    """CPU milliseconds per case of the workers and the client (with the local pool's
    one in-process worker, the client's process is the worker)."""
    extra = 0.0 if run["executor"] == "local" else run["client_cpu_ms_per_case"]
    return round(run["worker_cpu_ms_per_case"] + extra, 2)


def _median_run(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time, with every round's figures beside it; losses and
    duplicates summed over the rounds, and each worker's peak the largest of any round."""
    ordered = sorted(found, key=lambda r: r["seconds"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    median["rounds"] = {
        "seconds": [r["seconds"] for r in found],
        "cases_per_second_per_worker": [r["cases_per_second_per_worker"] for r in found],
        "cpu_ms_per_case": [_cpu_ms(r) for r in found],
        "load_1m": [r["load_1m"] for r in found],
    }
    median["lost"] = sum(r["lost"] for r in found)
    median["duplicated"] = sum(r["duplicated"] for r in found)
    width = max(len(r["peak_mb_per_worker"]) for r in found)
    median["peak_mb_per_worker"] = [
        max(r["peak_mb_per_worker"][k] for r in found if k < len(r["peak_mb_per_worker"]))
        for k in range(width)
    ]
    return median


def _derived(
    trials: dict[str, list[dict[str, Any]]], runs: dict[str, dict[str, Any]], cases: int
) -> dict[str, Any]:
    """Scaling and Dask's overhead as the median of the ratios within each round (the
    runs of one round are close in time, so the machine's drift cancels), the CPU time
    per case and the projection to 100,000 cases from the median runs."""

    def paired(ratio: Any, a: str, b: str) -> list[float]:
        return [round(ratio(x, y), 4) for x, y in zip(trials[a], trials[b], strict=True)]

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 4)

    derived: dict[str, Any] = {}
    if "dask-local:1" in trials and "dask-local:2" in trials:
        scaling = paired(
            lambda one, two: one["seconds"] / two["seconds"], "dask-local:1", "dask-local:2"
        )
        derived["scaling_1_to_2"] = round(median(scaling), 3)
        derived["scaling_1_to_2_rounds"] = scaling
    if "local" in trials and "dask-local:1" in trials:
        wall = paired(
            lambda loc, dask: (dask["seconds"] - loc["seconds"]) / loc["seconds"],
            "local",
            "dask-local:1",
        )
        cpu = paired(
            lambda loc, dask: (_cpu_ms(dask) - _cpu_ms(loc)) / _cpu_ms(loc), "local", "dask-local:1"
        )
        per_case = paired(
            lambda loc, dask: (dask["seconds"] - loc["seconds"]) / cases * 1000,
            "local",
            "dask-local:1",
        )
        derived["dask_overhead_fraction"] = median(wall)
        derived["dask_overhead_fraction_rounds"] = wall
        derived["dask_overhead_ms_per_case"] = round(statistics.median(per_case), 3)
        derived["dask_cpu_overhead_fraction"] = median(cpu)
        derived["dask_cpu_overhead_fraction_rounds"] = cpu
    derived["cpu_ms_per_case"] = {
        name: round(statistics.median(r["rounds"]["cpu_ms_per_case"]), 2)
        for name, r in runs.items()
    }
    derived["projected_seconds_100k"] = {
        name: round(run["seconds"] * PROJECTED / run["cases"], 1) for name, run in runs.items()
    }
    return derived


def _per_case(
    trials: dict[str, list[dict[str, Any]]], starts: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Each executor's CPU time per case beyond its fixed start-up (the slope of the
    exact CPU time of every process of the run, between the run on a few cases and the
    full run of the same round) and that fixed part; Dask's CPU overhead per case as the
    median over the rounds of the slopes' ratio."""

    def seconds(run: dict[str, Any]) -> float:
        return float(run["total_cpu_seconds"])

    slopes: dict[str, list[float]] = {}
    fixed: dict[str, list[float]] = {}
    for name in trials:
        for big, few in zip(trials[name], starts[name], strict=True):
            slope = (seconds(big) - seconds(few)) / (big["cases"] - few["cases"])
            slopes.setdefault(name, []).append(round(slope * 1000, 3))
            fixed.setdefault(name, []).append(round(seconds(few) - slope * few["cases"], 3))
    out: dict[str, Any] = {
        "cpu_ms_per_case_beyond_startup": {n: statistics.median(v) for n, v in slopes.items()},
        "startup_cpu_seconds": {n: statistics.median(v) for n, v in fixed.items()},
        "fixed_cases": {n: runs[0]["cases"] for n, runs in starts.items()},
    }
    if "local" in slopes and "dask-local:1" in slopes:
        ratios = [
            round((dask - local) / local, 4)
            for local, dask in zip(slopes["local"], slopes["dask-local:1"], strict=True)
        ]
        out["dask_cpu_overhead_per_case_fraction"] = round(statistics.median(ratios), 4)
        out["dask_cpu_overhead_per_case_fraction_rounds"] = ratios
    return out


def _finished(out: Path) -> list[tuple[str, str]]:
    """Each case folder's name and outcome, from its ``done`` or ``error.json``."""
    found = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        for record in ("done", "error.json"):
            if (folder / record).is_file():
                found.append((folder.name, json.loads((folder / record).read_text())["outcome"]))
                break
    return found


def run() -> dict[str, Any]:
    """The suite as ``run.py scale`` runs it: 20,000 cases on every executor."""
    main([])
    result: dict[str, Any] = json.loads((RESULTS / "scale.json").read_text())
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=list(EXECUTORS))
    parser.add_argument("--name", default="scale")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of every executor, alternated; medians and paired ratios are reported",
    )
    parser.add_argument(
        "--fixed-cases",
        type=int,
        default=0,
        help="also run each executor on this many cases in every round, to tell its fixed "
        "start-up CPU time from its CPU time per case",
    )
    parser.add_argument(
        "--deadline", type=float, default=None, help="seconds each run may take before it is cut"
    )
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
        small = None
        if 0 < args.fixed_cases < cases:
            small = work / "fixed"
            small.mkdir()
            for folder in sorted(p for p in corpus.iterdir() if p.is_dir())[: args.fixed_cases]:
                (small / folder.name).symlink_to(folder.resolve())
        trials: dict[str, list[dict[str, Any]]] = {name: [] for name in args.only}
        starts: dict[str, list[dict[str, Any]]] = {name: [] for name in args.only}
        for round_ in range(args.rounds):
            # Each round starts with the next executor, so that none always runs first
            # (or right after the heaviest) while the machine drifts.
            shift = round_ % len(args.only)
            for name in [*args.only[shift:], *args.only[:shift]]:
                out = work / f"out-{name.replace(':', '-')}"
                trials[name].append(run_one(name, corpus, out, args.deadline))
                print(json.dumps(trials[name][-1]), flush=True)
                shutil.rmtree(out, ignore_errors=True)
                if small is not None:
                    starts[name].append(run_one(name, small, out, args.deadline))
                    shutil.rmtree(out, ignore_errors=True)
        runs = {name: _median_run(found) for name, found in trials.items()}
        derived = _derived(trials, runs, cases)
        if small is not None:
            derived.update(_per_case(trials, starts))
        write_result(
            args.name,
            {
                "cases": cases,
                "seed": SEED,
                "rounds": args.rounds,
                "targets": TARGETS,
                "runs": runs,
                **derived,
            },
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
