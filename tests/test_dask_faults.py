"""``refine-batch`` on a real Dask ``LocalCluster`` (issue 20 item 3): a worker killed
mid-task has its task retried elsewhere and every case lands exactly once in OUT_DIR;
a client killed mid-run leaves no worker behind and a rerun resumes; a case over its
time budget is recorded as ``timeout`` with verdict UNKNOWN. Also: the cluster's
results are byte for byte the local pool's. Slow: each test starts a cluster."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from iamrefine.catalog import load_catalog  # noqa: E402
from iamrefine.harness.batch import BatchOptions, refine_batch  # noqa: E402
from iamrefine.harness.executors import ExecutorSpec  # noqa: E402

pytestmark = pytest.mark.slow

SERVICES = (["s3", "ec2"], ["s3", "iam"], ["ec2", "iam"], ["s3", "ec2", "iam"])


def _corpus(root: Path, count: int) -> Path:
    """``count`` cases over the default catalog, each allowing whole services with half
    of their actions unused, so that each takes a fraction of a second to prove."""
    catalog = load_catalog(None)
    corpus = root / "corpus"
    for i in range(count):
        services = SERVICES[i % len(SERVICES)]
        actions = [a for a in catalog.actions if a.split(":")[0].lower() in services]
        unused = sorted(random.Random(i).sample(actions, len(actions) // 2))
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": [f"{s}:*" for s in services], "Resource": "*"}
            ],
        }
        folder = corpus / f"case-{i:03d}"
        folder.mkdir(parents=True)
        (folder / "policy.json").write_text(json.dumps(policy, indent=2) + "\n")
        (folder / "unused.json").write_text(json.dumps(unused) + "\n")
    return corpus


def _written(out: Path) -> dict[str, list[str]]:
    return {
        p.name: sorted(f.name for f in p.iterdir()) for p in sorted(out.iterdir()) if p.is_dir()
    }


def _assert_each_case_once(corpus: Path, out: Path, summary: dict[str, Any]) -> None:
    names = sorted(p.name for p in corpus.iterdir())
    assert [c["name"] for c in summary["cases"]] == names
    assert all(c["outcome"] == "refined" for c in summary["cases"]), summary["cases"]
    written = _written(out)
    assert sorted(written) == names
    for files in written.values():
        assert files == ["done", "recommendation.json", "refined.json"], written


@pytest.fixture
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=50,
    ) as found:
        yield found


def test_a_worker_killed_mid_task_has_its_task_retried(tmp_path: Path, cluster: Any) -> None:
    corpus = _corpus(tmp_path, 12)
    out = tmp_path / "out"
    executor = ExecutorSpec.parse(f"dask://{cluster.scheduler_address.removeprefix('tcp://')}")
    reports: list[Any] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(refine_batch(corpus, out, executor=executor))
        except BaseException as exc:
            failures.append(exc)

    with distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 120
        victim: tuple[str, list[str]] | None = None
        while victim is None and time.monotonic() < deadline:
            busy = {w: list(keys) for w, keys in client.processing().items() if keys}
            # Only once a case has run: the first tasks also load the catalog.
            if busy and any(out.glob("*/done")):
                victim = next(iter(busy.items()))
            else:
                time.sleep(0.01)
        assert victim is not None, "no worker ever held a task"
        os.kill(pids[victim[0]], signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive() and not failures, failures
        # The scheduler ran the killed worker's task again, on a live worker.
        story = client.story(*victim[1])
    assert sum(1 for event in story if event[2] == "processing") >= 2, story
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["cases"] == 12 and summary["summary"]["failed"] == 0
    _assert_each_case_once(corpus, out, summary)


def _children(pid: int) -> list[int]:
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


def _tree(pid: int) -> list[int]:
    found = _children(pid)
    return found + [p for c in found for p in _tree(c)]


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _start(corpus: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iamrefine",
            "refine-batch",
            str(corpus),
            str(out),
            "--executor",
            "dask-local:2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_a_killed_client_leaves_no_worker_and_a_rerun_resumes(tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    corpus = _corpus(tmp_path, 16)
    out = tmp_path / "out"
    proc = _start(corpus, out)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("*/done"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = _tree(proc.pid)
        assert len(workers) >= 2, "the cluster's processes were not found"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        finished = len(list(out.glob("*/done")))
        assert 2 <= finished < 16
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "cluster processes outlived the client"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    rerun = _start(corpus, out)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr.decode()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["resumed"] >= finished
    _assert_each_case_once(corpus, out, summary)


def test_a_case_over_its_budget_is_a_timeout_and_dask_matches_local(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path, 4)
    executor = ExecutorSpec.parse("dask-local:1")
    out = tmp_path / "out"
    report = refine_batch(corpus, out, executor=executor, options=BatchOptions(case_timeout=0.001))
    assert [c.outcome for c in report.cases] == ["timeout"] * 4
    assert all(
        c.verdict == "UNKNOWN" and "time budget of 0.001 s" in c.reason for c in report.cases
    )
    assert all(files == ["error.json"] for files in _written(out).values())
    assert len(_written(out)) == 4
    # Nothing was kept: without the budget, a rerun refines every case, and its
    # files are the local pool's byte for byte.
    report = refine_batch(corpus, out, executor=executor)
    assert report.resumed == 0 and report.counts["refined"] == 4
    local = tmp_path / "local"
    refine_batch(corpus, local)
    for case in sorted(_written(out)):
        refined = (out / case / "refined.json").read_bytes()
        assert refined == (local / case / "refined.json").read_bytes()
        dask_recommendation, dask_done = (
            json.loads((out / case / n).read_text()) for n in ("recommendation.json", "done")
        )
        local_recommendation, local_done = (
            json.loads((local / case / n).read_text()) for n in ("recommendation.json", "done")
        )
        assert _untimed(dask_recommendation) == _untimed(local_recommendation)
        # The recommendation's digest differs with its timings; the rest is the same.
        del (
            dask_done["outputs"]["recommendation.json"],
            local_done["outputs"]["recommendation.json"],
        )
        assert dask_done == local_done


def _untimed(value: Any) -> Any:
    """``value`` without the solver's timings, which differ from run to run."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_regress_on_dask_gives_each_broken_refiner_its_verdict(tmp_path: Path) -> None:
    from iamrefine.harness.refiners import CommandRefiner
    from iamrefine.harness.regress import run_regress
    from test_harness_regress import EXPECTED, FIXTURES, PY, _make_corpus

    corpus = _make_corpus(tmp_path, list(EXPECTED))
    refiner = CommandRefiner.parse(f"{PY} {FIXTURES / 'by_case_name.py'} {{policy}} {{unused}}")
    report = run_regress(corpus, refiner, executor=ExecutorSpec.parse("dask-local:1"))
    assert {c.name.rpartition("-")[0]: c.verdict for c in report.cases} == EXPECTED


def _recommend_into(out: Path, executor: ExecutorSpec) -> Any:
    import aws_world as w
    from iamrefine.aws import compare
    from iamrefine.aws.recommend import RecommendOptions, recommend

    poll = compare.PollOptions(first=0.01, factor=2.0, ceiling=0.05, deadline=5.0)
    with w.world() as (connector, stub, arns):
        w.stub_aws_recommendations(stub, arns)
        options = RecommendOptions(
            analyzer_arn=w.ANALYZER, compare_aws=True, poll=poll, executor=executor
        )
        report = recommend(connector, out, options=options)
        stub.assert_no_pending_responses()
    return report


def test_aws_recommend_on_dask_writes_what_the_local_pool_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aws_world as w

    for key, value in w.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    local = _recommend_into(tmp_path / "local", ExecutorSpec.parse("local"))
    dask = _recommend_into(tmp_path / "dask", ExecutorSpec.parse("dask-local:1"))
    assert [(r.folder, r.outcome, r.verdict) for r in dask.results] == [
        (r.folder, r.outcome, r.verdict) for r in local.results
    ]
    for result in local.results:
        mine, theirs = tmp_path / "dask" / result.folder, tmp_path / "local" / result.folder
        names = sorted(p.name for p in theirs.iterdir()) if theirs.is_dir() else []
        assert (sorted(p.name for p in mine.iterdir()) if mine.is_dir() else []) == names
        for name in ("refined.json", "policy.json", "aws-recommendation.json"):
            if name in names:
                assert (mine / name).read_bytes() == (theirs / name).read_bytes()


def test_a_case_that_keeps_killing_its_workers_is_recorded_and_the_run_goes_on() -> None:
    import dask
    from distributed.scheduler import KilledWorker

    from iamrefine.harness.executors import run_on_executor
    from pool_helpers import die_on_two

    # Two deaths of the same task make the scheduler give up on it (KilledWorker).
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        found = dict(
            run_on_executor(
                client.get_executor(pure=False),
                die_on_two,
                [0, 1, 2, 3],
                # One task at a time: Dask counts a worker's death against every task
                # it held, and the test is about the one that kills it.
                window=1,
                lost=(KilledWorker,),
                on_crash=lambda item, reason: reason,
            )
        )
    assert {k: v for k, v in found.items() if k != 2} == {0: 0, 1: 10, 3: 30}
    assert str(found[2]).startswith("its worker died while running it (KilledWorker: ")
