"""The ``iamrefine`` command line. Thin: it parses options, calls the library and
maps domain errors to exit codes in one place (:mod:`iamrefine.cli.app`)."""

from iamrefine.cli.app import app, main

__all__ = ["app", "main"]
