"""The typer application, its sub-command registration and the one place where
library errors become exit codes.

Exit codes: 0 success (or PROVED), 1 REFUTED or a failed check, 2 bad input,
3 UNKNOWN, 70 internal error, 130 interrupted (a long run that says how to resume).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from iamrefine.cli.terminal import HELP_OPTIONS, TidyGroup, root_callback
from iamrefine.errors import Diagnostic, IamRefineError, InputError, InternalError, Interrupted

if TYPE_CHECKING:
    from iamrefine.verify import Verdict

EXIT_OK = 0
EXIT_REFUTED = 1
EXIT_BAD_INPUT = 2
EXIT_UNKNOWN = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="iamrefine",
    help="Refine AWS IAM policies to least privilege, and prove the result.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=TidyGroup,
    context_settings={"help_option_names": HELP_OPTIONS},
)
app.callback()(root_callback)


def emit(diagnostics: Iterable[Diagnostic]) -> None:
    """Print diagnostics to stderr, one per line."""
    for d in diagnostics:
        print(d.render(), file=sys.stderr)


def exit_code_for(verdict: Verdict) -> int:
    """A proof's exit code: 0 PROVED, 1 REFUTED, 3 UNKNOWN."""
    from iamrefine.verify import Verdict

    return {Verdict.PROVED: EXIT_OK, Verdict.REFUTED: EXIT_REFUTED}.get(verdict, EXIT_UNKNOWN)


F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def guard() -> Iterator[None]:
    """Map library errors raised inside the block to messages and exit codes."""
    try:
        yield
    except InputError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except InternalError as exc:
        print(f"iamrefine: internal error: {exc}", file=sys.stderr)
        print("iamrefine: this is a bug; please report it with the inputs", file=sys.stderr)
        raise typer.Exit(EXIT_INTERNAL) from None
    except Interrupted as exc:
        print(f"iamrefine: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except IamRefineError as exc:
        print(f"iamrefine: error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def guarded(fn: F) -> F:
    """Decorate a command so that library errors become exit codes (see :func:`guard`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guard():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _register() -> None:
    from iamrefine.cli import (
        cmd_aws,
        cmd_catalog,
        cmd_check,
        cmd_corpus,
        cmd_hook,
        cmd_parse,
        cmd_refine,
        cmd_verify,
    )

    modules = (cmd_parse, cmd_refine, cmd_check, cmd_verify, cmd_corpus, cmd_catalog, cmd_aws)
    for module in (*modules, cmd_hook):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    app(args=argv)
