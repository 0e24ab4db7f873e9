"""``iamrefine corpus synth`` (issue 20 item 4): realistic cases mixed from the shared
managed and documentation corpora, renamed, with two shapes of unused actions, the
same for the same seed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import corpus_files, iam_refusals
from iamrefine.catalog import load_catalog
from iamrefine.cli.app import app
from iamrefine.harness.corpus import allowed_actions, list_cases
from iamrefine.parse import load_policy
from iamrefine.unused import load_unused
from iamrefine.write import non_whitespace_length

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small source folders: every 80th managed policy and every 25th documentation
    example (enough to mix, few enough to read in a moment)."""
    managed, docs = corpus_files("aws-managed"), corpus_files("aws-docs")
    if not managed or not docs:
        pytest.skip("shared corpora not found")
    root = tmp_path_factory.mktemp("sources")
    folders = []
    for name, files in (("aws-managed", managed[::80]), ("aws-docs", docs[::25])):
        folder = root / name
        folder.mkdir()
        for path in files:
            shutil.copyfile(path, folder / path.name)
        folders.append(folder)
    return folders


def _synth(out: Path, sources: list[Path], *extra: str) -> tuple[int, str, str]:
    args = ["corpus", "synth", str(out), *extra]
    for folder in sources:
        args += ["--source", str(folder)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.json"))}


def test_the_same_seed_gives_the_same_corpus(tmp_path: Path, sources: list[Path]) -> None:
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        code, stdout, stderr = _synth(tmp_path / name, sources, "--policies", "12", "--seed", seed)
        assert code == 0, stderr
        assert "wrote 12 cases" in stdout
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")


def _statement_key(statement: dict[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in statement.items() if k not in ("Sid", "Resource", "NotResource")},
        sort_keys=True,
    )


def test_cases_are_valid_mixed_renamed_policies(tmp_path: Path, sources: list[Path]) -> None:
    out = tmp_path / "org"
    code, _, stderr = _synth(out, sources, "--policies", "30", "--seed", "11")
    assert code == 0, stderr
    catalog = load_catalog(None)
    origin: dict[str, str] = {}
    accounts: set[str] = set()
    for folder in sources:
        for path in sorted(folder.glob("*.json")):
            document = json.loads(path.read_text())
            statements = document["Statement"]
            for statement in [statements] if isinstance(statements, dict) else statements:
                origin.setdefault(_statement_key(statement), path.name)
            accounts.update(re.findall(r"arn:[^:\"]*:[^:\"]*:[^:\"]*:(\d{12})", path.read_text()))
    shapes = set()
    mixed = 0
    cases = list_cases(out)
    assert len(cases) == 30
    for case in cases:
        document = json.loads(case.policy_path.read_text())
        assert iam_refusals(document) == []
        policy = load_policy(case.policy_path)
        sids = [s["Sid"] for s in document["Statement"] if "Sid" in s]
        assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids) and len(set(sids)) == len(
            sids
        )
        text = case.policy_path.read_text()
        assert len(document["Statement"]) == 1 or non_whitespace_length(text) <= 6144
        found = {origin.get(_statement_key(s)) for s in document["Statement"]}
        assert None not in found, case.name  # every statement is a source's, renamed
        mixed += len(found) > 1
        for statement in document["Statement"]:
            values = statement.get("Resource", statement.get("NotResource", []))
            for value in [values] if isinstance(values, str) else values:
                assert not any(f":{account}:" in value for account in accounts), value
        unused = load_unused(case.unused_path, catalog)
        allowed = allowed_actions(policy, catalog)
        raw = json.loads(case.unused_path.read_text())
        if isinstance(raw[0], dict):
            # Whole services the policy uses: Access Analyzer's entry without `actions`.
            shapes.add("services")
            for entry in raw:
                service = set(catalog.services[entry["serviceNamespace"]])
                assert service <= unused.actions and service & allowed
        else:
            shapes.add("actions")
            assert unused.actions and unused.actions <= allowed
    assert shapes == {"services", "actions"}
    assert mixed >= 5
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["seed"] == 11 and sum(manifest["shapes"].values()) == 30


def test_resources_and_accounts_are_renamed() -> None:
    import random

    from iamrefine.harness.synth import _Renamer

    renamer = _Renamer(random.Random(3))
    role = renamer.arn("arn:aws:iam::123456789012:role/Admin")
    assert role.startswith(f"arn:aws:iam::{renamer.account}:role/org") and "Admin" not in role
    bucket = renamer.arn("arn:aws:s3:::my-data/reports/*")
    assert bucket.startswith("arn:aws:s3:::org") and bucket.endswith("/*")
    assert "my-data" not in bucket and "reports" not in bucket
    # Types, wildcards and variables are kept; one name has one new name in a case.
    assert renamer.arn("arn:aws:logs:*:*:log-group:*") == "arn:aws:logs:*:*:log-group:*"
    assert renamer.arn("arn:aws:s3:::my-data") == bucket.split("/")[0]
    home = renamer.arn("arn:aws:s3:::home/${aws:username}/*")
    assert home.endswith("/${aws:username}/*")


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    code, _, stderr = _synth(tmp_path / "o", [tmp_path / "absent"], "--policies", "3")
    assert code == 2
    assert f"{tmp_path / 'absent'}: error: no such policy folder" in stderr
    assert not (tmp_path / "o").exists()
