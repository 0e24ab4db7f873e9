"""Bounded refiner runs: exit statuses, timeouts that kill the whole process group,
output caps, leftover background processes, and the Python-callable runner."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from iamrefine.harness.pyrunner import PATH_ENV, resolve
from iamrefine.harness.run import run_command

PY = sys.executable


def _gone(pid: int) -> bool:
    """Has the process exited (a zombie awaiting its reaper counts as exited)?"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_ok_keeps_stdout_and_stderr_tail() -> None:
    code = "import sys; print('out'); sys.stderr.write('x' * 10000 + 'END')"
    outcome = run_command([PY, "-c", code], timeout=20, stderr_tail=100)
    assert outcome.status == "ok"
    assert outcome.returncode == 0
    assert outcome.stdout == b"out\n"
    assert len(outcome.stderr_tail) == 100
    assert outcome.stderr_tail.endswith(b"END")


def test_nonzero_exit_and_signal() -> None:
    outcome = run_command([PY, "-c", "import sys; sys.exit(3)"], timeout=20)
    assert (outcome.status, outcome.returncode, outcome.message) == ("failed", 3, "exit status 3")
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    outcome = run_command([PY, "-c", code], timeout=20)
    assert outcome.status == "failed"
    assert outcome.message == "killed by SIGSEGV"


def test_unstartable_program() -> None:
    outcome = run_command(["/nonexistent/refiner", "x"], timeout=5)
    assert outcome.status == "unstartable"
    assert "`/nonexistent/refiner`" in outcome.message


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(c.pid))\n"
        "print('partial', flush=True)\n"
        "time.sleep(300)\n"
    )
    start = time.monotonic()
    outcome = run_command([PY, "-c", code], timeout=2)
    assert time.monotonic() - start < 10
    assert outcome.status == "timeout"
    assert outcome.stdout == b"partial\n"
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild)


def test_output_cap_kills_at_once() -> None:
    code = "import sys\nwhile True: sys.stdout.write('x' * 65536)"
    start = time.monotonic()
    outcome = run_command([PY, "-c", code], timeout=60, max_output=1_000_000)
    assert time.monotonic() - start < 10
    assert outcome.status == "overflow"
    assert outcome.stdout == b""
    assert outcome.message == "output exceeds 1000000 bytes"


def test_output_at_the_cap_is_kept() -> None:
    code = "import sys; sys.stdout.write('y' * 1_000_000)"
    outcome = run_command([PY, "-c", code], timeout=20, max_output=1_000_000)
    assert outcome.status == "ok"
    assert len(outcome.stdout) == 1_000_000


def test_background_leftover_does_not_hold_the_run() -> None:
    code = (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "print('done')\n"
    )
    start = time.monotonic()
    outcome = run_command([PY, "-c", code], timeout=30)
    assert time.monotonic() - start < 10
    assert outcome.status == "ok"
    assert outcome.stdout == b"done\n"


def test_resolve_reports_bad_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "h6mod.py").write_text("VALUE = 1\ndef fn(a, b):\n    return {'a': str(a)}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve("h6mod:fn")(1, 2) == {"a": "1"}
    for spec, message in [
        ("h6mod", "is not of the form `module:function`"),
        ("h6_no_such_module:fn", "cannot import module `h6_no_such_module`"),
        ("h6mod:missing", "has no attribute `missing`"),
        ("h6mod:VALUE", "is not callable"),
    ]:
        with pytest.raises(ValueError, match=message):
            resolve(spec)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("return {'Version': '2012-10-17'}", b'{\n  "Version": "2012-10-17"\n}\n'),
        ("return 'text'", b"text"),
        ("return b'\\xff'", b"\xff"),
    ],
)
def test_pyrunner_prints_the_result(tmp_path: Path, body: str, expected: bytes) -> None:
    (tmp_path / "h6out.py").write_text(f"def fn(policy, unused):\n    {body}\n")
    env = {**os.environ, PATH_ENV: json.dumps([str(tmp_path)])}
    argv = [PY, "-m", "iamrefine.harness.pyrunner", "h6out:fn", "p.json", "u.json"]
    outcome = run_command(argv, timeout=30, env=env)
    assert outcome.status == "ok", outcome.stderr_tail
    assert outcome.stdout == expected


def test_pyrunner_exception_and_bad_return_are_failures(tmp_path: Path) -> None:
    (tmp_path / "h6bad.py").write_text(
        "def boom(p, u):\n    raise RuntimeError('kaput')\ndef wrong(p, u):\n    return 42\n"
    )
    env = {**os.environ, PATH_ENV: json.dumps([str(tmp_path)])}
    for name, needle in (("boom", b"RuntimeError: kaput"), ("wrong", b"returned a `int`")):
        argv = [PY, "-m", "iamrefine.harness.pyrunner", f"h6bad:{name}", "p", "u"]
        outcome = run_command(argv, timeout=30, env=env)
        assert outcome.status == "failed"
        assert needle in outcome.stderr_tail


def _escaping(pidfile: Path, *, then: str) -> str:
    """A child that starts a process in a session of its own (as `setsid sleep 60 &`
    does) that inherits its stdout and stderr, then runs ``then``."""
    return (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        f"open({str(pidfile)!r}, 'w').write(str(c.pid))\n"
        f"{then}\n"
    )


def _kill(pidfile: Path) -> None:
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_a_process_escaping_the_group_does_not_hold_the_run(tmp_path: Path) -> None:
    """Issue 15 item 9: the escaped process keeps the pipes open for 60 s; the run
    returns as soon as the child has exited, with its output."""
    pidfile = tmp_path / "pid"
    try:
        start = time.monotonic()
        outcome = run_command(
            [PY, "-c", _escaping(pidfile, then="print('done', flush=True)")], timeout=30
        )
        assert time.monotonic() - start < 10
        assert outcome.status == "ok"
        assert outcome.stdout == b"done\n"
    finally:
        _kill(pidfile)


@pytest.mark.slow
def test_the_timeout_bounds_the_run_even_with_an_escaped_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    try:
        start = time.monotonic()
        outcome = run_command(
            [PY, "-c", _escaping(pidfile, then="print('partial', flush=True); time.sleep(300)")],
            timeout=2,
        )
        assert time.monotonic() - start < 6
        assert outcome.status == "timeout"
        assert outcome.stdout == b"partial\n"
    finally:
        _kill(pidfile)
