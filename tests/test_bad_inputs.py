"""The hostile-input suite: every case in ``tests/bad_inputs/MANIFEST.json`` is run
through the real command line in a subprocess under resource limits.

Each case names its input (a committed file under ``tests/bad_inputs/``, or a
generator for inputs too large to commit: 100,000-deep nesting, 50 MB files, a
100,000-character action), the command to run, the expected exit code and the
expected message fragments. Placeholders in the command: ``{input}`` (the case's
input), ``{policy}``, ``{unused}``, ``{catalog}`` (well-formed companions in
``bad_inputs/good/``) and ``{out}`` (an output path in a fresh folder).

Every case, whatever its outcome, must:

* finish within 30 s of wall time, under ``RLIMIT_AS`` = 2 GiB;
* print no Python traceback;
* print every stderr line as ``FILE[:LINE[:COL]]: error|warning: message``;
* leave the output folder holding either nothing (errors) or exactly the complete
  output file (warnings): no partial or temporary files.

An ``error`` case must exit 2 with at least one error line and nothing on stdout; a
``warning`` case must exit 0 with at least one warning line and no error line, and
its output must satisfy the case's ``output`` property (the same output as another
command, or equal JSON to an expected file), which is what "carries on correctly"
means here. Setting ``IAMREFINE_RELIABILITY_DIR`` makes the test write one JSON
record per case there (used by ``scripts/reliability.py``).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SUITE = HERE / "bad_inputs"
MANIFEST = SUITE / "MANIFEST.json"

TIME_LIMIT = 30.0
MEMORY_LIMIT = 2 * 1024**3
_DIAGNOSTIC = re.compile(r"^.+?(?::\d+){0,2}: (error|warning|note): \S")
_LAUNCH = "import sys; sys.argv[0] = 'iamrefine'; from iamrefine.cli import main; main()"


def load_manifest() -> list[dict[str, Any]]:
    """The cases of the suite, in manifest order."""
    data = json.loads(MANIFEST.read_text("utf-8"))
    cases: list[dict[str, Any]] = data["cases"]
    return cases


def registered_commands() -> set[str]:
    """The names of the top-level commands and command groups of the CLI."""
    from iamrefine.cli.app import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    names |= {g.name for g in app.registered_groups if g.name}
    return names


# ---------------------------------------------------------------------------
# Generated inputs (too large to commit).


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _big_policy(size: int) -> str:
    stmt = json.dumps(
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}
    )
    count = size // (len(stmt) + 2) + 1
    body = ",\n".join([stmt] * count)
    return '{"Version": "2012-10-17", "Statement": [\n' + body + "\n]}\n"


def generate(spec: dict[str, Any], folder: Path) -> Path:
    """Write the generated input described by ``spec`` into ``folder``."""
    kind = spec["kind"]
    name = spec["name"]
    target = folder / name
    if kind == "empty-dir":
        target.mkdir()
        return target
    if kind == "policy-nesting":
        text = '{"Version": "2012-10-17", "Statement": ' + _nested(spec["depth"]) + "}\n"
    elif kind == "json-nesting":
        text = _nested(spec["depth"]) + "\n"
    elif kind == "object-nesting":
        depth = spec["depth"]
        text = '{"a": ' * depth + "1" + "}" * depth + "\n"
    elif kind == "big-policy":
        text = _big_policy(spec["bytes"])
    elif kind == "long-action":
        action = "s3:" + "A" * (spec["length"] - 3)
        text = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": {"Effect": "Allow", "Action": action, "Resource": "*"},
            }
        )
    elif kind == "big-name-list":
        names = spec["names"]
        item = ", ".join(json.dumps(n) for n in names)
        count = spec["bytes"] // (len(item) + 2) + 1
        text = "[" + ",\n".join([item] * count) + "]\n"
    elif kind == "big-template":
        head = "Resources:\n"
        block = "  Queue{n}:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: 5\n"
        count = spec["bytes"] // len(block.format(n=0)) + 1
        text = head + "".join(block.format(n=i) for i in range(count))
    elif kind == "big-text-lines":
        line = spec["line"] + "\n"
        text = line * (spec["bytes"] // len(line) + 1)
    else:
        raise ValueError(f"unknown generator `{kind}`")
    target.write_text(text, encoding="utf-8")
    return target


# ---------------------------------------------------------------------------
# Running one command under limits.


@dataclass
class Run:
    """One finished subprocess run of the CLI."""

    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    timed_out: bool


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_cli(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> Run:
    """Run ``iamrefine ARGV`` in a new session under RLIMIT_AS; kill it at ``timeout``."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=_limit,
            start_new_session=True,
        )
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return Run(
        argv=argv,
        exit_code=None if timed_out else proc.returncode,
        stdout=stdout,
        stderr=stderr,
        seconds=seconds,
        max_rss_mb=usage.ru_maxrss / 1024,
        timed_out=timed_out,
    )


# ---------------------------------------------------------------------------
# One case.


@dataclass
class CaseResult:
    """What a case did, for the report."""

    id: str
    category: str
    command: str
    outcome: str
    exit_code: int | None
    seconds: float
    max_rss_mb: float
    first_line: str
    failures: list[str] = field(default_factory=list)
    skipped: str | None = None


def _fill(text: str, names: dict[str, str]) -> str:
    for key, value in names.items():
        text = text.replace("{" + key + "}", value)
    return text


def _substitute(argv: list[str], names: dict[str, str]) -> list[str]:
    return [_fill(a, names) for a in argv]


def run_case(case: dict[str, Any], work: Path, env: dict[str, str]) -> tuple[CaseResult, Run]:
    """Run one manifest case in ``work`` (a fresh folder) and check every property."""
    if "generate" in case:
        input_path = str(generate(case["generate"], work))
    else:
        input_path = case.get("input", "")
    out_dir = work / "out"
    out_dir.mkdir()
    names = {
        "input": input_path,
        "policy": "good/policy.json",
        "unused": "good/unused.json",
        "catalog": "good/catalog.json",
        "out": str(out_dir / "result.json"),
    }
    argv = _substitute(case["run"], names)
    run = run_cli(argv, cwd=SUITE, env=env, timeout=TIME_LIMIT)
    failures = check_run(case, run, names, out_dir, env)
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    result = CaseResult(
        id=case["id"],
        category=case["category"],
        command=case["run"][0],
        outcome=case["outcome"],
        exit_code=run.exit_code,
        seconds=round(run.seconds, 3),
        max_rss_mb=round(run.max_rss_mb, 1),
        first_line=lines[0] if lines else "",
        failures=failures,
    )
    return result, run


def check_run(
    case: dict[str, Any], run: Run, names: dict[str, str], out_dir: Path, env: dict[str, str]
) -> list[str]:
    """Every violated property of ``run`` against ``case``, as readable strings."""
    problems: list[str] = []
    if run.timed_out:
        return [f"killed after {TIME_LIMIT:.0f} s"]
    if run.seconds > TIME_LIMIT:
        problems.append(f"took {run.seconds:.1f} s")
    if "Traceback" in run.stderr or "Traceback" in run.stdout:
        problems.append("printed a traceback")
    if run.exit_code != case["exit"]:
        problems.append(f"exit code {run.exit_code}, expected {case['exit']}")
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    stray = [ln for ln in lines if not _DIAGNOSTIC.match(ln)]
    if stray:
        problems.append(
            f"{len(stray)} stderr lines are not diagnostics, the last: {stray[-1][:200]!r}"
        )
    for fragment in case.get("expect", []):
        wanted = _fill(fragment, names)
        if wanted not in run.stderr:
            problems.append(f"stderr lacks {wanted!r}")
    severities = {m.group(1) for ln in lines if (m := _DIAGNOSTIC.match(ln))}
    produced = sorted(p.name for p in out_dir.iterdir())
    writes_out = any("{out}" in a for a in case["run"])
    if case["outcome"] == "error":
        if "error" not in severities:
            problems.append("no error line on stderr")
        if run.stdout and "--json" not in case["run"]:
            problems.append(f"printed to stdout on error: {run.stdout[:100]!r}")
        if produced:
            problems.append(f"left files in the output folder: {produced}")
    else:
        if case["outcome"] == "warning" and "warning" not in severities:
            problems.append("no warning line on stderr")
        if "error" in severities:
            problems.append("printed an error line")
        expected_files = ["result.json"] if writes_out else []
        if produced != expected_files:
            problems.append(f"output folder holds {produced}, expected {expected_files}")
        problems.extend(_check_output(case, run, names, out_dir, env))
    return problems


_REFERENCE_RUNS: dict[tuple[str, ...], Run] = {}
_REFERENCE_LOCK = threading.Lock()


def _reference_run(argv: tuple[str, ...], env: dict[str, str]) -> Run:
    """The run of a well-formed reference command, once per command line."""
    with _REFERENCE_LOCK:
        if argv not in _REFERENCE_RUNS:
            _REFERENCE_RUNS[argv] = run_cli(list(argv), cwd=SUITE, env=env, timeout=TIME_LIMIT)
        return _REFERENCE_RUNS[argv]


def _check_output(
    case: dict[str, Any], run: Run, names: dict[str, str], out_dir: Path, env: dict[str, str]
) -> list[str]:
    prop = case.get("output")
    if prop is None:
        return []
    result_file = out_dir / "result.json"
    text = result_file.read_text("utf-8") if result_file.exists() else run.stdout
    if "stdout" in prop:
        return [] if text == prop["stdout"] else [f"output {text[:200]!r} != {prop['stdout']!r}"]
    if "file" in prop:
        expected = json.loads((SUITE / prop["file"]).read_text("utf-8"))
        try:
            got = json.loads(text)
        except ValueError:
            return [f"output is not JSON: {text[:200]!r}"]
        return [] if got == expected else [f"output {got} != expected {prop['file']}"]
    if "same_as" in prop:
        argv = _substitute(prop["same_as"], names)
        other = _reference_run(tuple(argv), env)
        if other.exit_code != 0:
            return [f"reference command {argv} failed: {other.stderr[:200]!r}"]
        if text != other.stdout:
            return [f"output differs from `iamrefine {' '.join(argv)}`"]
        return []
    raise ValueError(f"unknown output property {prop}")


# ---------------------------------------------------------------------------
# The tests.

WORKERS = 2


def _record(result: CaseResult) -> None:
    folder = os.environ.get("IAMREFINE_RELIABILITY_DIR")
    if not folder:
        return
    path = Path(folder) / "bad_inputs.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(result)) + "\n")


def run_suite(cases: list[dict[str, Any]], work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run every case (``WORKERS`` at a time); map each id to ``(CaseResult, Run | None)``.

    A case whose command the CLI does not offer is recorded as skipped."""
    available = registered_commands()

    def one(index: int) -> tuple[CaseResult, Run | None]:
        case = cases[index]
        command = case["run"][0]
        if command not in available:
            skipped = CaseResult(
                id=case["id"],
                category=case["category"],
                command=command,
                outcome=case["outcome"],
                exit_code=None,
                seconds=0.0,
                max_rss_mb=0.0,
                first_line="",
                skipped=f"`iamrefine {command}` is not available",
            )
            return skipped, None
        folder = work / f"case-{index}"
        folder.mkdir()
        result, run = run_case(case, folder, env)
        shutil.rmtree(folder, ignore_errors=True)
        return result, run

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(one, range(len(cases))))
    for result, _ in outcomes:
        _record(result)
    return {result.id: (result, run) for result, run in outcomes}


CASES = load_manifest()


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every run: an isolated catalog cache, no colour."""
    env = dict(os.environ)
    env["IAMREFINE_CACHE_DIR"] = str(tmp_path_factory.mktemp("catalog-cache"))
    env["NO_COLOR"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONWARNINGS", None)
    return env


@pytest.fixture(scope="session")
def suite_results(
    tmp_path_factory: pytest.TempPathFactory, cli_env: dict[str, str]
) -> dict[str, Any]:
    """Every case of the manifest, run once for the session."""
    return run_suite(CASES, tmp_path_factory.mktemp("bad-inputs"), cli_env)


def test_manifest_is_complete() -> None:
    """At least 60 cases, unique ids, every committed input listed and every listed
    input present, and every required category covered."""
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)
    listed = {c["input"] for c in CASES if "input" in c}
    on_disk = {
        str(p.relative_to(SUITE))
        for p in SUITE.rglob("*")
        if p.is_file() and p.parent != SUITE and "good" not in p.parts and "expected" not in p.parts
    }
    assert listed == on_disk
    categories = {c["category"] for c in CASES}
    assert categories >= {
        "broken-json",
        "abuse",
        "pathological-pattern",
        "wrong-shape",
        "unknown-name",
        "broken-finding",
        "broken-catalog",
    }
    for case in CASES:
        assert case["outcome"] in ("error", "warning", "ok"), case["id"]
        assert case["exit"] == (2 if case["outcome"] == "error" else 0), case["id"]


def test_runner_catches_violations(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The checks can fail: a valid policy run as if it were an error case, and a
    wrong expected fragment, are both reported."""
    case = {
        "id": "self-test",
        "category": "wrong-shape",
        "input": "good/policy.json",
        "run": ["parse", "{input}"],
        "outcome": "error",
        "exit": 2,
        "expect": ["{input}:1:1: error: nothing"],
    }
    result, _ = run_case(case, tmp_path, cli_env)
    assert "exit code 0, expected 2" in result.failures
    assert "no error line on stderr" in result.failures
    assert any(f.startswith("stderr lacks") for f in result.failures)
    assert any(f.startswith("printed to stdout on error") for f in result.failures)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case: dict[str, Any], suite_results: dict[str, Any]) -> None:
    result, run = suite_results[case["id"]]
    if run is None:
        pytest.skip(result.skipped)
    assert not result.failures, (
        "\n".join(result.failures) + f"\n--- stderr ---\n{run.stderr[:3000]}"
        f"\n--- stdout ---\n{run.stdout[:1000]}"
    )
