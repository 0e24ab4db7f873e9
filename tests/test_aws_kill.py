"""A ``recommend`` run killed with SIGKILL part way through, then run again: the rerun
keeps what was finished, redoes the rest, and ends with exactly the output of a run
that was never interrupted (nothing lost, nothing twice, no temporary file left)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aws_world as w
from iamrefine.aws.recommend import RecommendOptions, recommend
from iamrefine.certificate import parse_certificate, stable_view

SCRIPT = Path(w.__file__)
POLICIES = 7


def _tree(out: Path) -> dict[str, Any]:
    """Every file under ``out`` by relative path, without what varies from run to run
    (times, and whether a result was kept from an earlier run)."""
    found: dict[str, Any] = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name == "summary.json":
            continue
        rel = str(path.relative_to(out))
        text = path.read_text()
        if path.name == "certificate.json":
            found[rel] = stable_view(parse_certificate(text, rel))
        elif path.name == "done":
            done = json.loads(text)
            done["result"].pop("seconds")
            done["result"].pop("resumed")
            found[rel] = done
        else:
            found[rel] = text
    return found


def _dones(out: Path) -> set[str]:
    return {str(p.parent.relative_to(out)) for p in out.glob("*/*/*/done")}


@pytest.mark.slow
def test_kill_during_recommend_then_resume(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in w.environment().items():
        monkeypatch.setenv(key, value)
    reference = tmp_path / "reference"
    with w.world() as (connector, _, _):
        clean = recommend(connector, reference, options=RecommendOptions(analyzer_arn=w.ANALYZER))
    assert sum(1 for r in clean.results if r.outcome.value != "skipped") == POLICIES

    out = tmp_path / "out"
    env = {**os.environ, **w.environment()}
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    finished = 0
    for line in proc.stdout:
        if line.startswith("done "):
            finished += 1
            if finished == 2:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    kept = _dones(out)
    assert 2 <= len(kept) < POLICIES
    assert not (out / "summary.json").exists()

    rerun = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    redone = [
        line.split(" ", 1)[1] for line in rerun.stdout.splitlines() if line.startswith("done ")
    ]
    # Kept results are reported first (without work); each policy exactly once.
    assert sorted(redone) == sorted(_dones(reference))
    assert f"({len(kept)} kept from an earlier run)" in rerun.stdout
    summary = json.loads((out / "summary.json").read_text())
    folders = [p["folder"] for p in summary["policies"]]
    assert len(folders) == len(set(folders)) == POLICIES + 1
    assert {p["folder"] for p in summary["policies"] if p["resumed"]} == kept
    assert not list(out.rglob(".*.tmp"))
    assert _tree(out) == _tree(reference)
