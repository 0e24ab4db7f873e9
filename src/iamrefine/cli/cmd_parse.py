"""``iamrefine parse``: validate a policy and print its normalized form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iamrefine.cli.app import EXIT_BAD_INPUT, guarded
from iamrefine.cli.inputs import (
    AllOpt,
    FormatOpt,
    PolicyIdOpt,
    PolicyPathArg,
    ReportFormat,
    chosen_format,
    sarif_errors,
)

if TYPE_CHECKING:
    from iamrefine.errors import Diagnostic
    from iamrefine.sources import PolicySource


def _load(path: Path, policy_id: str | None, *, every: bool) -> list[PolicySource]:
    """Read and validate the policies of ``path`` as the checker does before any proof."""
    from iamrefine.cli.inputs import load_all, load_source
    from iamrefine.conditions.smt import validate

    sources = load_all(path) if every else [load_source(path, policy_id)]
    validate([s.policy for s in sources])
    return sources


def _diagnostics_json(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    return [
        {
            "file": d.file,
            "line": d.line,
            "column": d.column,
            "severity": d.severity,
            "message": d.message,
        }
        for d in diagnostics
    ]


def _report(source: PolicySource) -> dict[str, Any]:
    from iamrefine.write import dump_policy, non_whitespace_length, policy_to_json

    parsed = source.policy
    text = dump_policy(parsed)
    report: dict[str, Any] = {"source": source.file}
    if source.id:
        report["policy_id"] = source.id
    report.update(
        {
            "valid": True,
            "version": parsed.effective_version,
            "statements": len(parsed.statements),
            "non_whitespace_length": non_whitespace_length(text),
            "policy": policy_to_json(parsed),
        }
    )
    if source.notes:
        report["notes"] = _diagnostics_json(source.notes)
    return report


def register(app: typer.Typer) -> None:
    @app.command("parse")
    @guarded
    def parse(
        policy: PolicyPathArg,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="Print a JSON report (policy, statement count, size) or the "
                "diagnostics as JSON, instead of the policy text or error lines.",
            ),
        ] = False,
        fmt: FormatOpt = None,
        policy_id: PolicyIdOpt = None,
        every: AllOpt = False,
    ) -> None:
        """Validate POLICY and print it as iamrefine writes it (or its errors, exit 2).

        The checks are those of every other command: the policy's syntax and elements,
        then its condition operators and values and its policy variables. With `--all`,
        every policy of a template or plan is checked and printed, in one JSON object
        keyed by policy id.
        """
        from iamrefine import sarif
        from iamrefine.errors import InputError
        from iamrefine.write import dump_policy, json_text, policy_to_json

        chosen = chosen_format(fmt, as_json=as_json)
        if chosen is ReportFormat.sarif:
            with sarif_errors(chosen):
                sources = _load(policy, policy_id, every=every)
            notes = [n for s in sources for n in s.notes]
            typer.echo(sarif.text(sarif.diagnostics(notes)))
            return
        if chosen is ReportFormat.text:
            sources = _load(policy, policy_id, every=every)
            if every:
                documents = {s.id or s.file: policy_to_json(s.policy) for s in sources}
                typer.echo(json_text(documents, indent=2))
            else:
                typer.echo(dump_policy(sources[0].policy), nl=False)
            return
        try:
            sources = _load(policy, policy_id, every=every)
        except InputError as exc:
            report = {
                "source": str(policy),
                "valid": False,
                "diagnostics": _diagnostics_json(exc.diagnostics),
            }
            typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        reports = [_report(s) for s in sources]
        typer.echo(json_text(reports if every else reports[0], indent=2))
