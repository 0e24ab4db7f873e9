"""Terminal habits of the whole command line: ``-h`` as well as ``--help``,
``--version``, boolean flags shown as flags, and help text that wraps at the
terminal's width instead of at the docstrings' line breaks.

:class:`TidyGroup` is the root command's class: once typer has built the command
tree, it tidies every command of it, so the fixes hold however the app is invoked.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from typer.core import TyperGroup

HELP_OPTIONS = ["-h", "--help"]


def reflow(text: str | None) -> str | None:
    """``text`` with the line breaks inside each paragraph joined, so that help wraps
    at the terminal's width and a command's summary is whole sentences."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def _tidy(command: Any) -> None:
    # Duck-typed: typer may build its commands from its own copy of click.
    command.help = reflow(command.help)
    for param in command.params:
        kind = getattr(param, "param_type_name", "")
        if kind == "option" and getattr(param, "is_flag", False) and param.metavar is None:
            # A flag takes no value: show no `<bool>` type beside it.
            param.metavar = ""
        if kind == "argument" and param.metavar is None and param.name:
            param.metavar = param.name.upper()
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


class TidyGroup(TyperGroup):
    """The root group: tidies the whole command tree once it is built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)

    def add_command(self, cmd: Any, name: str | None = None) -> None:
        super().add_command(cmd, name)
        _tidy(cmd)


def _print_version(value: bool) -> None:
    if value:
        from iamrefine import __version__

        typer.echo(f"iamrefine {__version__}")
        raise typer.Exit()


def root_callback(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print iamrefine's version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """Refine AWS IAM policies to least privilege, and prove the result."""
