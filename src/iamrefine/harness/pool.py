"""Running one function over many cases, in this process or in worker processes.

Grading and batch refinement do solver work per case. Z3 is not safe to drive
from several threads of one process, so parallel runs use a process pool
(started with ``spawn``, so that no lock held by a thread of the parent, such as
the progress bar's, is inherited). Each worker is initialised once, typically to
load the action catalog, and results come back as picklable objects in
completion order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_cases(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    jobs: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...] = (),
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` for every item, in completion order.

    ``initializer(*initargs)`` runs once per worker (once in this process when
    ``jobs`` is 1). ``fn`` must catch its own errors: an exception it raises
    stops the run. At most ``2 * jobs`` items are in flight, so that an early
    stop does not leave a long queue behind.
    """
    if not items:
        return
    if jobs <= 1 or len(items) <= 1:
        initializer(*initargs)
        for item in items:
            yield item, fn(item)
        return
    context = multiprocessing.get_context("spawn")
    workers = min(jobs, len(items))
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=initializer, initargs=initargs
    ) as pool:
        pending: dict[Future[R], T] = {}
        queue = iter(items)
        try:
            for item in queue:
                pending[pool.submit(fn, item)] = item
                if len(pending) >= 2 * workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    yield item, future.result()
                for item in queue:
                    pending[pool.submit(fn, item)] = item
                    if len(pending) >= 2 * workers:
                        break
        finally:
            for future in pending:
                future.cancel()
