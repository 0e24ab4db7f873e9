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
from iamrefine.cli.inputs import AllOpt, PolicyIdOpt, load_source, no_stdin_twice, pair_by_id
from iamrefine.cli.options import CatalogOpt, EngineOpt, JsonOpt, TimeoutOpt, UnusedOpt

if TYPE_CHECKING:
    from iamrefine.model import Policy
    from iamrefine.verify import CheckReport


def _finish(report: CheckReport, as_json: bool, extra: dict[str, Any]) -> None:
    from iamrefine.render import render_check

    if as_json:
        typer.echo(json.dumps({**extra, **report.to_json()}, indent=2, ensure_ascii=False))
    else:
        typer.echo(render_check(report))
    raise typer.Exit(exit_code_for(report.verdict))


def _finish_all(
    reports: list[tuple[str, CheckReport]], as_json: bool, extra: dict[str, Any]
) -> None:
    """Report every pair of an ``--all`` run; the exit code is the worst verdict's."""
    from iamrefine.render import render_check
    from iamrefine.verify import Verdict

    if as_json:
        out = {**extra, "policies": [{"policy_id": i, **r.to_json()} for i, r in reports]}
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for policy_id, report in reports:
            typer.echo(f"== {policy_id}")
            typer.echo(render_check(report))
    verdicts = {r.verdict for _, r in reports}
    worst = next((v for v in (Verdict.REFUTED, Verdict.UNKNOWN) if v in verdicts), Verdict.PROVED)
    raise typer.Exit(exit_code_for(worst))


def _nothing() -> Policy:
    """The policy with no statement, which allows nothing: the side of a pair whose
    file lacks the other side's policy."""
    from iamrefine.model import VERSION_2012, Policy

    return Policy(version=VERSION_2012, statements=[], keys=["Version", "Statement"])


def _refined_input(path: Path, policy_id: str | None) -> Any:
    """The refined side of ``check``: a JSON file's path (a policy or a refiner's
    recommendation, which :func:`iamrefine.api.check` tells apart), or the policy
    selected from a template or plan."""
    from iamrefine.sources import SourceKind, read_document

    if str(path) != "-" and path.suffix.lower() == ".json":
        document = read_document(path)
        if document.kind is SourceKind.POLICY_JSON:
            return path
    return load_source(path, policy_id, lenient=True).policy


def register(app: typer.Typer) -> None:
    @app.command("check")
    @guarded
    def check(
        original: Annotated[
            Path,
            typer.Argument(
                help="The original policy (any form `parse` reads).", show_default=False
            ),
        ],
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
        policy_id: PolicyIdOpt = None,
        every: AllOpt = False,
    ) -> None:
        """Prove that REFINED is exactly ORIGINAL without the unused actions (over the
        catalog) and allows nothing ORIGINAL does not (over every action string).

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine import api

        no_stdin_twice(original, refined, unused)
        if every:
            pairs = pair_by_id(original, refined)
            cat = api.as_catalog(catalog)
            unused_set = api.as_unused(unused, cat, str(unused))
            emit(unused_set.warnings)
            reports = [
                (
                    pid,
                    api.check(
                        old.policy if old is not None else _nothing(),
                        new.policy if new is not None else None,
                        unused_set,
                        catalog=cat,
                        timeout=timeout,
                        engine=engine,
                    ),
                )
                for pid, old, new in pairs
            ]
            _finish_all(reports, as_json, {"original": str(original), "refined": str(refined)})
        inputs = api.load_check_inputs(
            load_source(original, policy_id).policy,
            _refined_input(refined, policy_id),
            unused,
            catalog=catalog,
        )
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
        a: Annotated[
            Path, typer.Argument(help="Policy A (any form `parse` reads).", show_default=False)
        ],
        b: Annotated[Path, typer.Argument(help="Policy B.", show_default=False)],
        subset: Annotated[
            bool,
            typer.Option("--subset", help="Only prove that A allows nothing B does not."),
        ] = False,
        catalog: CatalogOpt = None,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        as_json: JsonOpt = False,
        engine: EngineOpt = EngineName.auto,
        policy_id: PolicyIdOpt = None,
        every: AllOpt = False,
    ) -> None:
        """Prove that A and B allow the same requests (with --subset: that A allows nothing
        B does not), over the catalog's actions and over every action string.

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine import api

        no_stdin_twice(a, b)
        if every:
            cat = api.as_catalog(catalog)
            reports = [
                (
                    pid,
                    api.equiv(
                        sa.policy if sa is not None else _nothing(),
                        sb.policy if sb is not None else _nothing(),
                        subset=subset,
                        catalog=cat,
                        timeout=timeout,
                        engine=engine,
                    ),
                )
                for pid, sa, sb in pair_by_id(a, b)
            ]
            _finish_all(reports, as_json, {"a": str(a), "b": str(b), "subset": subset})
        pa = load_source(a, policy_id).policy
        pb = load_source(b, policy_id, lenient=True).policy
        report = api.equiv(pa, pb, subset=subset, catalog=catalog, timeout=timeout, engine=engine)
        _finish(report, as_json, {"a": str(a), "b": str(b), "subset": subset})
