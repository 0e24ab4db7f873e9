"""Corpora: which actions a policy allows, reproducible unused selections,
``corpus make`` and reading case folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import corpus_files, requires_shared
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.cli.app import app
from iamrefine.errors import InputError
from iamrefine.harness.corpus import (
    allowed_actions,
    list_cases,
    make_corpus,
    pick_unused,
)
from iamrefine.parse import policy_from_json
from iamrefine.unused import load_unused

NAMES = [
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:PutObject",
    "s3:ListBucket",
    "iam:GetUser",
    "iam:ListUsers",
    "ec2:RunInstances",
    "ec2:DescribeInstances",
]
CAT = Catalog.from_names(NAMES, source="test")


def _policy(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_allowed_actions_action_notaction_and_deny() -> None:
    policy = policy_from_json(
        _policy(
            {"Effect": "Allow", "Action": ["S3:Get*", "iam:ListUsers"], "Resource": "*"},
            {"Effect": "Deny", "Action": "ec2:*", "Resource": "*"},
        )
    )
    assert allowed_actions(policy, CAT) == {"s3:getobject", "s3:getobjectacl", "iam:listusers"}
    policy = policy_from_json(
        _policy(
            {"Effect": "Allow", "NotAction": ["s3:*", "iam:Get*"], "Resource": "*"},
        )
    )
    assert allowed_actions(policy, CAT) == {
        "iam:listusers",
        "ec2:runinstances",
        "ec2:describeinstances",
    }
    nothing = policy_from_json(_policy({"Effect": "Allow", "Action": "nosvc:*", "Resource": "*"}))
    assert allowed_actions(nothing, CAT) == set()


def test_pick_unused_is_reproducible_and_rounds_half_up() -> None:
    pool = [f"svc:a{i:02d}" for i in range(10)]
    first = pick_unused("p", pool, 0.35, 1)
    assert first == pick_unused("p", list(reversed(pool)), 0.35, 1)
    assert len(first) == 4
    assert first == sorted(first) and set(first) <= set(pool)
    assert pick_unused("p", pool, 0.0, 1) == []
    assert pick_unused("p", pool, 1.0, 1) == pool
    others = {tuple(pick_unused("p", pool, 0.5, s)) for s in range(8)}
    assert len(others) > 1
    assert pick_unused("q", pool, 0.5, 1) != pick_unused("p", pool, 0.5, 1) or len(others) > 1


def _write_policies(folder: Path) -> None:
    folder.mkdir()
    docs = {
        "reader": _policy({"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"}),
        "admin": _policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        "single": _policy({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}),
    }
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc, indent=4) + "\n")
    (folder / "broken.json").write_text('{"Version": "2012-10-17", "Statement": [}')
    (folder / "MANIFEST.json").write_text('{"not": "a policy"}')


def test_make_corpus_writes_cases_and_skips_bad_policies(tmp_path: Path) -> None:
    src = tmp_path / "policies"
    _write_policies(src)
    made = make_corpus(src, tmp_path / "out", unused_ratio=0.5, seed=3, catalog=CAT)
    assert sorted(made.cases) == ["admin", "reader", "single"]
    assert made.cases == {"admin": 4, "reader": 2, "single": 1}
    assert [d.file for d in made.skipped] == [str(src / "broken.json")]
    cases = list_cases(tmp_path / "out")
    assert [c.name for c in cases] == ["admin", "reader", "single"]
    for case in cases:
        assert case.policy_path.read_bytes() == (src / f"{case.name}.json").read_bytes()
        names = json.loads(case.unused_path.read_text())
        assert names == sorted(names) and all(n in NAMES for n in names)
        assert len(load_unused(case.unused_path, CAT)) == len(names)
    manifest = json.loads((tmp_path / "out" / "MANIFEST.json").read_text())
    assert manifest["seed"] == 3 and manifest["unused_ratio"] == 0.5
    assert manifest["catalog"]["digest"] == CAT.digest
    assert manifest["cases"] == made.cases
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_make_corpus_is_reproducible_and_order_independent(tmp_path: Path) -> None:
    src = tmp_path / "policies"
    _write_policies(src)
    make_corpus(src, tmp_path / "a", unused_ratio=0.5, seed=11, catalog=CAT)
    (src / "reader.json").unlink()
    make_corpus(src, tmp_path / "b", unused_ratio=0.5, seed=11, catalog=CAT)
    for name in ("admin", "single"):
        assert (tmp_path / "a" / name / "unused.json").read_bytes() == (
            tmp_path / "b" / name / "unused.json"
        ).read_bytes()
    make_corpus(src, tmp_path / "c", unused_ratio=0.5, seed=12, catalog=CAT)
    assert (tmp_path / "a" / "admin" / "unused.json").read_bytes() != (
        tmp_path / "c" / "admin" / "unused.json"
    ).read_bytes()


def test_make_corpus_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such policy folder"):
        make_corpus(tmp_path / "nope", tmp_path / "out", unused_ratio=0.3, seed=0, catalog=CAT)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no `\.json` files"):
        make_corpus(tmp_path / "empty", tmp_path / "out", unused_ratio=0.3, seed=0, catalog=CAT)
    with pytest.raises(InputError, match="not between 0 and 1"):
        make_corpus(tmp_path, tmp_path / "out", unused_ratio=1.5, seed=0, catalog=CAT)


def test_list_cases_reports_every_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such corpus folder"):
        list_cases(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="folder of case folders"):
        list_cases(tmp_path / "file")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(InputError, match="holds no case folders"):
        list_cases(corpus)
    (corpus / "a").mkdir()
    (corpus / "a" / "policy.json").write_text("{}")
    (corpus / "b").mkdir()
    (corpus / ".hidden").mkdir()
    with pytest.raises(InputError) as info:
        list_cases(corpus)
    assert [d.render() for d in info.value.diagnostics] == [
        f"{corpus / 'a'}: error: case folder has no `unused.json`",
        f"{corpus / 'b'}: error: case folder has no `policy.json`",
        f"{corpus / 'b'}: error: case folder has no `unused.json`",
    ]


def test_cli_corpus_make(tmp_path: Path) -> None:
    src = tmp_path / "policies"
    _write_policies(src)
    catalog_file = tmp_path / "catalog.txt"
    catalog_file.write_text("\n".join(NAMES) + "\n")
    runner = CliRunner()
    args = [
        "corpus",
        "make",
        str(src),
        str(tmp_path / "out"),
        "--unused-ratio",
        "0.5",
        "--seed",
        "3",
        "--catalog",
        str(catalog_file),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"wrote 3 cases to {tmp_path / 'out'} (7 unused actions in all); skipped 1" in (
        result.stdout
    )
    assert f"{src / 'broken.json'}:1:" in result.stderr
    # Without a terminal, progress is one plain line per policy file, in order.
    progress = [ln for ln in result.stderr.splitlines() if ln.startswith("iamrefine: note: making")]
    files = sorted(p.name for p in src.glob("*.json") if p.name != "MANIFEST.json")
    assert [ln.split(": ")[2] for ln in progress] == [
        f"making {i}/{len(files)}" for i in range(1, len(files) + 1)
    ]
    assert [ln.split(": ")[3] for ln in progress] == files
    assert "iamrefine: note: making 2/4: broken.json: skipped" in progress
    bad = runner.invoke(app, [*args[:4], "--unused-ratio", "2"])
    assert bad.exit_code == 2
    missing = runner.invoke(app, ["corpus", "make", str(tmp_path / "none"), str(tmp_path / "o")])
    assert missing.exit_code == 2
    assert "no such policy folder" in missing.stderr


@requires_shared
@pytest.mark.corpus
def test_make_corpus_from_managed_policies(tmp_path: Path) -> None:
    files = corpus_files("aws-managed")[:40:8]
    src = tmp_path / "policies"
    src.mkdir()
    for f in files:
        (src / f.name).write_bytes(f.read_bytes())
    catalog = load_catalog()
    made = make_corpus(src, tmp_path / "out", unused_ratio=0.3, seed=5, catalog=catalog)
    assert sorted(made.cases) == sorted(f.stem for f in files)
    for name, count in made.cases.items():
        unused = load_unused(tmp_path / "out" / name / "unused.json", catalog)
        assert len(unused) == count and not unused.warnings
