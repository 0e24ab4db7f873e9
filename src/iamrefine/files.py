"""Reading and writing the tool's own JSON inputs and output files.

- :func:`write_atomic` replaces a file in one step, so that a reader sees the old file
  or the new one, never a partial one, and reports a failure as an
  :class:`~iamrefine.errors.InputError` naming the file.
- :func:`parse_json` reads the JSON inputs that have no grammar of their own (unused
  actions, catalogs, certificates): every failure, including a repeated key and
  nesting too deep for Python's decoder, becomes an error of the caller's class at
  the input, with a position where there is one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from iamrefine.errors import InputError


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


def write_atomic(path: Path, data: str | bytes, *, parents: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    :func:`os.replace`.

    Text is written as UTF-8, without newline translation. The data is flushed and
    fsynced before the replace, and the folder is fsynced after it where the system
    allows. An existing ``path`` keeps its mode bits; a new one gets ``0o666``
    less the umask, as a plain ``open`` would give it. With ``parents``, missing
    folders above ``path`` are created first.

    Raises :class:`InputError` at ``path`` (``cannot write output: <reason>``) for any
    system error, and leaves no temporary file behind on failure.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
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
    _fsync_folder(folder)


def _target_mode(path: Path) -> int:
    """The mode bits of the existing ``path``, else ``0o666`` less the umask (mkstemp
    creates its file readable by the owner only)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
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
