"""Run a Python refiner callable as a program: ``python -m iamrefine.harness.pyrunner
MODULE:FUNCTION POLICY UNUSED``.

``regress --refiner-py`` grades a callable through this entry point, in a child
process, so that a callable that hangs, crashes or prints too much is handled
exactly like a refiner command. The callable receives the two paths as
:class:`pathlib.Path` and returns the refined policy as JSON text (``str``), as
raw bytes, or as a decoded JSON value (``dict`` or ``list``), which is printed
with :func:`json.dumps`. Extra import paths come from the environment variable
``IAMREFINE_PYRUNNER_PATH`` (a JSON list), so that the child imports what the
grading process could import.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PATH_ENV = "IAMREFINE_PYRUNNER_PATH"


def resolve(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (the function part may be dotted) and return it.

    Raises :class:`ValueError` with a message for the user when the spec is
    malformed, the module cannot be imported or the target is not callable.
    """
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise ValueError(f"`{spec}` is not of the form `module:function`")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module `{module_name}`: {exc}") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"module `{module_name}` has no attribute `{attr}`") from None
    if not callable(target):
        raise ValueError(f"`{spec}` is not callable")
    return target


def _encode(result: Any) -> bytes:
    if isinstance(result, bytes):
        return result
    if isinstance(result, str):
        return result.encode("utf-8", "surrogateescape")
    if isinstance(result, dict | list):
        return (json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    raise TypeError(f"the refiner returned a `{type(result).__name__}`, not str, bytes or dict")


def main(argv: list[str]) -> int:
    """Entry point; returns the exit status."""
    if len(argv) != 3:
        print(
            "usage: python -m iamrefine.harness.pyrunner MODULE:FUNCTION POLICY UNUSED",
            file=sys.stderr,
        )
        return 2
    extra = os.environ.get(PATH_ENV)
    if extra:
        sys.path[:0] = [p for p in json.loads(extra) if p not in sys.path]
    try:
        function = resolve(argv[0])
    except ValueError as exc:
        print(f"pyrunner: error: {exc}", file=sys.stderr)
        return 2
    data = _encode(function(Path(argv[1]), Path(argv[2])))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
