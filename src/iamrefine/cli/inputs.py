"""Reading the policies a command names: the ``--policy-id`` and ``--all`` options and
the notes about opaque values (see :mod:`iamrefine.sources`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamrefine.cli.app import EXIT_BAD_INPUT, emit
from iamrefine.errors import Diagnostic, InputError, PolicyError

if TYPE_CHECKING:
    from iamrefine.sources import PolicySource

PolicyPathArg = Annotated[
    Path,
    typer.Argument(
        help="The policy: JSON or YAML, a CloudFormation template, a Terraform plan "
        "(`terraform show -json`), or `-` for stdin.",
        show_default=False,
    ),
]
PolicyIdOpt = Annotated[
    str | None,
    typer.Option(
        "--policy-id",
        help="In a template or plan holding several policies, the one to use: "
        "`LOGICAL_ID\\[/PolicyName]` or the Terraform address.",
        show_default=False,
    ),
]
AllOpt = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Use every policy of the template or plan, pairing policies by id.",
    ),
]


def load_source(path: Path, policy_id: str | None = None, *, lenient: bool = False) -> PolicySource:
    """The policy of ``path`` selected by ``policy_id``; its notes go to stderr.

    ``lenient`` ignores ``policy_id`` for a file that is a single policy (the second
    file of a comparison, often a plain policy)."""
    from iamrefine.sources import SourceKind, read_document

    document = read_document(path)
    single = document.kind in (SourceKind.POLICY_JSON, SourceKind.POLICY_YAML)
    source = document.select(None if lenient and single else policy_id)
    emit(source.notes)
    return source


def load_all(path: Path) -> list[PolicySource]:
    """Every policy of ``path``; their notes go to stderr."""
    from iamrefine.sources import read_document

    sources = read_document(path).all()
    for source in sources:
        emit(source.notes)
    return sources


def pair_by_id(
    left: Path, right: Path
) -> list[tuple[str, PolicySource | None, PolicySource | None]]:
    """The policies of two files paired by id, in the left file's order and then the
    right's; a policy missing from one side is paired with None."""
    a = {s.id: s for s in load_all(left)}
    b = {s.id: s for s in load_all(right)}
    ids = list(a) + [i for i in b if i not in a]
    return [(i, a.get(i), b.get(i)) for i in ids]


def no_stdin_twice(*paths: Path | None) -> None:
    """Standard input can be read once: refuse ``-`` for two inputs."""
    if sum(1 for p in paths if p is not None and str(p) == "-") > 1:
        raise PolicyError(Diagnostic("<stdin>", None, None, "`-` (stdin) names one input only"))


def rewritable(source: PolicySource) -> bool:
    """Is ``source`` a file that a refined policy is written back into (a template or
    a YAML policy), rather than printed as a JSON policy?"""
    from iamrefine.sources import SourceKind

    return source.kind in (SourceKind.CLOUDFORMATION, SourceKind.POLICY_YAML)


class ReportFormat(StrEnum):
    """How ``parse``, ``check`` and ``equiv`` print their result."""

    text = "text"
    json = "json"
    sarif = "sarif"


FormatOpt = Annotated[
    ReportFormat | None,
    typer.Option(
        "--format",
        help="`text` (the default), `json` (as `--json`), or `sarif`: a SARIF 2.1.0 log "
        "for code scanning, which also reports bad input (exit 2).",
        show_default=False,
    ),
]


def chosen_format(fmt: ReportFormat | None, *, as_json: bool) -> ReportFormat:
    """The format asked for by ``--format`` or ``--json`` (which must not disagree)."""
    if as_json and fmt not in (None, ReportFormat.json):
        raise InputError(
            Diagnostic("--format", None, None, f"`--json` and `--format {fmt}` disagree")
        )
    if fmt is not None:
        return fmt
    return ReportFormat.json if as_json else ReportFormat.text


@contextmanager
def sarif_errors(fmt: ReportFormat) -> Iterator[None]:
    """With SARIF output, bad input is a SARIF log of its diagnostics on stdout (and
    the usual lines on stderr), exit 2; otherwise errors pass through."""
    try:
        yield
    except InputError as exc:
        if fmt is not ReportFormat.sarif:
            raise
        from iamrefine import sarif

        emit(exc.diagnostics)
        typer.echo(sarif.text(sarif.diagnostics(exc.diagnostics)))
        raise typer.Exit(EXIT_BAD_INPUT) from None
