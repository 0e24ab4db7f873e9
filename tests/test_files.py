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
from iamrefine.files import output_folder, write_atomic

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
    # The first output the client writes is the one reported.
    assert err.strip().splitlines()[-1] == (
        f"{out / 'a' / 'refined.json'}: error: cannot write output: No space left on device"
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


# --- issue 15 items 2-4: outputs never replace inputs, devices, FIFOs, size limits ---


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "policy.json").write_text(json.dumps(POLICY))
    (tmp_path / "unused.json").write_text('["s3:GetObjectAcl"]')
    (tmp_path / "cat.json").write_text('["s3:GetObject", "s3:GetObjectAcl", "s3:PutObject"]')
    return {n: tmp_path / f"{n}.json" for n in ("policy", "unused", "cat")}


def _refine(inputs: dict[str, Path], *extra: str | Path) -> tuple[int, str]:
    return _run(
        "refine", inputs["policy"], "-u", inputs["unused"], "--catalog", inputs["cat"], *extra
    )


@pytest.mark.parametrize(
    "options",
    [
        ("-o", "{cat}"),
        ("--certificate", "{cat}"),
        ("-o", "{unused}"),
        ("--certificate", "{policy}"),
        ("-o", "{link}"),
        ("-o", "{dir}/./cat.json"),
    ],
)
def test_an_output_onto_an_input_exits_2_and_keeps_the_input(
    inputs: dict[str, Path], tmp_path: Path, options: tuple[str, str]
) -> None:
    os.link(inputs["cat"], tmp_path / "link.json")
    names = {**{k: str(v) for k, v in inputs.items()}, "link": str(tmp_path / "link.json")}
    names["dir"] = str(tmp_path)
    argv = [o.format(**names) for o in options]
    before = {p: p.read_bytes() for p in inputs.values()}
    code, err = _refine(inputs, *argv)
    assert code == 2, err
    assert "error: refusing to overwrite the input file" in err
    assert {p: p.read_bytes() for p in inputs.values()} == before


def test_two_outputs_onto_one_file_exit_2(inputs: dict[str, Path], tmp_path: Path) -> None:
    same = tmp_path / "same.json"
    code, err = _refine(inputs, "-o", same, "--certificate", same)
    assert code == 2
    assert f"{same}: error: `--certificate` and `-o` name the same file" in err
    assert not same.exists()


def test_explain_outputs_are_checked_too(inputs: dict[str, Path], tmp_path: Path) -> None:
    code, err = _run(
        "explain", inputs["policy"], "-u", inputs["unused"], "--catalog", inputs["cat"],
        "--svg", inputs["cat"],
    )  # fmt: skip
    assert code == 2 and "refusing to overwrite the input file" in err


def test_regress_outputs_are_checked_before_grading(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path, ("a",))
    same = tmp_path / "report"
    code, err = _run(
        "regress", corpus, "--refiner", "cat {policy}", "--json", same, "--junit", same
    )
    assert code == 2 and "`--junit` and `--json` name the same file" in err
    assert not same.exists()


def _null_device(folder: Path) -> Path:
    """A node of the null device in ``folder`` (never the system's own ``/dev/null``,
    which a regression would replace for every process on the machine)."""
    node = folder / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        node.write_bytes(b"probe")
    except OSError as exc:
        pytest.skip(f"cannot make a usable device node here: {exc.strerror}")
    return node


def test_output_to_a_character_device_writes_to_it(inputs: dict[str, Path], tmp_path: Path) -> None:
    """`-o DEVICE` writes to the device, as `cat > DEVICE` does; it is never renamed over."""
    node = _null_device(tmp_path)
    before = node.stat()
    code, err = _refine(inputs, "-o", node)
    assert code == 0, err
    after = node.stat()
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cat.json", "null", "policy.json", "unused.json"
    ]  # fmt: skip


def test_output_to_a_fifo_writes_through_it(inputs: dict[str, Path], tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, err = _refine(inputs, "-o", fifo)
    reader.join(10)
    assert code == 0, err
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["Statement"][0]["Action"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["cat.json", "out.fifo", "policy.json", "unused.json"]
    )


def test_output_to_a_fifo_without_a_reader_exits_2_at_once(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    code, err = _refine(inputs, "-o", fifo)
    assert code == 2
    assert f"{fifo}: error: cannot write output: No such device or address" in err
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def _cli(*args: str | Path, stdin: bytes = b"", timeout: float = 30) -> tuple[int, str, str]:
    """The CLI in a subprocess, so that a command that would block fails the test."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "iamrefine", *map(str, args)],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_a_fifo_or_device_input_exits_2_without_reading(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    fifo = tmp_path / "policy.fifo"
    os.mkfifo(fifo)
    common = ("-u", inputs["unused"], "--catalog", inputs["cat"])
    code, out, err = _cli("refine", fifo, *common)
    assert code == 2 and out == ""
    assert f"{fifo}: error: policy file is a FIFO, not a regular file" in err
    assert "pass `-`" in err
    code, _, err = _cli("refine", inputs["policy"], "-u", "/dev/zero", "--catalog", inputs["cat"])
    assert code == 2
    assert "/dev/zero: error: unused-actions file is a character device" in err
    code, _, err = _cli(
        "refine", inputs["policy"], "-u", inputs["unused"], "--catalog", "/dev/zero"
    )
    assert code == 2 and "/dev/zero: error: catalog is a character device" in err


def test_a_fifo_or_device_certificate_exits_2_without_reading(tmp_path: Path) -> None:
    # A FIFO with no writer used to block `verify` in open(); a device was read whole.
    fifo = tmp_path / "cert.fifo"
    os.mkfifo(fifo)
    code, out, err = _cli("verify", fifo, timeout=20)
    assert code == 2 and out == ""
    assert f"{fifo}: error: certificate is a FIFO, not a regular file" in err
    assert "Traceback" not in err
    code, out, err = _cli("verify", "/dev/zero", timeout=20)
    assert code == 2 and out == ""
    assert "/dev/zero: error: certificate is a character device, not a regular file" in err


def test_the_policy_can_be_read_from_standard_input(inputs: dict[str, Path]) -> None:
    common = ("-u", inputs["unused"], "--catalog", inputs["cat"])
    code, out, err = _cli("refine", "-", *common, stdin=inputs["policy"].read_bytes())
    assert code == 0, err
    assert out == _cli("refine", inputs["policy"], *common)[1]


def test_input_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 50)
    monkeypatch.setattr("sys.stdin", open(big, encoding="utf-8"))  # noqa: SIM115
    with pytest.raises(InputError, match=r"is 50 bytes, larger than the limit of 49 bytes \(w\)"):
        files.read_input(big, limit=49, what="thing", error=InputError, why="w")
    with pytest.raises(InputError, match="more than 49 bytes, larger than the limit of 49"):
        files.read_input("-", limit=49, what="thing", error=InputError)
    assert files.read_input(big, limit=50, what="thing", error=InputError) == b"x" * 50


def test_a_read_allocates_what_the_file_holds_not_its_limit(tmp_path: Path) -> None:
    import tracemalloc

    small = tmp_path / "small.json"
    small.write_bytes(b"[]")
    tracemalloc.start()
    try:
        assert files.read_input(small, limit=100 << 20, what="thing", error=InputError) == b"[]"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux's /proc")
def test_a_file_longer_than_its_reported_size_is_read_whole_and_limited() -> None:
    status = Path("/proc/self/status")
    assert status.stat().st_size == 0
    data = files.read_input(status, limit=1 << 20, what="thing", error=InputError)
    assert data.startswith(b"Name:") and b"\nPid:" in data
    with pytest.raises(InputError, match="larger than the limit of 64 bytes"):
        files.read_input(status, limit=64, what="thing", error=InputError)


def test_an_output_folder_a_refused_run_created_is_removed(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(InputError), output_folder(folder):
        assert folder.is_dir()
        raise InputError.at("--executor", "cannot reach the Dask scheduler")
    assert not (tmp_path / "new").exists()
    assert tmp_path.is_dir()


def test_an_output_folder_keeps_what_it_did_not_create_or_what_was_written(
    tmp_path: Path,
) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(KeyboardInterrupt), output_folder(existing / "out"):
        raise KeyboardInterrupt
    assert existing.is_dir() and not (existing / "out").exists()
    written = tmp_path / "written" / "out"
    with pytest.raises(RuntimeError), output_folder(written):
        (written / "summary.json").write_text("{}")
        raise RuntimeError("after a write")
    assert (written / "summary.json").is_file()
    with output_folder(tmp_path / "kept"):
        pass
    assert (tmp_path / "kept").is_dir()


def test_an_output_folder_that_cannot_be_created_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError) as caught, output_folder(blocker / "out"):
        pass
    assert "cannot write output" in caught.value.diagnostics[0].render()
