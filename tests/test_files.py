"""Atomic output writes (``iamrefine.files.write_atomic``) and how a write failure
reaches the user: an :class:`InputError` naming the file, exit 2 in the CLI."""

from __future__ import annotations

import json
import os
import pickle
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iamrefine import files
from iamrefine.cli.app import app
from iamrefine.errors import InputError, PolicyError
from iamrefine.files import write_atomic

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}],
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def test_replaces_whole_files_from_str_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    write_atomic(target, "one\r\nzwei é\n")
    assert target.read_bytes() == "one\r\nzwei é\n".encode()
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_keeps_the_mode_of_an_existing_file(tmp_path: Path, umask: None) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert _mode(target) == 0o640


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_umask_default(
    tmp_path: Path, umask: None, mask: int, expected: int
) -> None:
    os.umask(mask)
    target = tmp_path / "f.txt"
    write_atomic(target, "x")
    assert _mode(target) == expected


def test_parents_creates_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.txt"
    write_atomic(target, "x", parents=True)
    assert target.read_text() == "x"


def test_a_missing_folder_is_an_input_error_without_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "f.txt"
    with pytest.raises(InputError) as info:
        write_atomic(target, "x")
    assert str(info.value) == f"{target}: error: cannot write output: No such file or directory"
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("parents", [False, True])
def test_a_path_under_a_regular_file_is_an_input_error(tmp_path: Path, parents: bool) -> None:
    (tmp_path / "file.txt").write_text("x")
    target = tmp_path / "file.txt" / "out.json"
    with pytest.raises(InputError) as info:
        write_atomic(target, "x", parents=parents)
    assert str(info.value) == f"{target}: error: cannot write output: Not a directory"


@pytest.mark.parametrize("step", ["replace", "fsync"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    target = tmp_path / "out.json"
    target.write_text("old\n")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, step, fail)
    with pytest.raises(InputError) as info:
        write_atomic(target, "new\n")
    assert str(info.value) == f"{target}: error: cannot write output: No space left on device"
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_an_interrupted_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out.json", "new\n")
    assert list(tmp_path.iterdir()) == []


def test_input_errors_survive_pickling() -> None:
    # Batch workers hand write failures back to the parent process by pickling them.
    error = PolicyError.at("p.json", "bad", 1, 2)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is PolicyError
    assert copy.diagnostics == error.diagnostics
    assert str(copy) == "p.json:1:2: error: bad"


# --- the CLI ----------------------------------------------------------------------


def _policies(root: Path) -> Path:
    folder = root / "policies"
    folder.mkdir()
    (folder / "p.json").write_text(json.dumps(POLICY))
    return folder


def test_corpus_make_under_a_regular_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "file.txt" / "out"
    code, err = _run("corpus", "make", _policies(tmp_path), out)
    assert code == 2
    assert f"{out / 'p' / 'policy.json'}: error: cannot write output: Not a directory" in err
    assert "Traceback" not in err


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions"
)
def test_corpus_make_into_a_read_only_folder_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o555)
    try:
        code, err = _run("corpus", "make", _policies(tmp_path), out)
    finally:
        os.chmod(out, 0o755)
    assert code == 2
    assert f"{out / 'p' / 'policy.json'}: error: cannot write output: Permission denied" in err
    assert list(out.iterdir()) == []


def test_refine_output_under_a_regular_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text(json.dumps(POLICY))
    (tmp_path / "unused.json").write_text('["s3:GetObjectAcl"]')
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "file.txt" / "out.json"
    code, err = _run("refine", tmp_path / "policy.json", "-u", tmp_path / "unused.json", "-o", out)
    assert code == 2
    assert f"{out}: error: cannot write output: Not a directory" in err


def _corpus(root: Path, names: tuple[str, ...]) -> Path:
    corpus = root / "corpus"
    for name in names:
        (corpus / name).mkdir(parents=True)
        (corpus / name / "policy.json").write_text(json.dumps(POLICY))
        (corpus / name / "unused.json").write_text('["s3:GetObjectAcl"]')
    return corpus


def test_refine_batch_output_under_a_regular_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / "file.txt" / "out"
    code, err = _run("refine-batch", _corpus(tmp_path, ("a",)), out, "--no-prove")
    assert code == 2
    assert f"{out}: error: cannot write output: Not a directory" in err


def test_refine_batch_stops_with_exit_2_when_nothing_can_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", fail)
    out = tmp_path / "out"
    code, err = _run("refine-batch", _corpus(tmp_path, ("a",)), out, "--no-prove")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"{out / 'a' / 'error.json'}: error: cannot write output: No space left on device"
    )
    assert not list(out.rglob("*.tmp"))


def test_refine_batch_write_failure_in_a_worker_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("in the way")
    code, err = _run(
        "refine-batch", _corpus(tmp_path, ("a", "b")), out, "--no-prove", "--jobs", "2"
    )
    assert code == 2
    assert f"{out / 'a' / 'done'}: error: cannot remove output: Not a directory" in err
    assert "Traceback" not in err
