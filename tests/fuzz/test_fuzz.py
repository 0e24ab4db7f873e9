"""The bounded CI run of each fuzz target, and the replay of saved regressions.

Each target runs a fixed number of derandomized hypothesis examples (a few seconds);
``IAMREFINE_FUZZ_EXAMPLES`` raises the count. The longer local mode is
``python -m tests.fuzz.run`` (see :mod:`tests.fuzz.run`). Every input saved under
``tests/fuzz/regressions/`` (a failure found by a longer run) is replayed here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from .run import REGRESSIONS
from .strategies import Case
from .targets import (
    case_from_json,
    parser_inputs,
    parser_target,
    refine_check_target,
    refine_inputs,
)

PARSER_EXAMPLES = int(os.environ.get("IAMREFINE_FUZZ_EXAMPLES", "1500"))
REFINE_EXAMPLES = max(1, PARSER_EXAMPLES // 5)
COUNTS: dict[str, dict[str, Any]] = {}


def _record() -> None:
    folder = os.environ.get("IAMREFINE_RELIABILITY_DIR")
    if folder:
        Path(folder, "fuzz.json").write_text(json.dumps(COUNTS, indent=2), "utf-8")


def _bounded(name: str, examples: int, strategy: Any, body: Any) -> None:
    outcomes: dict[str, int] = {}
    start = time.perf_counter()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(value=strategy)
    def run(value: Any) -> None:
        outcome = body(value)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    try:
        run()
    finally:
        COUNTS[name] = {
            "executions": sum(outcomes.values()),
            "outcomes": outcomes,
            "seconds": round(time.perf_counter() - start, 1),
        }
        _record()


@pytest.mark.slow
def test_fuzz_parser() -> None:
    _bounded("parser", PARSER_EXAMPLES, parser_inputs(), parser_target)
    outcomes = COUNTS["parser"]["outcomes"]
    assert outcomes.get("ok", 0) > 0 and outcomes.get("error", 0) > 0, outcomes


@pytest.mark.slow
def test_fuzz_refine_and_check() -> None:
    _bounded("refine", REFINE_EXAMPLES, refine_inputs(), refine_check_target)
    assert COUNTS["refine"]["outcomes"] == {"PROVED": COUNTS["refine"]["executions"]}


def _saved(target: str) -> list[Path]:
    folder = REGRESSIONS / target
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("path", _saved("parser"), ids=lambda p: p.name)
def test_parser_regression(path: Path) -> None:
    assert parser_target(path.read_bytes()) in ("ok", "error")


@pytest.mark.parametrize("path", _saved("refine"), ids=lambda p: p.name)
def test_refine_regression(path: Path) -> None:
    case: Case = case_from_json(json.loads(path.read_text("utf-8")))
    assert refine_check_target(case) == "PROVED"
