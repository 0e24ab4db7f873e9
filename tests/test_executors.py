"""``--executor`` (issue 20 item 1): its values, its refusals, the one loop written
against ``concurrent.futures``, and the catalog check of each worker. The runs on a
real Dask cluster are in ``test_dask_faults.py`` (slow)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iamrefine.catalog import load_catalog
from iamrefine.cli.app import app
from iamrefine.errors import CatalogError, InputError
from iamrefine.harness.executors import (
    CatalogRef,
    ExecutorKind,
    ExecutorSpec,
    _chunk,
    run_on_executor,
    worker_catalog,
)


@pytest.mark.parametrize(
    ("text", "kind", "address", "workers"),
    [
        ("local", ExecutorKind.LOCAL, "", 0),
        ("dask://scheduler.internal:8786", ExecutorKind.DASK, "scheduler.internal:8786", 0),
        ("dask://10.0.0.7:8786", ExecutorKind.DASK, "10.0.0.7:8786", 0),
        ("dask-local:2", ExecutorKind.DASK_LOCAL, "", 2),
    ],
)
def test_executor_values(text: str, kind: ExecutorKind, address: str, workers: int) -> None:
    spec = ExecutorSpec.parse(text)
    assert (spec.kind, spec.address, spec.workers) == (kind, address, workers)
    assert str(spec) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ray", "is not an executor"),
        ("dask://", "expected `dask://HOST:PORT`"),
        ("dask://host", "expected `dask://HOST:PORT`"),
        ("dask://host:port", "expected `dask://HOST:PORT`"),
        ("dask-local:0", "must be 1 to 1024"),
        ("dask-local:x", "is not an executor"),
    ],
)
def test_bad_executor_values_are_refused(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        ExecutorSpec.parse(text)
    rendered = caught.value.diagnostics[0].render()
    assert rendered.startswith("--executor: error: ") and message in rendered


def test_the_cli_refuses_a_bad_executor_before_any_work(tmp_path: Path) -> None:
    case = tmp_path / "corpus" / "a"
    case.mkdir(parents=True)
    (case / "policy.json").write_text(
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]})
    )
    (case / "unused.json").write_text("[]")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["refine-batch", str(tmp_path / "corpus"), str(out), "--executor", "dask-local"]
    )
    assert result.exit_code == 2
    assert "--executor: error: `dask-local` is not an executor" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


class _Died(Exception):
    pass


def _square_or_die(n: int) -> int:
    if n == 3:
        raise _Died("worker gone")
    return n * n


def test_the_executor_loop_yields_every_item_once_within_its_window() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return _square_or_die(n)
        finally:
            with lock:
                running -= 1

    with cf.ThreadPoolExecutor(4) as pool:
        found = dict(
            run_on_executor(
                pool,
                work,
                list(range(20)),
                window=3,
                lost=(_Died,),
                on_crash=lambda n, reason: -len(reason),
            )
        )
    assert sorted(found) == list(range(20))
    assert found[3] < 0 and all(found[n] == n * n for n in found if n != 3)
    assert most <= 3


class _CountingPool(cf.ThreadPoolExecutor):
    """A thread pool that records the items of each task submitted to it."""

    def __init__(self) -> None:
        super().__init__(2)
        self.tasks: list[list[int]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        self.tasks.append(list(args[0]))
        return super().submit(fn, *args, **kwargs)


def test_a_chunked_task_whose_worker_died_is_tried_again_one_item_per_task() -> None:
    with _CountingPool() as pool:
        found = list(
            run_on_executor(
                pool,
                _square_or_die,
                list(range(10)),
                window=2,
                chunk=4,
                lost=(_Died,),
                on_crash=lambda n, reason: -1,
            )
        )
    assert sorted(n for n, _ in found) == list(range(10))
    assert dict(found) == {n: -1 if n == 3 else n * n for n in range(10)}
    # [0..3] died (3 kills its worker); its items ran again alone, the others in fours.
    assert sorted(pool.tasks) == sorted([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0], [1], [2], [3]])


@pytest.mark.parametrize(
    ("items", "threads", "chunk"), [(12, 2, 1), (200, 2, 8), (100, 2, 6), (10**5, 64, 8)]
)
def test_small_runs_keep_one_case_per_task(items: int, threads: int, chunk: int) -> None:
    assert _chunk(items, threads) == chunk


def test_an_unexpected_task_error_stops_the_loop() -> None:
    with cf.ThreadPoolExecutor(2) as pool, pytest.raises(_Died):
        list(run_on_executor(pool, _square_or_die, list(range(6)), window=2))


def test_a_worker_refuses_a_catalog_with_another_digest(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(["s3:GetObject", "s3:PutObject"]))
    digest = load_catalog(path).digest
    assert worker_catalog(CatalogRef(str(path), digest)).digest == digest
    other = tmp_path / "other.json"
    other.write_text(json.dumps(["s3:GetObject"]))
    with pytest.raises(CatalogError) as caught:
        worker_catalog(CatalogRef(str(other), digest))
    assert f"not the run's {digest}" in caught.value.diagnostics[0].render()


def test_a_worker_without_the_corpus_grades_a_private_copy(tmp_path: Path) -> None:
    from iamrefine.harness.corpus import Case, CaseFiles

    folder = tmp_path / "corpus" / "a"
    folder.mkdir(parents=True)
    (folder / "policy.json").write_bytes(b'{"Version": "2012-10-17"}')
    (folder / "unused.json").write_bytes(b"[]")
    case = Case("a", folder)
    shipped = CaseFiles.read(case)
    with shipped.on_disk() as here:
        assert here == case  # the same bytes on a shared filesystem: the case itself
    # As on another machine: the corpus is not there (or holds other bytes).
    (folder / "unused.json").write_bytes(b'["s3:GetObject"]')
    with shipped.on_disk() as copy:
        assert copy.name == "a" and copy.folder != folder
        assert copy.policy_path.read_bytes() == shipped.policy
        assert copy.unused_path.read_bytes() == b"[]"
    assert not copy.folder.exists()
    missing = CaseFiles.read(Case("b", tmp_path / "corpus" / "b"))
    assert missing.problem.startswith("cannot read the case's files: ")


def test_a_worker_freezes_what_it_holds_once_its_catalog_is_loaded(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(["s3:GetObject", "s3:PutObject"]))
    digest = load_catalog(catalog).digest
    code = (
        "import gc\n"
        "from iamrefine.harness.executors import CatalogRef, worker_catalog\n"
        f"ref = CatalogRef({str(catalog)!r}, {digest!r})\n"
        "before = gc.get_freeze_count()\n"
        "worker_catalog(ref)\n"
        "after = gc.get_freeze_count()\n"
        "worker_catalog(ref)\n"
        "print(before, after, gc.get_freeze_count())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, again = map(int, done.stdout.split())
    assert before == 0
    assert after > 1000
    assert again == after
