"""``iamrefine aws``: bad input and unusable accounts exit 2 with a message and no
traceback; the summary table shows ours beside AWS's; the progress bar counts the
findings, then the policies, on a terminal."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from moto import mock_aws
from rich.console import Console
from typer.testing import CliRunner

import aws_world as w
from iamrefine.aws.layout import Comparison, Outcome, PolicyResult
from iamrefine.aws.recommend import RecommendReport
from iamrefine.cli.app import app
from iamrefine.cli.cmd_aws import print_recommend


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in w.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["aws", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout + result.stderr


def test_no_region_exits_2(aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    code, text = _run("recommend", str(tmp_path / "out"))
    assert code == 2 and "no AWS region" in text
    assert not (tmp_path / "out").exists()


def test_unknown_profile_exits_2(aws_env: None, tmp_path: Path) -> None:
    code, text = _run("recommend", str(tmp_path / "out"), "--profile", "no-such-profile")
    assert code == 2 and "no-such-profile" in text


def test_findings_that_cannot_be_listed_exit_2(aws_env: None, tmp_path: Path) -> None:
    # moto has no Access Analyzer: ListAnalyzers fails as a denied call would.
    with mock_aws():
        code, text = _run("recommend", str(tmp_path / "out"), "--region", w.REGION)
    assert code == 2
    assert "cannot list the findings: ListAnalyzers" in text
    assert not (tmp_path / "out").exists()


def _report(tmp_path: Path) -> RecommendReport:
    ours = PolicyResult(
        f"{w.HOME}/role-app/managed-s3-read",
        w.HOME,
        [f"arn:aws:iam::{w.HOME}:role/app"],
        "managed",
        "s3-read",
        f"arn:aws:iam::{w.HOME}:policy/s3-read",
        Outcome.REFINED,
        verdict="PROVED",
        original_chars=120,
        refined_chars=300,
        aws=Comparison("SUCCEEDED", "under-permissive", "s3:GetObjectVersion is denied", chars=90),
    )
    skipped = PolicyResult(
        f"{w.HOME}/role-ci/managed-deploy",
        w.HOME,
        [f"arn:aws:iam::{w.HOME}:role/ci"],
        "managed",
        "deploy",
        f"arn:aws:iam::{w.HOME}:policy/deploy",
        Outcome.SKIPPED,
        "shared: attached to group/devs too",
    )
    return RecommendReport(tmp_path, w.ANALYZER, {}, 2, [ours, skipped], [])


def test_summary_table_shows_ours_beside_aws(tmp_path: Path) -> None:
    console = Console(record=True, width=300)
    print_recommend(_report(tmp_path), console)
    text = console.export_text()
    row = next(line for line in text.splitlines() if "managed-s3-read" in line)
    assert "refined" in row and "120 -> 300" in row
    assert "under-permissive: s3:GetObjectVersion is denied" in row and "90" in row
    assert "skipped: shared: attached to group/devs too" in text
    assert "2 findings, 2 policies" in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_counts_up_to_a_total_known_late(monkeypatch: pytest.MonkeyPatch) -> None:
    from iamrefine.harness.report import progress_bar

    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    with progress_bar(0, "aws") as bar:
        bar.restart(2, "fetching")
        bar.advance("role/app")
        bar.advance("role/ci")
        bar.restart(3, "refining")
        for _ in range(3):
            bar.advance("s3-read: refined")
    shown = screen.getvalue()
    # Drawn on the terminal: the total, unknown at first, is set once known.
    assert "0/0" in shown
    final = shown.rsplit("\r", 1)[-1]
    assert "s3-read: refined" in final and "3/3" in final
