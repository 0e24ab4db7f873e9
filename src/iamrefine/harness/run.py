"""Running a refiner under test: a subprocess with a timeout and bounded output.

The child runs in its own session (so in its own process group); on a timeout, or
when its stdout grows past the cap, the whole group is killed, grandchildren
included. Standard output is kept up to the cap; standard error keeps only its
tail. Nothing the child does can make the harness block forever or run out of
memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Literal

DEFAULT_MAX_OUTPUT = 10 * 1024 * 1024
DEFAULT_STDERR_TAIL = 4096
_CHUNK = 65536
_DRAIN_SECONDS = 5.0
_GRACE_SECONDS = 0.2

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


class _StdoutReader(threading.Thread):
    def __init__(self, stream: IO[bytes], cap: int, pgid: int) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.cap = cap
        self.pgid = pgid
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False

    def run(self) -> None:
        while True:
            chunk = self.stream.read1(_CHUNK)  # type: ignore[attr-defined]
            if not chunk:
                return
            if self.overflow:
                continue
            self.size += len(chunk)
            if self.size > self.cap:
                self.overflow = True
                self.chunks.clear()
                _kill_group(self.pgid)
            else:
                self.chunks.append(chunk)


class _TailReader(threading.Thread):
    def __init__(self, stream: IO[bytes], keep: int) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.keep = keep
        self.tail = bytearray()

    def run(self) -> None:
        while True:
            chunk = self.stream.read1(_CHUNK)  # type: ignore[attr-defined]
            if not chunk:
                return
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
    in its group after exiting are killed too, so that they cannot hold its pipes.
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
    out = _StdoutReader(proc.stdout, max_output, proc.pid)
    err = _TailReader(proc.stderr, stderr_tail)
    out.start()
    err.start()
    exited = threading.Event()

    def _reap() -> None:
        proc.wait()
        exited.set()

    threading.Thread(target=_reap, daemon=True).start()
    timed_out = not exited.wait(timeout)
    if timed_out:
        _kill_group(proc.pid)
        exited.wait()
    seconds = time.monotonic() - start
    grace = time.monotonic() + _GRACE_SECONDS
    for reader in (out, err):
        reader.join(max(0.0, grace - time.monotonic()))
    if out.is_alive() or err.is_alive():
        # The child is gone but something it started still holds a pipe.
        _kill_group(proc.pid)
        out.join(_DRAIN_SECONDS)
        err.join(_DRAIN_SECONDS)
    proc.stdout.close()
    proc.stderr.close()
    tail = bytes(err.tail)
    if out.overflow:
        return RunOutcome(
            "overflow", proc.returncode, b"", tail, seconds, f"output exceeds {max_output} bytes"
        )
    if timed_out:
        return RunOutcome(
            "timeout", None, b"".join(out.chunks), tail, seconds, f"killed after {timeout:g} s"
        )
    returncode = proc.returncode
    status: RunStatus = "ok" if returncode == 0 else "failed"
    message = "" if returncode == 0 else _describe_exit(returncode)
    return RunOutcome(status, returncode, b"".join(out.chunks), tail, seconds, message)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"
