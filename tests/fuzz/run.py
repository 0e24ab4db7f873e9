"""The longer, local fuzzing mode.

Usage, from the repository root::

    .venv/bin/python -m tests.fuzz.run --target parser --minutes 10
    .venv/bin/python -m tests.fuzz.run --target refine --minutes 30 --seed 7
    .venv/bin/python -m tests.fuzz.run --target parser --engine atheris --minutes 10

Each target runs in rounds of hypothesis examples, one seed per round (``--seed``,
``--seed + 1``, ...), until the time is up. With ``--engine atheris`` (only for the
parser; ``pip install atheris`` first) the parser target is driven by atheris's
coverage-guided mutator instead, seeded with the same seed inputs.

A failing input is shrunk by hypothesis and saved under ``tests/fuzz/regressions/``
(``parser/*.bin`` or ``refine/*.json``); ``tests/fuzz/test_fuzz.py`` replays every saved
input in CI, so a crash found here becomes a regression test once it is committed.
The run prints (and with ``--json`` writes) the executions, the time and the failures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from . import targets

REGRESSIONS = Path(__file__).resolve().parent / "regressions"
ROUND = 200
"""Hypothesis examples per round (a new seed each round)."""


def save_regression(target: str, value: Any) -> Path:
    """Save a failing input of ``target`` under ``regressions/<target>/``."""
    folder = REGRESSIONS / target
    folder.mkdir(parents=True, exist_ok=True)
    if target == "parser":
        data = bytes(value)
        path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}.bin"
        path.write_bytes(data)
    else:
        text = json.dumps(targets.case_to_json(value), indent=2) + "\n"
        path = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
        path.write_text(text, "utf-8")
    return path


def _round(target: str, round_seed: int, examples: int, counter: list[int]) -> Any:
    """One hypothesis round; returns the shrunk failing input, or None."""
    failing: list[Any] = []
    strategy = targets.parser_inputs() if target == "parser" else targets.refine_inputs()
    body: Callable[[Any], object] = (
        targets.parser_target if target == "parser" else targets.refine_check_target
    )

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @seed(round_seed)
    @given(value=strategy)
    def run(value: Any) -> None:
        counter[0] += 1
        try:
            body(value)
        except Exception:
            failing[:] = [value]
            raise

    try:
        run()
    except Exception:
        traceback.print_exc()
        return failing[0] if failing else None
    return None


def fuzz_hypothesis(target: str, seconds: float, first_seed: int) -> dict[str, Any]:
    """Run rounds until ``seconds`` have passed; stop at the first failure."""
    start = time.perf_counter()
    counter = [0]
    rounds = 0
    failures: list[str] = []
    while time.perf_counter() - start < seconds:
        bad = _round(target, first_seed + rounds, ROUND, counter)
        rounds += 1
        if bad is not None:
            failures.append(str(save_regression(target, bad)))
            break
    return {
        "target": target,
        "engine": "hypothesis",
        "seconds": round(time.perf_counter() - start, 1),
        "executions": counter[0],
        "rounds": rounds,
        "failures": failures,
    }


def _atheris_child(seconds: float) -> None:
    """Drive the parser target with atheris (coverage-guided) for ``seconds``; libFuzzer
    ends the process itself, so this runs in a child process (see :func:`fuzz_atheris`).

    Only iamrefine and lark are instrumented: they are re-imported inside atheris's
    import hook, and the target's module-level names are pointed at the fresh modules."""
    import importlib

    import atheris

    for name in [m for m in sys.modules if m.split(".")[0] in ("iamrefine", "lark")]:
        del sys.modules[name]
    with atheris.instrument_imports(include=["iamrefine", "lark"]):
        parse = importlib.import_module("iamrefine.parse")
        write = importlib.import_module("iamrefine.write")
        errors = importlib.import_module("iamrefine.errors")
    targets.parse_policy = parse.parse_policy
    targets.dump_policy = write.dump_policy
    targets.PolicyError = errors.PolicyError
    corpus = Path(tempfile.mkdtemp(prefix="iamrefine-atheris-"))
    for data in targets.seed_texts():
        (corpus / hashlib.sha256(data).hexdigest()[:16]).write_bytes(data)

    def one(data: bytes) -> None:
        try:
            targets.parser_target(data)
        except Exception:
            save_regression("parser", data)
            raise

    argv = [sys.argv[0], str(corpus), f"-max_total_time={int(seconds)}", "-max_len=4096"]
    atheris.Setup(argv, one)
    atheris.Fuzz()


def fuzz_atheris(seconds: float) -> dict[str, Any]:
    """Run :func:`_atheris_child` in a child process and read libFuzzer's summary."""
    start = time.perf_counter()
    before = set(REGRESSIONS.glob("parser/*"))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", "--atheris-child", str(seconds)],
        cwd=REGRESSIONS.parents[2],
        capture_output=True,
        text=True,
        check=False,
    )
    done = re.findall(r"Done (\d+) runs in (\d+) second", proc.stderr)
    failures = sorted(str(p) for p in set(REGRESSIONS.glob("parser/*")) - before)
    if proc.returncode != 0 and not failures:
        failures = [f"atheris exited with {proc.returncode}: {proc.stderr[-500:]}"]
    return {
        "target": "parser",
        "engine": "atheris",
        "seconds": round(time.perf_counter() - start, 1),
        "executions": int(done[-1][0]) if done else 0,
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--target", choices=("parser", "refine", "all"), default="all")
    parser.add_argument("--minutes", type=float, default=10.0, help="time per target")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first round")
    parser.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--atheris-child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.atheris_child is not None:
        _atheris_child(args.atheris_child)
        return 0
    chosen = ("parser", "refine") if args.target == "all" else (args.target,)
    results = []
    for target in chosen:
        seconds = args.minutes * 60
        if args.engine == "atheris" and target == "parser":
            results.append(fuzz_atheris(seconds))
        else:
            results.append(fuzz_hypothesis(target, seconds, args.seed))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
