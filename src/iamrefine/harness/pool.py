"""Running one function over many cases, in this process or in worker processes.

Grading and batch refinement do solver work per case. Z3 is not safe to drive
from several threads of one process, so parallel runs use worker processes
(started with ``spawn``, so that no lock held by a thread of the parent, such as
the progress bar's, is inherited). Each worker is initialised once, typically to
load the action catalog, then takes one case at a time over its own pipe, so the
parent always knows which case each worker holds:

- a worker that dies (killed, out of memory, a crash in a native library) costs
  only the case it held: that case's result is ``on_crash(case, reason)``, a fresh
  worker takes its place, and the run goes on;
- a worker whose parent dies exits within :data:`PARENT_CHECK_SECONDS`, even in
  the middle of a case, so that no orphan keeps computing (or holds memory) after
  the run is gone;
- workers ignore SIGINT: Ctrl-C interrupts the parent, which stops them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from iamrefine.errors import InternalError

T = TypeVar("T")
R = TypeVar("R")

PARENT_CHECK_SECONDS = 0.25
"""How often a worker checks that its parent is still alive."""

_MAX_STARTUP_DEATHS = 3
"""Workers in a row that may die before finishing their initializer; one more means
that the initializer itself kills them, and the run stops instead of looping."""


def run_cases(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    jobs: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...] = (),
    on_crash: Callable[[T, str], R] | None = None,
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` for every item, in completion order.

    ``initializer(*initargs)`` runs once per worker (once in this process when
    ``jobs`` is 1). ``fn`` must catch its own errors: an exception it raises
    stops the run. When a worker process dies, the item it held yields
    ``on_crash(item, reason)`` (``reason`` says how it died) and a new worker is
    started; without ``on_crash``, :class:`InternalError` is raised. Closing the
    iterator early (or an exception in the consumer) kills the workers.
    """
    if not items:
        return
    if jobs <= 1 or len(items) <= 1:
        initializer(*initargs)
        for item in items:
            yield item, fn(item)
        return
    pool = _Pool(fn, initializer, initargs, min(jobs, len(items)))
    try:
        yield from pool.run(items, on_crash)
    finally:
        pool.stop()


@dataclass
class _Worker:
    process: Any
    conn: Connection
    index: int | None = None
    ready: bool = False


@dataclass
class _Pool(Generic[T, R]):
    fn: Callable[[T], R]
    initializer: Callable[..., None]
    initargs: tuple[Any, ...]
    size: int
    workers: list[_Worker] = field(default_factory=list)
    retired: list[_Worker] = field(default_factory=list)

    def start(self) -> _Worker:
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=_worker_main,
            args=(child_end, self.fn, self.initializer, self.initargs, os.getpid()),
            daemon=True,
        )
        process.start()
        child_end.close()
        worker = _Worker(process, parent_end)
        self.workers.append(worker)
        return worker

    def run(
        self, items: Sequence[T], on_crash: Callable[[T, str], R] | None
    ) -> Iterator[tuple[T, R]]:
        queue = iter(range(len(items)))
        startup_deaths = 0
        for _ in range(self.size):
            self._give(self.start(), items, queue)
        while self.workers:
            waitables: list[Any] = [w.conn for w in self.workers]
            waitables += [w.process.sentinel for w in self.workers]
            ready = set(wait(waitables))
            for worker in list(self.workers):
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                index = worker.index
                assert index is not None
                message = _receive(worker.conn)
                if message is not None:
                    kind, payload = message
                    if kind == "ready":
                        worker.ready = True
                        startup_deaths = 0
                    elif kind == "error":
                        raise payload
                    else:
                        self._give(worker, items, queue)
                        yield items[index], payload
                    continue
                # The pipe closed without a result: the worker died holding ``index``.
                worker.process.join()
                reason = f"its worker process died ({_describe(worker.process.exitcode)})"
                self._retire(worker)
                if not worker.ready:
                    startup_deaths += 1
                    if startup_deaths > _MAX_STARTUP_DEATHS:
                        raise InternalError(f"worker processes die while starting: {reason}")
                if on_crash is None:
                    raise InternalError(f"case {items[index]!r}: {reason}")
                self._give(self.start(), items, queue)
                yield items[index], on_crash(items[index], reason)

    def _give(self, worker: _Worker, items: Sequence[T], queue: Iterator[int]) -> None:
        """Hand ``worker`` the next item, or let it exit when none is left."""
        index = next(queue, None)
        if index is None:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            self._retire(worker)
            return
        worker.index = index
        # A worker that died since its last result cannot take the item; the next
        # wait sees its death and records the item as crashed.
        with contextlib.suppress(OSError):
            worker.conn.send(items[index])

    def _retire(self, worker: _Worker) -> None:
        worker.index = None
        with contextlib.suppress(OSError):
            worker.conn.close()
        self.workers.remove(worker)
        self.retired.append(worker)

    def stop(self) -> None:
        """Kill every worker still running (after an early stop) and reap them all."""
        everyone = [*self.workers, *self.retired]
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in everyone:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            with contextlib.suppress(OSError):
                worker.conn.close()


def _receive(conn: Connection) -> tuple[str, Any] | None:
    """The worker's next message, or None when its end of the pipe is closed."""
    try:
        if not conn.poll():
            return None
        message: tuple[str, Any] = conn.recv()
        return message
    except (EOFError, OSError):
        return None


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def _watch_parent(parent: int) -> None:
    """Exit this process as soon as ``parent`` is no longer its parent (it died and
    this process was re-parented), even while the main thread is busy."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_main(
    conn: Connection,
    fn: Callable[[Any], Any],
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    parent: int,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(parent)
    initializer(*initargs)
    conn.send(("ready", None))
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        try:
            result = fn(item)
        except Exception as exc:
            conn.send(("error", exc))
            return
        conn.send(("result", result))
