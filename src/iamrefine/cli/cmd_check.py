"""``iamrefine check`` and ``iamrefine equiv``: thin callers of :func:`iamrefine.check`
and :func:`iamrefine.equiv`.

Exit codes: 0 PROVED, 1 REFUTED, 2 bad input, 3 UNKNOWN. Z3 and the checker are
imported inside the commands, so that ``iamrefine --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iamrefine.choices import DEFAULT_TIMEOUT, EngineName
from iamrefine.cli.app import emit, exit_code_for, guarded
from iamrefine.cli.options import CatalogOpt, EngineOpt, JsonOpt, TimeoutOpt, UnusedOpt

if TYPE_CHECKING:
    from iamrefine.verify import CheckReport


def _finish(report: CheckReport, as_json: bool, extra: dict[str, Any]) -> None:
    from iamrefine.render import render_check

    if as_json:
        typer.echo(json.dumps({**extra, **report.to_json()}, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_check(report))
    raise typer.Exit(exit_code_for(report.verdict))


def register(app: typer.Typer) -> None:
    @app.command("check")
    @guarded
    def check(
        original: Annotated[Path, typer.Argument(help="The original policy.", show_default=False)],
        refined: Annotated[
            Path,
            typer.Argument(
                help="The refined policy, or a recommendation: DETACH_POLICY is no policy, "
                "several CREATE_POLICY steps are their union, FAILED keeps ORIGINAL.",
                show_default=False,
            ),
        ],
        unused: UnusedOpt,
        catalog: CatalogOpt = None,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        as_json: JsonOpt = False,
        engine: EngineOpt = EngineName.auto,
    ) -> None:
        """Prove that REFINED is exactly ORIGINAL without the unused actions (over the
        catalog) and allows nothing ORIGINAL does not (over every action string).

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine import api

        inputs = api.load_check_inputs(original, refined, unused, catalog=catalog)
        emit(inputs.unused.warnings)
        report = api.check(
            inputs.original,
            inputs.refined,
            inputs.unused,
            catalog=inputs.catalog,
            timeout=timeout,
            engine=engine,
        )
        _finish(
            report,
            as_json,
            {
                "original": str(original),
                "refined": str(refined),
                "detached": inputs.refined is None,
                "unused": str(unused),
            },
        )

    @app.command("equiv")
    @guarded
    def equiv(
        a: Annotated[Path, typer.Argument(help="Policy A.", show_default=False)],
        b: Annotated[Path, typer.Argument(help="Policy B.", show_default=False)],
        subset: Annotated[
            bool,
            typer.Option("--subset", help="Only prove that A allows nothing B does not."),
        ] = False,
        catalog: CatalogOpt = None,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        as_json: JsonOpt = False,
        engine: EngineOpt = EngineName.auto,
    ) -> None:
        """Prove that A and B allow the same requests (with --subset: that A allows nothing
        B does not), over the catalog's actions and over every action string.

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine import api

        report = api.equiv(a, b, subset=subset, catalog=catalog, timeout=timeout, engine=engine)
        _finish(report, as_json, {"a": str(a), "b": str(b), "subset": subset})
