"""The typer application, its sub-command registration and the one place where
library errors become exit codes.

Exit codes: 0 success (or PROVED), 1 REFUTED or a failed check, 2 bad input,
3 UNKNOWN, 70 internal error, 130 interrupted (a long run that says how to resume).
"""

from __future__ import annotations

import functools
import gc
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
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

COMMANDS: dict[str, str] = {
    "parse": "cmd_parse",
    "refine": "cmd_refine",
    "explain": "cmd_refine",
    "check": "cmd_check",
    "equiv": "cmd_check",
    "verify": "cmd_verify",
    "corpus": "cmd_corpus",
    "regress": "cmd_corpus",
    "refine-batch": "cmd_corpus",
    "catalog": "cmd_catalog",
    "aws": "cmd_aws",
    "hook": "cmd_hook",
}
"""Each command (or command group) and the module under ``iamrefine.cli`` that registers
it; the modules in the order of the help's command list."""


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
    _collect_from_here()  # a long command collects its garbage (see `main`)
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


def build_app(modules: Sequence[str] | None = None) -> typer.Typer:
    """The typer application with the commands of ``modules`` (default: all of them).

    ``iamrefine CMD`` imports and builds only the module of CMD: typer inspects every
    parameter of every registered command before it runs one, and the command modules
    import their own dependencies, so a whole command line costs start-up time."""
    names = tuple(dict.fromkeys(COMMANDS.values())) if modules is None else tuple(modules)
    built = _APPS.get(names)
    if built is None:
        built = typer.Typer(
            name="iamrefine",
            help="Refine AWS IAM policies to least privilege, and prove the result.",
            no_args_is_help=True,
            add_completion=False,
            pretty_exceptions_enable=False,
            cls=TidyGroup,
            context_settings={"help_option_names": HELP_OPTIONS},
        )
        built.callback()(root_callback)
        for name in names:
            importlib.import_module(f"iamrefine.cli.{name}").register(built)
        _APPS[names] = built
    return built


_APPS: dict[tuple[str, ...], typer.Typer] = {}


def _command_of(argv: Sequence[str]) -> str | None:
    # The root takes only flags (`-h`, `--help`, `--version`), so the first word that is
    # not one names the command; the root's help and a word that names no command (a
    # typo, which gets suggestions) need the whole app.
    for arg in argv:
        if arg in HELP_OPTIONS:
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _modules_for(argv: Sequence[str]) -> list[str] | None:
    command = _command_of(argv)
    return None if command is None else [COMMANDS[command]]


def __getattr__(name: str) -> typer.Typer:
    # `from iamrefine.cli.app import app`: the application with every command.
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ONE_INPUT = frozenset({"parse", "refine", "explain", "check", "equiv", "verify", "catalog"})
"""The commands whose work is bounded by their inputs, during which the cyclic garbage
collector stays held back (see :func:`main`): refining and proving the largest managed
policies leaves a few hundred objects in reference cycles. The other commands (batch,
regress, AWS, hooks) run for as long as their corpus or account needs, and collect."""

_held: list[str] = []
"""While :func:`main` holds the collector back: until the command starts (``command``)
or until it returns (``return``)."""


def _collect_from_here(*, returned: bool = False) -> None:
    if _held and (returned or _held[0] == "command"):
        _held.clear()
        gc.freeze()
        gc.enable()


def main(argv: list[str] | None = None) -> None:
    """Console entry point.

    The cyclic garbage collector is held back while the command line starts: what
    start-up builds (modules, classes, the command tree, the policy model) lives until
    the process exits, and every full collection would walk all of it again, about a
    fifth of a short run's CPU time. When the command starts (or, for the commands of
    :data:`ONE_INPUT`, when it returns), what was built is frozen, so that later
    collections skip it, and collection resumes."""
    args = sys.argv[1:] if argv is None else argv
    command = _command_of(args)
    if gc.isenabled():
        gc.disable()
        _held.append("return" if command in ONE_INPUT else "command")
    try:
        build_app(None if command is None else [COMMANDS[command]])(args=args)
    finally:
        _collect_from_here(returned=True)
