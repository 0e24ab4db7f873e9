"""Run the reliability suite and regenerate ``tests/RELIABILITY.md`` from what it measured.

Usage, from the repository root::

    .venv/bin/python scripts/reliability.py                    # the CI sizes
    .venv/bin/python scripts/reliability.py --fuzz-minutes 10  # plus the longer fuzz mode
    .venv/bin/python scripts/reliability.py --differential-cases 5000
    .venv/bin/python scripts/reliability.py --mutmut /path/to/mutmut-site --mutmut-minutes 30
    .venv/bin/python scripts/reliability.py --render-only      # re-render the last figures

It runs ``tests/test_bad_inputs.py``, ``tests/fuzz/test_fuzz.py``,
``tests/test_differential.py``, ``tests/test_metamorphic.py`` and
``tests/test_mutation_kill.py`` under pytest with ``IAMREFINE_RELIABILITY_DIR`` set, so
that each test writes its counts there; with ``--fuzz-minutes`` it also runs
``python -m tests.fuzz.run`` for that long per target; with ``--mutmut`` (a folder from
which ``import mutmut`` works, e.g. ``pip install --target DIR mutmut``) it runs mutmut
on a copy of the committed tree (``git archive HEAD``) against the checker's source and
records the outcome. Everything measured goes to ``tests/RELIABILITY.json``; the
Markdown file is rendered from that JSON only. A figure that was not re-measured in a
run (the long fuzz mode, mutmut) keeps its last recorded value, with its date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
DATA = TESTS / "RELIABILITY.json"
REPORT = TESTS / "RELIABILITY.md"
SUITE_FILES = [
    "tests/test_bad_inputs.py",
    "tests/fuzz/test_fuzz.py",
    "tests/test_differential.py",
    "tests/test_conditions_adversarial.py",
    "tests/test_metamorphic.py",
    "tests/test_mutation_kill.py",
]
MUTMUT_TARGETS = ["reference.py", "encode.py", "verify.py"]
MUTMUT_TESTS = ["tests/test_reference.py", "tests/test_encode.py", "tests/test_verify.py"]
_MUTMUT_STATUS: dict[int | None, str] = {
    0: "survived",
    1: "killed",
    3: "killed",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    None: "not checked",
}
"""mutmut's exit codes per mutant (from ``mutmut.stats``), as recorded in its meta files."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "machine": f"{os.cpu_count()} cores"}
    for name in ("z3-solver", "cvc5", "hypothesis", "policy_sentry"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# ---------------------------------------------------------------------------
# Measuring.


def run_suite(env_sizes: dict[str, str], folder: Path) -> dict[str, Any]:
    """Run the reliability tests under pytest; return the per-test outcomes and timing."""
    junit = folder / "junit.xml"
    env = dict(os.environ, IAMREFINE_RELIABILITY_DIR=str(folder), **env_sizes)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            # Every test of these files, the slow ones included (addopts deselects them).
            "-m",
            "slow or not slow",
            *SUITE_FILES,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    files: dict[str, dict[str, Any]] = {}
    if junit.exists():
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            module = case.get("classname", "").split(".")[-1]
            entry = files.setdefault(
                module, {"passed": 0, "failed": 0, "skipped": 0, "seconds": 0.0}
            )
            entry["seconds"] = round(entry["seconds"] + float(case.get("time", 0)), 1)
            if case.find("failure") is not None or case.find("error") is not None:
                entry["failed"] += 1
            elif case.find("skipped") is not None:
                entry["skipped"] += 1
            else:
                entry["passed"] += 1
    tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    return {
        "exit_code": proc.returncode,
        "seconds": round(seconds, 1),
        "summary": tail[0] if tail else "",
        "modules": files,
        "sizes": env_sizes,
    }


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8")) if path.exists() else None


def _adversarial_row(adv: dict[str, Any]) -> str:
    """The adversarial condition differential in one line: cases, verdicts, time."""
    if not adv:
        return "not run"
    counts = adv.get("counts", {})
    verdicts = ", ".join(f"{k.split(' ', 1)[1]} {v}" for k, v in counts.items() if " " in k)
    where = f" (measured {adv['date']} at commit `{adv['commit']}`" if adv.get("date") else ""
    if where:
        where += f"; {adv['note']})" if adv.get("note") else ")"
    return (
        f"{adv.get('cases', 0)} cases ({verdicts}); 0 disagreements; {adv.get('seconds')} s" + where
    )


def collect(folder: Path) -> dict[str, Any]:
    """The records the tests wrote into ``folder``."""
    bad = []
    jsonl = folder / "bad_inputs.jsonl"
    if jsonl.exists():
        bad = [json.loads(line) for line in jsonl.read_text("utf-8").splitlines() if line]
    return {
        "bad_inputs": bad,
        "fuzz_ci": _read_json(folder / "fuzz.json"),
        "differential": _read_json(folder / "differential.json"),
        "adversarial": _read_json(folder / "adversarial.json"),
        "metamorphic": _read_json(folder / "metamorphic.json"),
        "mutation_kill": _read_json(folder / "mutation_kill.json"),
    }


def run_long_fuzz(
    minutes: float, folder: Path, atheris: Path | None = None
) -> list[dict[str, Any]]:
    """The longer fuzz mode for both targets (hypothesis), and with ``atheris`` (a folder
    from which ``import atheris`` works) the parser target under atheris too."""
    results: list[dict[str, Any]] = []
    runs: list[tuple[str, str, Path | None]] = [("all", "hypothesis", None)]
    if atheris is not None:
        runs.append(("parser", "atheris", atheris))
    for target, engine, site in runs:
        out = folder / f"long-fuzz-{engine}.json"
        env = dict(os.environ)
        if site is not None:
            env["PYTHONPATH"] = str(site)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.fuzz.run",
                "--target",
                target,
                "--engine",
                engine,
                "--minutes",
                str(minutes),
                "--json",
                str(out),
            ],
            cwd=REPO,
            env=env,
            check=False,
        )
        results += _read_json(out) or []
    return results


def run_mutmut(site: Path, minutes: float) -> dict[str, Any]:
    """mutmut on the checker's source in a copy of the committed tree, time-boxed."""
    commit = _git("rev-parse", "--short", "HEAD")
    work = Path(tempfile.mkdtemp(prefix="iamrefine-mutmut-"))
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)
    package = work / "src" / "iamrefine"
    skip = sorted(
        str(p.relative_to(work))
        for p in package.rglob("*.py")
        if p.name not in MUTMUT_TARGETS or p.parent != package
    )
    config = (
        "\n[tool.mutmut]\n"
        'paths_to_mutate = ["src/"]\n'
        f"do_not_mutate = {json.dumps(skip)}\n"
        f"tests_dir = {json.dumps(MUTMUT_TESTS)}\n"
        'also_copy = ["grammar", "examples", "tests"]\n'
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n'
    )
    with (work / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write(config)
    env = dict(os.environ, PYTHONPATH=str(site))
    start = time.perf_counter()
    log_path = work / "mutmut.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mutmut", "run", "--max-children", "1"],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=minutes * 60)
            finished = True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            finished = False
    seconds = time.perf_counter() - start
    record: dict[str, Any] = {
        "date": _now(),
        "commit": commit,
        "targets": MUTMUT_TARGETS,
        "tests": MUTMUT_TESTS,
        "minutes_allowed": minutes,
        "seconds": round(seconds, 1),
        "finished": finished,
        "exit_code": proc.returncode,
        "files": {},
    }
    for name in MUTMUT_TARGETS:
        meta = work / "mutants" / "src" / "iamrefine" / f"{name}.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text("utf-8")).get("exit_code_by_key", {})
        counts: dict[str, int] = {}
        for code in codes.values():
            status = _MUTMUT_STATUS.get(code, "suspicious")
            counts[status] = counts.get(status, 0) + 1
        record["files"][name] = counts
    if not record["files"]:
        text = log_path.read_text("utf-8", "replace")
        record["log_tail"] = text.replace("\r", "\n")[-2000:]
    shutil.rmtree(work, ignore_errors=True)
    return record


# ---------------------------------------------------------------------------
# Rendering.


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _short(text: str, n: int = 110) -> str:
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= n else text[: n - 3] + "..."


def _suite_summary(suite: dict[str, Any]) -> str:
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for module in suite["modules"].values():
        for key in totals:
            totals[key] += module[key]
    return ", ".join(f"{v} {k}" for k, v in totals.items())


def render(data: dict[str, Any]) -> str:
    run = data["run"]
    lines = [
        "# Reliability figures",
        "",
        "Generated by `scripts/reliability.py` from the counts the tests recorded; do not",
        "edit by hand. Re-run the script to update it.",
        "",
        f"- measured: {run['date']}, commit `{run['commit']}`",
        "- machine: " + ", ".join(f"{k} {v}" for k, v in run["versions"].items()),
        f"- suite: {_suite_summary(run['suite'])} in {run['suite']['seconds']} s of wall time "
        f"(exit code {run['suite']['exit_code']}; sizes: "
        f"{json.dumps(run['suite']['sizes']) if run['suite']['sizes'] else 'the CI defaults'}; "
        "per file: "
        + ", ".join(
            f"`{name}` {m['seconds']} s" for name, m in sorted(run["suite"]["modules"].items())
        )
        + ")",
        "",
    ]
    bad = data["bad_inputs"]
    ran = [b for b in bad if not b.get("skipped")]
    failed = [b for b in ran if b["failures"]]
    by_outcome: dict[str, int] = {}
    for b in ran:
        by_outcome[b["outcome"]] = by_outcome.get(b["outcome"], 0) + 1
    diff = data.get("differential") or {}
    fuzz = data.get("fuzz_ci") or {}
    kill = data.get("mutation_kill") or {}
    totals: dict[str, int] = {}
    for counts in kill.values():
        for key in ("mutants", "killed", "equivalent", "catalog-equivalent", "semantic"):
            totals[key] = totals.get(key, 0) + counts.get(key, 0)
    semantic = (
        totals.get("mutants", 0) - totals.get("equivalent", 0) - totals.get("catalog-equivalent", 0)
    )
    rate = f"{100 * totals.get('killed', 0) / semantic:.1f}%" if semantic else "n/a"
    lines += ["## Summary", ""]
    lines += _table(
        ["figure", "value"],
        [
            [
                "bad inputs tried",
                f"{len(ran)} ({', '.join(f'{v} {k}' for k, v in sorted(by_outcome.items()))}); "
                f"{len(failed)} failed, {len(bad) - len(ran)} skipped",
            ],
            [
                "slowest bad input / largest memory",
                f"{max((b['seconds'] for b in ran), default=0)} s / "
                f"{max((b['max_rss_mb'] for b in ran), default=0)} MB "
                "(limits: 30 s, 2 GiB address space)",
            ],
            *[
                [f"fuzzing in CI: {name}", f"{v['executions']} executions in {v['seconds']} s"]
                for name, v in sorted(fuzz.items())
            ],
            *[
                [
                    f"fuzzing, long mode: {r['target']} ({r['engine']})",
                    f"{r['executions']} executions in {r['seconds']} s, "
                    f"{len(r['failures'])} failures (measured {r.get('date', '?')})",
                ]
                for r in data.get("long_fuzz") or []
            ],
            [
                "differential cases",
                f"{diff.get('cases', 0)} (judges: Z3, reference"
                f"{', cvc5' if diff.get('cvc5') else ''}); "
                f"disagreements: {diff.get('disagreements', 'n/a')}",
            ],
            [
                "adversarial condition differential (checker vs evaluator)",
                _adversarial_row(data.get("adversarial") or {}),
            ],
            *(
                [
                    [
                        "adversarial condition differential, the last 10,000-case run",
                        _adversarial_row(data["adversarial_10k"]),
                    ]
                ]
                if data.get("adversarial_10k")
                else []
            ),
            [
                "mutation kill rate (semantic mutants of the refiner's output)",
                f"{rate}: {totals.get('killed', 0)} killed of {semantic}; "
                f"{totals.get('equivalent', 0)} equivalent and "
                f"{totals.get('catalog-equivalent', 0)} catalog-equivalent survivors, "
                "each proved",
            ],
        ],
    )
    mm = data.get("mutmut")
    if mm:
        lines += [
            "",
            f"mutmut on the checker's source: see [below](#mutmut-on-the-checkers-source) "
            f"(measured {mm['date']}).",
        ]

    lines += ["", "## Bad inputs", ""]
    lines += [
        "Each input is run through the command line in a subprocess under `RLIMIT_AS` = 2 GiB",
        "and a 30 s limit (`tests/test_bad_inputs.py`, cases in `tests/bad_inputs/MANIFEST.json`).",
        "`error`: exit 2 with positioned messages and no traceback; `warning`: exit 0 after a",
        "warning, with the output checked; `ok`: a valid but hostile input, handled within the",
        "limits. No case left a partial output file.",
        "",
    ]
    lines += _table(
        ["case", "category", "command", "outcome", "exit", "s", "MB", "first message"],
        [
            [
                b["id"],
                b["category"],
                b["command"],
                b["outcome"] + ("" if not b["failures"] else " **FAILED**"),
                b["exit_code"],
                b["seconds"],
                b["max_rss_mb"],
                "`" + _short(re.sub(r"^/\S+/", ".../", b["first_line"])).replace("`", "'") + "`"
                if b["first_line"]
                else "",
            ]
            for b in ran
        ],
    )

    lines += ["", "## Fuzzing", ""]
    lines += [
        "Two targets (`tests/fuzz/targets.py`): the parser on mutated policies, raw bytes and",
        "JSON-ish text; refine plus check on small random valid policies (the result must be",
        "PROVED, agree with the enumerating evaluator, round-trip and be idempotent). CI runs a",
        "fixed number of derandomized examples; the long mode is",
        "`python -m tests.fuzz.run --target all --minutes N`. Saved failures live in",
        "`tests/fuzz/regressions/` and are replayed in CI.",
        "",
    ]
    rows = [
        ["CI", name, "hypothesis", v["executions"], v["seconds"], json.dumps(v["outcomes"])]
        for name, v in sorted(fuzz.items())
    ]
    rows += [
        [
            "long",
            r["target"],
            r["engine"],
            r["executions"],
            r["seconds"],
            f"{len(r['failures'])} failures",
        ]
        for r in data.get("long_fuzz") or []
    ]
    lines += _table(["mode", "target", "engine", "executions", "seconds", "outcomes"], rows)

    lines += ["", "## Differential testing", ""]
    lines += [
        "`tests/test_differential.py`: generated catalogs, policies, unused sets and candidate",
        "refinements (the refiner's output, mutants of it, unrelated policies); the Z3 checker,",
        "the enumerating reference evaluator and cvc5 on the same SMT-LIB must agree. A judge",
        "that answers UNKNOWN within its time limit (1.5 s per claim) is counted, not compared.",
        "CI runs `IAMREFINE_DIFFERENTIAL_CASES` cases (default 2,000); this run's count is below.",
        "",
    ]
    lines += _table(
        ["count", "value"],
        [[k, v] for k, v in sorted((diff.get("counts") or {}).items())]
        + [["seconds (wall)", diff.get("seconds")], ["worker processes", diff.get("workers")]],
    )

    meta = data.get("metamorphic") or {}
    lines += ["", "## Adversarial condition differential", ""]
    lines += [
        "`tests/test_conditions_adversarial.py` (issue 13): two condition blocks drawn from",
        "`tests/fuzz/adversarial.py` (keys shared between the blocks and re-spelled in other",
        "cases, every operator family on every key, `IfExists` and set qualifiers, numbers and",
        'dates in several lexical forms), decided by the checker as "A within B" and judged',
        "by the concrete evaluator on an adversarial request pool (malformed typed values, two",
        "values for every key that may hold several, other spellings of numbers, neighbours of",
        "named numbers, dates and addresses, every key under another spelling). A PROVED must",
        "hold on the whole pool, a REFUTED counterexample must replay, and an UNKNOWN must carry",
        "a documented reason: the two case-folding readings disagree, or the solver's model gave",
        "one key typed views (a string and a number, say) that no single value has, which is",
        'reported as "no real request" rather than as a crash or a verdict.',
        "",
        "This script asks `--adversarial-cases` questions (default 1,000, two processes). The",
        "last run of 10,000 (about 85 minutes on two busy cores) is kept as its own row, with",
        "the commit and date it was measured at, until a run asks as many again.",
    ]

    lines += ["", "## Metamorphic relations", ""]
    lines += [
        "`tests/test_metamorphic.py`: each relation over generated cases with the refiner's",
        "output or a mutant as the candidate; every compared pair of verdicts was equal.",
        "",
    ]
    lines += _table(["count", "value"], [[k, v] for k, v in sorted(meta.items())])

    lines += ["", "## Mutation testing", ""]
    lines += [
        "`tests/test_mutation_kill.py` mutates the refiner's output in every way in",
        "`tests/fuzz/strategies.py::MUTATIONS` and runs the checker on each mutant. A surviving",
        "mutant (PROVED) is proved equivalent to the refiner's output by `verify_equivalence`",
        "(`equivalent`: for every action string; `catalog-equivalent`: for every catalog",
        "action, and within the original for every string, so it is itself an exact",
        "refinement), and on small catalogs the enumerating evaluator confirms it.",
        "",
    ]
    kinds: dict[str, dict[str, int]] = {}
    for counts in kill.values():
        for key, value in counts.items():
            if ": " in key:
                outcome, kind = key.split(": ", 1)
                kinds.setdefault(kind, {})
                kinds[kind][outcome] = kinds[kind].get(outcome, 0) + value
    lines += _table(
        ["mutation", "mutants", "killed", "equivalent", "catalog-equivalent", "survived"],
        [
            [
                kind,
                c.get("mutants", 0),
                c.get("killed", 0),
                c.get("equivalent", 0),
                c.get("catalog-equivalent", 0),
                c.get("semantic", 0),
            ]
            for kind, c in sorted(kinds.items())
        ],
    )
    lines += [""]
    lines += _table(
        ["source", "mutants", "killed", "equivalent", "catalog-equivalent"],
        [
            [
                source,
                c.get("mutants", 0),
                c.get("killed", 0),
                c.get("equivalent", 0),
                c.get("catalog-equivalent", 0),
            ]
            for source, c in sorted(kill.items())
        ],
    )
    lines += ["", "### mutmut on the checker's source", ""]
    lines += [
        "A complete mutmut run on `encode.py` and `reference.py`, with every survivor either "
        "killed by a new test or argued equivalent, is recorded by hand in "
        "[`MUTANTS.md`](MUTANTS.md).",
        "",
    ]
    if mm:
        lines += [
            f"mutmut run on `{', '.join(mm['targets'])}` of commit `{mm['commit']}` with the tests "
            f"`{', '.join(mm['tests'])}`, time box {mm['minutes_allowed']} min "
            f"({'finished' if mm['finished'] else 'stopped at the time box'} after "
            f"{mm['seconds']} s, one worker), measured {mm['date']}.",
            "",
        ]
        rows = []
        for name, counts in sorted(mm.get("files", {}).items()):
            killed = counts.get("killed", 0) + counts.get("timeout", 0)
            decided = killed + counts.get("survived", 0)
            rows.append(
                [
                    name,
                    sum(counts.values()),
                    killed,
                    counts.get("survived", 0),
                    counts.get("no tests", 0),
                    counts.get("not checked", 0),
                    f"{100 * killed / decided:.1f}%" if decided else "n/a",
                ]
            )
        if rows:
            lines += _table(
                [
                    "file",
                    "mutants",
                    "killed",
                    "survived",
                    "no covering test",
                    "not reached in the time box",
                    "kill rate (of those checked)",
                ],
                rows,
            )
        if mm.get("note"):
            lines += ["", mm["note"]]
        if mm.get("log_tail"):
            lines += ["", "```", mm["log_tail"].strip()[-1500:], "```"]
    else:
        lines += ["Not run yet: pass `--mutmut DIR`."]
    lines += [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz-minutes", type=float, default=0.0)
    parser.add_argument("--differential-cases", type=int)
    parser.add_argument("--fuzz-examples", type=int)
    parser.add_argument(
        "--adversarial-cases",
        type=int,
        default=1_000,
        help="questions of the adversarial condition differential (default 1,000, as CI's "
        "slow run; 10,000 take about 85 minutes on two busy cores, and their last figure is "
        "kept, with its commit, until a run asks as many again)",
    )
    parser.add_argument("--mutmut", type=Path, help="a folder from which `import mutmut` works")
    parser.add_argument("--mutmut-minutes", type=float, default=30.0)
    parser.add_argument("--mutmut-note", help="a sentence recorded with the mutmut figures")
    parser.add_argument(
        "--mutmut-record",
        type=Path,
        help="take the mutmut figures from this JSON, written by run_mutmut() in another process",
    )
    parser.add_argument("--atheris", type=Path, help="a folder from which `import atheris` works")
    parser.add_argument(
        "--skip-suite",
        action="store_true",
        help="keep the last suite figures; run only the long fuzz mode and mutmut if asked",
    )
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)

    previous = _read_json(DATA) or {}
    if args.render_only:
        REPORT.write_text(render(previous), "utf-8")
        return 0
    sizes = {"IAMREFINE_ADVERSARIAL_SLOW_CASES": str(args.adversarial_cases)}
    if args.differential_cases:
        sizes["IAMREFINE_DIFFERENTIAL_CASES"] = str(args.differential_cases)
    if args.fuzz_examples:
        sizes["IAMREFINE_FUZZ_EXAMPLES"] = str(args.fuzz_examples)
    with tempfile.TemporaryDirectory(prefix="iamrefine-reliability-") as tmp:
        folder = Path(tmp)
        if args.skip_suite:
            suite = previous["run"]["suite"]
            data = {k: v for k, v in previous.items() if k not in ("long_fuzz", "mutmut")}
        else:
            suite = run_suite(sizes, folder)
            data = collect(folder)
            if data["adversarial"] is not None:
                data["adversarial"].update(date=_now(), commit=_git("rev-parse", "--short", "HEAD"))
            data["adversarial_10k"] = previous.get("adversarial_10k")
            if (data["adversarial"] or {}).get("cases", 0) >= 10_000:
                data["adversarial_10k"] = data["adversarial"]
        long_fuzz = previous.get("long_fuzz")
        if args.fuzz_minutes > 0:
            long_fuzz = run_long_fuzz(args.fuzz_minutes, folder, args.atheris)
            for r in long_fuzz:
                r["date"] = _now()
    data["long_fuzz"] = long_fuzz
    data["mutmut"] = previous.get("mutmut")
    if args.mutmut:
        data["mutmut"] = run_mutmut(args.mutmut, args.mutmut_minutes)
    elif args.mutmut_record:
        data["mutmut"] = _read_json(args.mutmut_record)
    if data["mutmut"] is not None and args.mutmut_note:
        data["mutmut"]["note"] = args.mutmut_note
    if not args.skip_suite:
        data["run"] = {
            "date": _now(),
            "commit": _git("rev-parse", "--short", "HEAD"),
            "versions": _versions(),
            "suite": suite,
        }
    DATA.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    REPORT.write_text(render(data), "utf-8")
    print(f"wrote {REPORT.relative_to(REPO)}: {_suite_summary(suite)}")
    return 0 if suite["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
