"""The exception hierarchy of iamrefine, rooted in :class:`IamRefineError`.

The library raises these; the CLI maps them to exit codes in one place
(``cli/app.py``): input errors exit 2, internal errors exit 70.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One message about an input file, with a 1-based position where one exists."""

    file: str
    line: int | None
    column: int | None
    message: str
    severity: str = "error"

    def render(self) -> str:
        """Return ``FILE:LINE:COL: severity: message`` (the position omitted when unknown)."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.severity}: {self.message}"


class IamRefineError(Exception):
    """Root of every error iamrefine raises on purpose."""


class InputError(IamRefineError):
    """Bad user input: a policy, unused list, catalog or certificate that cannot be used.

    Carries every diagnostic found, not only the first.
    """

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def __reduce__(self) -> tuple[type[InputError], tuple[list[Diagnostic]]]:
        # Rebuild from the diagnostics, not from the rendered text, so that the error
        # survives the trip back from a worker process.
        return (type(self), (self.diagnostics,))

    @classmethod
    def at(
        cls, file: str, message: str, line: int | None = None, column: int | None = None
    ) -> InputError:
        """Build an error with a single diagnostic."""
        return cls(Diagnostic(file, line, column, message))


class PolicyError(InputError):
    """A policy document is malformed or invalid."""


class CatalogError(InputError):
    """An action catalog cannot be loaded."""


class UnusedInputError(InputError):
    """An unused-access file cannot be read."""


class CertificateError(InputError):
    """A proof certificate is malformed."""


class Interrupted(IamRefineError):
    """The user interrupted a long run (Ctrl-C); the message says what was kept and
    how to resume."""


class QuotaError(IamRefineError):
    """No split into the allowed number of managed policies can hold a refinement."""


class InternalError(IamRefineError):
    """A bug in iamrefine, such as a counterexample that the reference evaluator rejects."""
