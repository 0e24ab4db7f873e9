"""Shared pytest fixtures.

``/work/shared`` (the read-only corpora and docs) sits next to the repository as
``../shared``. Tests that need it use the ``shared_dir`` fixture or the
``requires_shared`` marker, and are skipped cleanly when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
REPO_DIR = Path(__file__).resolve().parents[1]

requires_shared = pytest.mark.skipif(
    not SHARED_DIR.is_dir(), reason=f"shared corpora not found at {SHARED_DIR}"
)


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
