"""Faults of ``refine-batch`` and its worker pool, with real processes and real
signals (issue 15 items 5-8): a killed worker fails only its case; workers exit
when the run's process dies; Ctrl-C writes a partial summary and says how to
resume; stale temporary files are swept; a resumed run checks its outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iamrefine.errors import InternalError
from iamrefine.harness.batch import refine_batch
from iamrefine.harness.pool import run_cases
from pool_helpers import die_at_start, die_on_two, no_setup

CATALOG = ["s3:GetObject", "s3:GetObjectAcl", "s3:PutObject", "s3:ListBucket", "iam:GetUser"]


def _corpus(root: Path, count: int) -> tuple[Path, Path]:
    """``count`` cases that refine ``s3:*`` (so each one is proved), and a small catalog."""
    corpus = root / "corpus"
    for i in range(count):
        folder = corpus / f"case-{i:03d}"
        folder.mkdir(parents=True)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:*", "iam:GetUser"], "Resource": "*"}],
        }
        (folder / "policy.json").write_text(json.dumps(policy, indent=2) + "\n")
        (folder / "unused.json").write_text(json.dumps([CATALOG[i % 3]]))
    catalog = root / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    return corpus, catalog


def _start(corpus: Path, out: Path, catalog: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IAMREFINE_CACHE_DIR": str(out.parent / "cache")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iamrefine",
            "refine-batch",
            str(corpus),
            str(out),
            "--catalog",
            str(catalog),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _workers(pid: int) -> list[int]:
    return [c for c in _children(pid) if "spawn_main" in _cmdline(c)]


def _done(out: Path) -> list[str]:
    return sorted(p.parent.name for p in out.glob("*/done"))


@pytest.fixture
def linux_proc() -> Iterator[None]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    yield


@pytest.mark.slow
def test_a_killed_worker_fails_its_case_and_the_run_goes_on(
    tmp_path: Path, linux_proc: None
) -> None:
    corpus, catalog = _corpus(tmp_path, 12)
    out = tmp_path / "out"
    proc = _start(corpus, out, catalog, "--jobs", "2")
    try:
        _wait_for(lambda: len(_workers(proc.pid)) == 2, 60, "two workers")
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = stderr.decode()
    assert proc.returncode == 1, text
    assert "Traceback" not in text
    summary = json.loads((out / "summary.json").read_text())
    failed = [c for c in summary["cases"] if c["outcome"] == "failed"]
    assert len(failed) == 1, summary
    assert failed[0]["reason"] == "its worker process died (killed by SIGKILL)"
    error = json.loads((out / failed[0]["name"] / "error.json").read_text())
    assert error["reason"] == failed[0]["reason"]
    assert summary["summary"]["cases"] == 12
    assert len(_done(out)) == 11
    # The failed case has no `done`, so the next run redoes it, and only it.
    rerun = _start(corpus, out, catalog, "--jobs", "2")
    rerun.communicate(timeout=240)
    assert rerun.returncode == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["resumed"] == 11 and summary["summary"]["failed"] == 0


@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)]
)
def test_workers_exit_when_the_run_dies(tmp_path: Path, linux_proc: None, sig: int) -> None:
    corpus, catalog = _corpus(tmp_path, 40)
    out = tmp_path / "out"
    proc = _start(corpus, out, catalog, "--jobs", "2")
    helpers: list[int] = []
    try:
        _wait_for(lambda: len(_workers(proc.pid)) == 2, 60, "two workers")
        helpers = _children(proc.pid)  # the workers and multiprocessing's resource tracker
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        _wait_for(lambda: not any(_alive(p) for p in helpers), 15, "the workers to exit")
    finally:
        for pid in helpers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_ctrl_c_writes_a_partial_summary_and_says_how_to_resume(
    tmp_path: Path, linux_proc: None
) -> None:
    corpus, catalog = _corpus(tmp_path, 40)
    out = tmp_path / "out"
    proc = _start(corpus, out, catalog, "--jobs", "2")
    try:
        _wait_for(lambda: len(_done(out)) >= 2, 120, "two cases done")
        workers = _workers(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = stderr.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text
    assert "run the same command again to resume" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    finished = sorted(c["name"] for c in summary["cases"])
    assert summary["summary"]["pending"] == 40 - len(finished) > 0
    assert set(finished) <= set(_done(out)) | {
        c["name"] for c in summary["cases"] if c["outcome"] == "failed"
    }
    assert not any(_alive(p) for p in workers)
    rerun = _start(corpus, out, catalog, "--jobs", "2")
    rerun.communicate(timeout=300)
    assert rerun.returncode == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is False
    assert summary["summary"]["cases"] == 40
    assert summary["summary"]["resumed"] >= len(_done(out)) - (40 - len(finished))


def _stale(folder: Path, name: str) -> Path:
    """A temporary file named as ``write_atomic`` names them for ``name``."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.write(fd, b"partial")
    os.close(fd)
    return Path(tmp)


def test_stale_temporary_files_are_swept(tmp_path: Path) -> None:
    corpus, catalog = _corpus(tmp_path, 2)
    out = tmp_path / "out"
    stale = [
        _stale(out / "case-000", "refined.json"),
        _stale(out / "case-000", "done"),
        _stale(out / "case-001", "certificate.json"),
        _stale(out, "summary.json"),
    ]
    kept = [out / "case-000" / ".notes.tmp", out / "case-001" / "refined.json.tmp", out / "x.tmp"]
    for path in kept:
        path.write_text("mine")
    refine_batch(corpus, out, catalog_path=catalog)
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "mine" for p in kept)


def test_a_resumed_run_checks_the_outputs_recorded_in_done(tmp_path: Path) -> None:
    corpus, catalog = _corpus(tmp_path, 3)
    out = tmp_path / "out"
    refine_batch(corpus, out, catalog_path=catalog)
    refined = out / "case-001" / "refined.json"
    good = refined.read_text()
    done = json.loads((out / "case-001" / "done").read_text())
    assert set(done["outputs"]) == {"refined.json", "recommendation.json"}
    refined.write_text(good[: len(good) // 2])  # truncated, as by a crash or a full disk
    report = refine_batch(corpus, out, catalog_path=catalog)
    resumed = {c.name: c.resumed for c in report.cases}
    assert resumed == {"case-000": True, "case-001": False, "case-002": True}
    assert refined.read_text() == good


def test_the_pool_replaces_a_dead_worker() -> None:
    results = dict(
        run_cases(
            die_on_two,
            list(range(6)),
            jobs=2,
            initializer=no_setup,
            on_crash=lambda item, reason: -1 if "SIGKILL" in reason else -2,
        )
    )
    assert results == {0: 0, 1: 10, 2: -1, 3: 30, 4: 40, 5: 50}
    with pytest.raises(InternalError, match="its worker process died"):
        dict(run_cases(die_on_two, list(range(6)), jobs=2, initializer=no_setup))


def test_an_initializer_that_kills_its_worker_stops_the_run() -> None:
    with pytest.raises(InternalError, match="worker processes die while starting"):
        dict(
            run_cases(
                die_on_two,
                list(range(8)),
                jobs=2,
                initializer=die_at_start,
                on_crash=lambda item, reason: -1,
            )
        )
