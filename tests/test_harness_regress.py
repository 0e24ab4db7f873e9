"""Grading refiners with ``iamrefine regress``: iamrefine itself is exact, and each
deliberately broken refiner in ``tests/fixtures/refiners/`` gets its own verdict."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from typer.testing import CliRunner

from conftest import REPO_DIR, corpus_files, requires_shared
from iamrefine.catalog import load_catalog
from iamrefine.cli.app import app
from iamrefine.errors import PolicyError
from iamrefine.harness.corpus import list_cases, make_corpus
from iamrefine.harness.refiners import CommandRefiner, PythonRefiner
from iamrefine.harness.regress import (
    CaseResult,
    GradeOptions,
    RegressReport,
    Sizes,
    grade_case,
    read_output,
)
from iamrefine.harness.report import regress_json, regress_junit

FIXTURES = REPO_DIR / "tests" / "fixtures" / "refiners"
PY = sys.executable
IAMREFINE = f"{PY} -m iamrefine refine {{policy}} --unused {{unused}}"

POLICIES = {
    "reader": {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}
        ],
    },
    "mixed": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:Get*", "iam:ListUsers", "ec2:DescribeInstances"],
                "Resource": "*",
            },
            {"Effect": "Deny", "Action": "iam:GetUser", "Resource": "*"},
        ],
    },
    "bucket": {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": "arn:aws:s3:::bucket/*",
        },
    },
}

REGRESS_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "proofs" / "schema" / "regress.schema.json").read_text()
)


def _make_corpus(tmp: Path, names: list[str] | None = None) -> Path:
    """A small corpus from the inline policies (30% unused, fixed seed), optionally
    with its cases renamed to ``NAME-<policy>`` for :mod:`by_case_name`."""
    src = tmp / "policies"
    src.mkdir(exist_ok=True)
    for name, doc in POLICIES.items():
        (src / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    corpus = tmp / "corpus"
    make_corpus(src, corpus, unused_ratio=0.3, seed=6, catalog=load_catalog())
    if names is not None:
        mixed = tmp / "mixed"
        mixed.mkdir()
        for kind in names:
            shutil.copytree(corpus / "reader", mixed / f"{kind}-reader")
        return mixed
    return corpus


def _fixture(kind: str) -> str:
    return f"{PY} {FIXTURES / (kind + '.py')} {{policy}} {{unused}}"


def _regress(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["regress", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_corpus(tmp_path_factory.mktemp("regress"))


@pytest.mark.slow
def test_iamrefine_itself_is_exact(corpus: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    junit_path = tmp_path / "junit.xml"
    code, out, _ = _regress(
        [
            str(corpus),
            "--refiner",
            IAMREFINE,
            "--jobs",
            "2",
            "--json",
            str(report_path),
            "--junit",
            str(junit_path),
        ]
    )
    report = json.loads(report_path.read_text())
    assert [(c["name"], c["verdict"]) for c in report["cases"]] == [
        ("bucket", "exact"),
        ("mixed", "exact"),
        ("reader", "exact"),
    ], json.dumps(report["cases"], indent=1)[:3000]
    assert code == 0, out
    assert "3 cases in" in out and "3 exact" in out
    summary = report["summary"]
    assert summary["all_exact"] is True
    assert summary["verdicts"]["exact"] == 3
    assert summary["pattern_ratio"] == {
        "cases": 3,
        "median": 1.0,
        "worst": 1.0,
        "worst_case": "reader",
    }
    assert summary["char_ratio"]["median"] == 1.0
    for case in report["cases"]:
        assert case["sizes"]["patterns"] == case["sizes"]["reference_patterns"]
        assert case["sizes"]["chars"] == case["sizes"]["reference_chars"]
        assert [c["verdict"] for c in case["claims"]] == ["PROVED", "PROVED"]
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "0", "0")


EXPECTED = {
    "exact": "exact",
    "keep_unused": "over-permissive",
    "drop_used": "under-permissive",
    "add_newsvc": "escalation",
    "widen": "escalation",
    "garbage": "invalid-output",
    "non_utf8": "invalid-output",
    "huge": "invalid-output",
    "exit_1": "crashed",
}


def test_each_broken_refiner_gets_its_verdict(tmp_path: Path) -> None:
    corpus = _make_corpus(tmp_path, list(EXPECTED))
    report_path = tmp_path / "report.json"
    junit_path = tmp_path / "junit.xml"
    refiner = f"{PY} {FIXTURES / 'by_case_name.py'} {{policy}} {{unused}}"
    code, out, _ = _regress(
        [
            str(corpus),
            "--refiner",
            refiner,
            "--jobs",
            "2",
            "--json",
            str(report_path),
            "--junit",
            str(junit_path),
        ]
    )
    assert code == 1
    data = json.loads(report_path.read_text())
    jsonschema.validate(data, REGRESS_SCHEMA)
    cases = {c["name"].rpartition("-")[0]: c for c in data["cases"]}
    assert {k: c["verdict"] for k, c in cases.items()} == EXPECTED

    over = cases["keep_unused"]["counterexamples"][0]
    assert over["claim"] == "exact over the catalog"
    assert "still allows unused" in over["message"]
    assert over["decisions"]["refined"]["allowed"] is True
    under = cases["drop_used"]["counterexamples"][0]
    assert "no longer allows" in under["message"]
    assert under["decisions"]["refined"]["allowed"] is False
    escalation = cases["add_newsvc"]["counterexamples"][0]
    assert escalation["claim"] == "no escalation for any action string"
    assert escalation["action"].lower().startswith("newsvc:")
    assert escalation["in_catalog"] is False
    assert cases["keep_unused"]["findings"] == ["over-permissive"]
    assert cases["drop_used"]["findings"] == ["under-permissive"]
    assert cases["add_newsvc"]["findings"] == ["escalation"]
    # `s3:Get*` widened to `s3:*`: both claims refuted, named after the more severe.
    widened = cases["widen"]
    assert widened["findings"] == ["escalation", "over-permissive"]
    assert [c["verdict"] for c in widened["claims"]] == ["REFUTED", "REFUTED"]
    assert widened["detail"].startswith("escalation: ")
    assert "; over-permissive: " in widened["detail"]
    assert cases["garbage"]["findings"] == cases["exact"]["findings"] == []

    assert cases["garbage"]["errors"] and ":2:1: error:" in cases["garbage"]["errors"][0]
    assert cases["non_utf8"]["detail"].startswith("output is not valid UTF-8: byte `0xe9`")
    assert cases["huge"]["detail"] == f"output exceeds {10 * 1024 * 1024} bytes"
    assert cases["exit_1"]["exit_status"] == 1
    assert cases["exit_1"]["stderr_tail"] == "refiner: cannot cope with this policy"
    assert cases["exit_1"]["detail"] == "exit status 1: refiner: cannot cope with this policy"

    assert (
        "9 cases in" in out
        and ": 1 exact, 1 over-permissive, 1 under-permissive, "
        "2 escalation, 3 invalid-output, 1 crashed; size vs iamrefine"
        in out
    ), out
    summary = json.loads(report_path.read_text())["summary"]
    assert summary["findings"] == {"escalation": 2, "over-permissive": 2, "under-permissive": 1}
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("9", "4", "4")
    kinds = {
        tc.get("name", "").rpartition("-")[0]: [(child.tag, child.get("type")) for child in tc]
        for tc in suite.iter("testcase")
    }
    assert kinds["exact"] == []
    assert kinds["drop_used"] == [("failure", "under-permissive")]
    assert kinds["widen"] == [("failure", "escalation")]
    assert kinds["exit_1"] == [("error", "crashed")]


@pytest.mark.slow
def test_hanging_refiner_is_killed_and_the_run_goes_on(tmp_path: Path) -> None:
    corpus = _make_corpus(tmp_path, ["sleep", "exact"])
    report_path = tmp_path / "report.json"
    refiner = f"{PY} {FIXTURES / 'by_case_name.py'} {{policy}} {{unused}}"
    start = time.monotonic()
    code, _, _ = _regress(
        [str(corpus), "--refiner", refiner, "--refiner-timeout", "4", "--json", str(report_path)]
    )
    assert time.monotonic() - start < 60
    assert code == 1
    cases = json.loads(report_path.read_text())["cases"]
    assert [(c["name"], c["verdict"]) for c in cases] == [
        ("exact-reader", "exact"),
        ("sleep-reader", "timeout"),
    ]
    assert cases[1]["detail"] == "killed after 4 s"
    pid = int((corpus / "sleep-reader" / "sleeper.pid").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status")
        if not status.exists() or "State:\tZ" in status.read_text():
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the refiner's child {pid} survived the timeout")


def test_python_callable_refiners(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    catalog = load_catalog()
    case = next(c for c in list_cases(corpus) if c.name == "mixed")
    options = GradeOptions(timeout=60)
    verdicts = {
        spec: grade_case(case, PythonRefiner.parse(spec), catalog, options).verdict
        for spec in ("exact:refine", "keep_unused:refine", "non_utf8:refine", "exit_1:refine")
    }
    assert verdicts == {
        "exact:refine": "exact",
        "keep_unused:refine": "over-permissive",
        "non_utf8:refine": "invalid-output",
        "exit_1:refine": "crashed",
    }


def test_regress_cli_with_refiner_py(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    code, out, _ = _regress([str(corpus), "--refiner-py", "garbage:refine"])
    assert code == 1
    assert "3 invalid-output" in out


def test_undecided_checks_are_unknown(corpus: Path) -> None:
    case = next(c for c in list_cases(corpus) if c.name == "reader")
    refiner = CommandRefiner.parse(_fixture("exact"))
    result = grade_case(case, refiner, load_catalog(), GradeOptions(timeout=60, check_timeout=1e-9))
    assert result.verdict == "unknown"
    assert "time budget" in result.detail


def test_read_output_accepts_recommendations_and_empty_output() -> None:
    from iamrefine.parse import policy_from_json

    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    original = policy_from_json(doc)
    text = json.dumps(doc)
    assert read_output(text, "<out>", original) == (original, [text])

    def recommendation(status: str, step: dict[str, str]) -> str:
        return json.dumps(
            {
                "recommendationType": "UnusedPermissionRecommendation",
                "status": status,
                "recommendedSteps": [{"unusedPermissionsRecommendedStep": step}],
            }
        )

    create = {"recommendedAction": "CREATE_POLICY", "recommendedPolicy": text}
    assert read_output(recommendation("SUCCEEDED", create), "<out>", original) == (
        original,
        [text],
    )
    detach = {"recommendedAction": "DETACH_POLICY"}
    assert read_output(recommendation("SUCCEEDED", detach), "<out>", original) == (None, [])
    failed = json.dumps(
        {
            "recommendationType": "UnusedPermissionRecommendation",
            "status": "FAILED",
            "error": {"code": "X", "message": "y"},
        }
    )
    kept, kept_texts = read_output(failed, "<out>", original)
    assert kept == original and [json.loads(t) for t in kept_texts] == [doc]
    assert read_output(" \n", "<out>", original) == (None, [])
    with pytest.raises(PolicyError, match="is not `CREATE_POLICY`"):
        read_output(recommendation("SUCCEEDED", {"recommendedAction": "NOPE"}), "<o>", original)
    with pytest.raises(PolicyError):
        read_output("[1, 2]", "<out>", original)


def test_deeply_nested_output_is_invalid_not_a_crash() -> None:
    from iamrefine.parse import policy_from_json

    original = policy_from_json(POLICIES["reader"])
    text = '{"recommendationType": ' + "[" * 200_000
    with pytest.raises(PolicyError):
        read_output(text, "<out>", original)


def test_junit_and_json_reports_survive_control_characters() -> None:
    crashed = CaseResult(
        "a<&>\x00",
        "crashed",
        detail="exit status 1: \x1b[31mred",
        stderr_tail="\x1b[31mred\x00\ud800",
        exit_status=1,
    )
    exact = CaseResult("b", "exact", sizes=Sizes(3, 30, 2, 20))
    report = RegressReport("corpus", "refiner", {"digest": "d"}, 5.0, [crashed, exact], 1.5)
    root = ET.fromstring(regress_junit(report))
    case = root.find("testsuite/testcase/error")
    assert case is not None and case.get("type") == "crashed"
    assert "\ufffd[31mred\ufffd\ufffd" in (case.text or "")
    data = regress_json(report)
    assert data["summary"]["verdicts"]["crashed"] == 1
    assert data["summary"]["pattern_ratio"] == {
        "cases": 1,
        "median": 1.5,
        "worst": 1.5,
        "worst_case": "b",
    }
    assert json.loads(json.dumps(data))["cases"][1]["sizes"]["char_ratio"] == 1.5


def test_bad_invocations_exit_2(corpus: Path, tmp_path: Path) -> None:
    code, _, err = _regress([str(tmp_path / "missing"), "--refiner", IAMREFINE])
    assert code == 2 and "no such corpus folder" in err
    code, _, err = _regress([str(corpus)])
    assert code == 2 and "exactly one of `--refiner` and `--refiner-py`" in err
    code, _, err = _regress([str(corpus), "--refiner", f"{PY} refine.py {{policy}}"])
    assert code == 2 and "has no `{unused}`" in err
    code, _, err = _regress([str(corpus), "--refiner", "no-such-refiner {policy} {unused}"])
    assert code == 2 and "refiner program `no-such-refiner` not found" in err
    code, _, err = _regress([str(corpus), "--refiner-py", "no_such_module_h6:refine"])
    assert code == 2 and "cannot import module `no_such_module_h6`" in err
    bad = tmp_path / "bad"
    shutil.copytree(corpus, bad)
    (bad / "reader" / "policy.json").write_text('{"Version": "2012-10-17"}')
    code, _, err = _regress([str(bad), "--refiner", IAMREFINE])
    assert code == 2 and f"{bad / 'reader' / 'policy.json'}" in err


@requires_shared
@pytest.mark.corpus
@pytest.mark.slow
def test_iamrefine_is_exact_on_managed_policies(tmp_path: Path) -> None:
    src = tmp_path / "policies"
    src.mkdir()
    for path in corpus_files("aws-managed")[100:1600:300]:
        shutil.copy(path, src / path.name)
    corpus = tmp_path / "corpus"
    made = make_corpus(src, corpus, unused_ratio=0.3, seed=2026, catalog=load_catalog())
    assert len(made.cases) >= 5
    report_path = tmp_path / "report.json"
    code, out, _ = _regress(
        [str(corpus), "--refiner", IAMREFINE, "--jobs", "2", "--json", str(report_path)]
    )
    cases = json.loads(report_path.read_text())["cases"]
    assert {c["name"]: c["verdict"] for c in cases} == dict.fromkeys(made.cases, "exact"), out
    assert code == 0


def test_refiner_py_imports_from_the_current_folder(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--refiner-py module:function` finds a module in the current folder without
    PYTHONPATH, as `python -m` would (issue 19)."""
    here = tmp_path / "work"
    here.mkdir()
    shutil.copy(FIXTURES / "exact.py", here / "local_refiner_i19.py")
    shutil.copy(FIXTURES / "_common.py", here / "_common.py")
    assert str(here) not in sys.path
    monkeypatch.chdir(here)
    code, out, err = _regress([str(corpus), "--refiner-py", "local_refiner_i19:refine"])
    progress = "iamrefine: note: grading "
    assert code == 0, out
    assert [ln for ln in err.splitlines() if not ln.startswith(progress)] == [], err
    assert "3 exact" in out
    assert str(here) not in sys.path


def test_shell_syntax_in_a_refiner_template_is_refused_with_the_sh_form(corpus: Path) -> None:
    """A template with a pipe outside quotes would pass `|` and the rest as arguments;
    it is refused, and the `sh -c` form shown does what the template meant (issue 19)."""
    script = FIXTURES / "exact.py"
    template = f"{PY} {script} {{policy}} {{unused}} | cat"
    code, out, err = _regress([str(corpus), "--refiner", template])
    suggested = f'sh -c \'{PY} {script} "$1" "$2" | cat\' sh {{policy}} {{unused}}'
    assert code == 2 and out == ""
    assert err == (
        f"--refiner: error: the refiner command `{template}` uses shell syntax (`|`) outside "
        "quotes, but it runs without a shell, so each word would be a plain argument; to run "
        f"it through a shell, give `{suggested}`\n"
    )
    code, out, err = _regress([str(corpus), "--refiner", suggested])
    assert code == 0, out
    assert [ln for ln in err.splitlines() if not ln.startswith("iamrefine: note: grading ")] == []
    assert "3 exact" in out


@pytest.mark.parametrize(
    ("template", "found"),
    [
        ("t {policy} {unused} > out.json", [">"]),
        ("t {policy} {unused} 2>&1", [">", "&"]),
        ("t {policy} {unused}; echo done", [";"]),
        ('t "$HOME" {policy} {unused}', ["$"]),
        ("t $(pwd) {policy} {unused}", ["$", "(", ")"]),
        ("t `pwd` {policy} {unused}", ["`"]),
        ("t '{policy}' \"{unused}\" 'a|b;c>d' \\| '$HOME' cost$ 5$", []),
    ],
)
def test_shell_syntax_is_found_only_where_a_shell_would_act(
    template: str, found: list[str]
) -> None:
    from iamrefine.harness.refiners import shell_syntax

    assert shell_syntax(template)[0] == found


def test_the_sh_form_quotes_placeholders_for_their_position() -> None:
    from iamrefine.harness.refiners import shell_syntax

    _, script = shell_syntax("t '{policy}' \"{unused}\" {policy} | jq .")
    assert script == 't \'\'"$1"\'\' "$2" "$1" | jq .'


def _table_report() -> RegressReport:
    """A report with one case of each kind of refutation and one widened case."""
    cases = [
        CaseResult("exact-1", "exact", sizes=Sizes(4, 100, 4, 100)),
        CaseResult(
            "widen-1",
            "escalation",
            "escalation: refined allows `glue:CreateX`; over-permissive: refined still "
            "allows unused `glue:GetTable`",
            findings=["escalation", "over-permissive"],
            sizes=Sizes(1, 30, 4, 100),
        ),
        CaseResult(
            "keep-1",
            "over-permissive",
            "refined still allows unused `s3:GetObject`",
            findings=["over-permissive"],
            sizes=Sizes(6, 150, 4, 100),
        ),
        CaseResult("crash-1", "crashed", "exit status 1: boom", exit_status=1),
    ]
    return RegressReport("corpus", "refiner {policy} {unused}", {}, 60.0, cases, 2.0)


def test_regress_table_shows_findings_precedence_and_legend() -> None:
    """The text of the regress tables: every finding of a case refuted in several
    ways, the verdicts in order of precedence with the cases per finding, and a
    legend for the precedence and the size ratios (golden file)."""
    import io

    from rich.console import Console

    from iamrefine.harness.report import print_regress

    buffer = io.StringIO()
    console = Console(file=buffer, width=100, color_system=None, force_terminal=False)
    print_regress(_table_report(), console)
    golden = REPO_DIR / "tests" / "golden" / "regress_table.txt"
    assert buffer.getvalue() == golden.read_text("utf-8")


def test_regress_is_bounded_when_a_refiner_child_escapes(corpus: Path, tmp_path: Path) -> None:
    """Issue 15 item 9: a refiner that leaves a process in a session of its own,
    holding its stdout (`setsid sleep 60 & exec iamrefine refine ...`): each case
    still ends at once, and the JSON and JUnit reports are written."""
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "escaping_refiner.py"
    script.write_text(
        "import os, subprocess, sys\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        f"open(os.path.join({str(pids)!r}, str(c.pid)), 'w').close()\n"
        "sys.stdout.write(open(sys.argv[1]).read())\n"
    )
    report_path = tmp_path / "report.json"
    junit_path = tmp_path / "junit.xml"
    start = time.monotonic()
    try:
        code, _, _ = _regress(
            [
                str(corpus),
                "--refiner",
                f"{sys.executable} {script} {{policy}} {{unused}}",
                "--refiner-timeout",
                "20",
                "--json",
                str(report_path),
                "--junit",
                str(junit_path),
            ]
        )
    finally:
        for pid in pids.iterdir():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.name), signal.SIGKILL)
    assert time.monotonic() - start < 50
    report = json.loads(report_path.read_text())
    # The refiner returns its input unchanged (over-permissive), but every case is graded.
    assert len(report["cases"]) == 3
    assert all(c["verdict"] != "timeout" for c in report["cases"])
    assert ET.parse(junit_path).getroot().find("testsuite") is not None
    assert code == 1
