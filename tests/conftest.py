"""Shared pytest fixtures.

``/work/shared`` (the read-only corpora and docs) sits next to the repository as
``../shared``. Tests that need it use the ``shared_dir`` fixture or the
``requires_shared`` marker, and are skipped cleanly when it is absent.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
REPO_DIR = Path(__file__).resolve().parents[1]

requires_shared = pytest.mark.skipif(
    not SHARED_DIR.is_dir(), reason=f"shared corpora not found at {SHARED_DIR}"
)


_IAM_SID = re.compile(r"[0-9A-Za-z]*")


def iam_refusals(document: Any) -> list[str]:
    """What IAM's documented rules (proofs/aws-validation.md) refuse in a policy
    document, found from the raw JSON without iamrefine's parser: a Sid that is not
    ``[0-9A-Za-z]*`` or is used twice, and a Resource or NotResource value that is
    neither ``*`` nor an ``arn:`` string. Corpus tests compare the parser against it."""
    reasons: list[str] = []
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    seen: set[str] = set()
    for st in statements if isinstance(statements, list) else []:
        if not isinstance(st, dict):
            continue
        sid = st.get("Sid")
        if isinstance(sid, str):
            if not _IAM_SID.fullmatch(sid):
                reasons.append(f"Sid {sid!r} is not alphanumeric")
            elif sid in seen:
                reasons.append(f"Sid {sid!r} is used twice")
            seen.add(sid)
        for element in ("Resource", "NotResource"):
            values = st.get(element, [])
            for value in [values] if isinstance(values, str) else values:
                if isinstance(value, str) and value != "*" and not value.startswith("arn:"):
                    reasons.append(f"{element} {value!r} is neither * nor an ARN")
    return reasons


def corpus_files(name: str) -> list[Path]:
    """The policy files of corpus ``name`` (``aws-managed`` or ``aws-docs``), sorted;
    an empty list when the corpus is absent. ``MANIFEST.json`` is not a policy."""
    folder = SHARED_DIR / "corpus" / name
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if p.name != "MANIFEST.json")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ``../shared`` folder; skips the test when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared corpora not found at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    """The repository root."""
    return REPO_DIR


def run_cli(
    *args: object, stdin: str | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    """``iamrefine ARGS`` in this process (typer's CliRunner): exit code, stdout, stderr.
    For tests about what a command answers and prints; a test about the process itself
    (blocking, signals, resource limits) starts one. An exception the command does not
    turn into an exit code is raised, as a traceback would fail a subprocess's test."""
    from typer.testing import CliRunner

    from iamrefine.cli.app import app

    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
