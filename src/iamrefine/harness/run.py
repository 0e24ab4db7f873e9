"""Running a refiner under test: a subprocess with a timeout and bounded output.

The child runs in its own session (so in its own process group); on a timeout, or
when its stdout grows past the cap, the whole group is killed, grandchildren
included. Standard output is kept up to the cap; standard error keeps only its
tail. Nothing the child does, including leaving a process outside its group that
holds its pipes open, can make the harness block past the timeout or run out of
memory.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Literal

DEFAULT_MAX_OUTPUT = 10 * 1024 * 1024
DEFAULT_STDERR_TAIL = 4096
_CHUNK = 65536
_GRACE_SECONDS = 0.2
_POLL_SECONDS = 0.05
"""How often the child's exit is checked while its pipes are quiet."""

RunStatus = Literal["ok", "failed", "timeout", "overflow", "unstartable"]


@dataclass(frozen=True)
class RunOutcome:
    """What a finished (or killed) child left behind.

    ``status`` is ``ok`` (exit 0), ``failed`` (nonzero exit or killed by a signal),
    ``timeout``, ``overflow`` (stdout exceeded the cap) or ``unstartable`` (the
    program could not be started; ``message`` says why). ``returncode`` is negative
    for a signal, as in :mod:`subprocess`.
    """

    status: RunStatus
    returncode: int | None
    stdout: bytes
    stderr_tail: bytes
    seconds: float
    message: str = ""


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class _Capture:
    """Everything read from the child's stdout (up to the cap) and stderr (its tail)."""

    def __init__(self, cap: int, keep: int) -> None:
        self.cap = cap
        self.keep = keep
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.tail = bytearray()

    def stdout(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self.size += len(chunk)
        if self.size > self.cap:
            self.overflow = True
            self.chunks.clear()
        else:
            self.chunks.append(chunk)

    def stderr(self, chunk: bytes) -> None:
        self.tail += chunk
        if len(self.tail) > self.keep:
            del self.tail[: len(self.tail) - self.keep]


def run_command(
    argv: list[str],
    *,
    timeout: float,
    max_output: int = DEFAULT_MAX_OUTPUT,
    stderr_tail: int = DEFAULT_STDERR_TAIL,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> RunOutcome:
    """Run ``argv`` (no shell) with stdin closed and return its outcome.

    The child gets ``timeout`` seconds of wall-clock time; then its process group
    is killed and the outcome is ``timeout``. A stdout larger than ``max_output``
    bytes kills the group at once (``overflow``). Processes the child left running
    in its group after exiting are killed too. A process that escaped the group
    (``setsid``) and still holds a pipe is not waited for: the pipes are read, in
    this thread, only until the child has exited and :data:`_GRACE_SECONDS` have
    passed, and never past the timeout, so the call returns within ``timeout`` plus
    the grace whatever the child and its descendants do.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
    except OSError as exc:
        return RunOutcome(
            "unstartable",
            None,
            b"",
            b"",
            time.monotonic() - start,
            f"cannot start `{argv[0]}`: {exc.strerror or exc}",
        )
    assert proc.stdout is not None and proc.stderr is not None
    capture = _Capture(max_output, stderr_tail)
    sinks = {proc.stdout.fileno(): capture.stdout, proc.stderr.fileno(): capture.stderr}
    deadline = start + timeout
    timed_out = False
    drain_until: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd in sinks:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if drain_until is None and proc.poll() is not None:
                # The child is gone: kill what it left in its group, then read what is
                # buffered for a short while only.
                _kill_group(proc.pid)
                drain_until = now + _GRACE_SECONDS
            if drain_until is None and now >= deadline:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
                drain_until = now + _GRACE_SECONDS
            limit = deadline if drain_until is None else drain_until
            if drain_until is not None and now >= drain_until:
                break
            for key, _ in selector.select(min(max(0.0, limit - now), _POLL_SECONDS)):
                fd = key.fd
                try:
                    chunk = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(fd)
                    continue
                sinks[fd](chunk)
                if capture.overflow:
                    _kill_group(proc.pid)
    if proc.poll() is None:
        # Both pipes closed before the child exited, or the overflow kill is landing.
        remaining = deadline - time.monotonic()
        try:
            proc.wait(max(0.0, remaining))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            proc.wait()
    seconds = time.monotonic() - start
    proc.stdout.close()
    proc.stderr.close()
    tail = bytes(capture.tail)
    if capture.overflow:
        return RunOutcome(
            "overflow", proc.returncode, b"", tail, seconds, f"output exceeds {max_output} bytes"
        )
    if timed_out:
        return RunOutcome(
            "timeout", None, b"".join(capture.chunks), tail, seconds, f"killed after {timeout:g} s"
        )
    returncode = proc.returncode
    status: RunStatus = "ok" if returncode == 0 else "failed"
    message = "" if returncode == 0 else _describe_exit(returncode)
    return RunOutcome(status, returncode, b"".join(capture.chunks), tail, seconds, message)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"
