"""``iamrefine parse``: validate a policy and print its normalized form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamrefine.cli.app import EXIT_BAD_INPUT, guarded

if TYPE_CHECKING:
    from iamrefine.model import Policy


def _load(path: Path) -> Policy:
    """Parse and validate ``path`` as the checker does before any proof."""
    from iamrefine.conditions.smt import validate
    from iamrefine.parse import load_policy

    policy = load_policy(path)
    validate([policy])
    return policy


def register(app: typer.Typer) -> None:
    @app.command("parse")
    @guarded
    def parse(
        policy: Annotated[Path, typer.Argument(help="The policy JSON file.")],
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="Print a JSON report (policy, statement count, size) or the "
                "diagnostics as JSON, instead of the policy text or error lines.",
            ),
        ] = False,
    ) -> None:
        """Validate POLICY and print it as iamrefine writes it (or its errors, exit 2).

        The checks are those of every other command: the policy's syntax and elements,
        then its condition operators and values and its policy variables.
        """
        from iamrefine.errors import InputError
        from iamrefine.write import dump_policy, non_whitespace_length, policy_to_json

        if not as_json:
            typer.echo(dump_policy(_load(policy)), nl=False)
            return
        try:
            parsed = _load(policy)
        except InputError as exc:
            report = {
                "source": str(policy),
                "valid": False,
                "diagnostics": [
                    {
                        "file": d.file,
                        "line": d.line,
                        "column": d.column,
                        "severity": d.severity,
                        "message": d.message,
                    }
                    for d in exc.diagnostics
                ],
            }
            typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        text = dump_policy(parsed)
        report = {
            "source": str(policy),
            "valid": True,
            "version": parsed.effective_version,
            "statements": len(parsed.statements),
            "non_whitespace_length": non_whitespace_length(text),
            "policy": policy_to_json(parsed),
        }
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
