"""The published proof artefacts in ``proofs/`` are up to date: the JSON Schema matches the
certificate model, and every bundled certificate verifies and is what the current code
produces (up to the claims' times and the tools' versions). Regenerate them with
``make certificates``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.certificate import (
    build_certificate,
    certificate_schema,
    check_certificate,
    load_certificate,
    stable_view,
)
from iamrefine.parse import load_policy
from iamrefine.refine import refine_policy
from iamrefine.solver import cvc5_available
from iamrefine.unused import load_unused

REPO = Path(__file__).resolve().parents[1]
PROOFS = REPO / "proofs"
CERTIFICATES = sorted((PROOFS / "certificates").glob("*.json"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_published_schema_is_current() -> None:
    published = json.loads((PROOFS / "schema" / "certificate.schema.json").read_text("utf-8"))
    assert published == certificate_schema(), "run `make certificates`"


def test_every_example_has_a_certificate() -> None:
    examples = sorted(
        d.name for d in (REPO / "examples").iterdir() if (d / "policy.json").is_file()
    )
    assert [c.stem for c in CERTIFICATES] == examples


@pytest.mark.parametrize("path", CERTIFICATES, ids=[p.stem for p in CERTIFICATES])
def test_published_certificate_verifies(path: Path, catalog: Catalog) -> None:
    solvers = ("z3", "cvc5") if cvc5_available() else ("z3",)
    report = check_certificate(load_certificate(path), catalog, solvers=solvers, source=str(path))
    assert report.status == "VALID", report.render()


@pytest.mark.parametrize("path", CERTIFICATES, ids=[p.stem for p in CERTIFICATES])
def test_published_certificate_is_compact(path: Path) -> None:
    """It names its catalog instead of carrying it (issue 14: at most 64 KB)."""
    assert path.stat().st_size <= 64 * 1024
    assert load_certificate(path).catalog.embedded is None


@pytest.mark.parametrize("path", CERTIFICATES, ids=[p.stem for p in CERTIFICATES])
def test_published_certificate_is_current(path: Path, catalog: Catalog) -> None:
    folder = REPO / "examples" / path.stem
    policy = load_policy(folder / "policy.json")
    unused = load_unused(folder / "unused.json", catalog)
    fresh = build_certificate(refine_policy(policy, unused, catalog), unused, catalog)
    assert stable_view(fresh) == stable_view(load_certificate(path)), "run `make certificates`"


@pytest.mark.parametrize("path", CERTIFICATES, ids=[p.stem for p in CERTIFICATES])
def test_published_certificate_matches_the_json_schema(path: Path) -> None:
    import jsonschema

    schema = json.loads((PROOFS / "schema" / "certificate.schema.json").read_text("utf-8"))
    jsonschema.validate(json.loads(path.read_text("utf-8")), schema)


def test_module_cli_prints_the_schema_and_extracts_obligations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from iamrefine.certificate import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == certificate_schema()
    cert = CERTIFICATES[0]
    assert main(["extract", str(cert), str(tmp_path / "smt")]) == 0
    stored = load_certificate(cert).obligations
    written = sorted((tmp_path / "smt").glob("*.smt2"))
    assert [p.read_text("utf-8") for p in written] == [o.smtlib for o in stored]
    assert main(["extract", str(tmp_path / "missing.json"), str(tmp_path)]) == 2
    assert main([]) == 2
