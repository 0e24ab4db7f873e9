"""The ``iamrefine`` command line. Thin: it parses options, calls the library and
maps domain errors to exit codes in one place (:mod:`iamrefine.cli.app`)."""

from typing import Any

from iamrefine.cli.app import main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    # The application with every command is built on first use (see `build_app`).
    if name == "app":
        from iamrefine.cli.app import build_app

        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
