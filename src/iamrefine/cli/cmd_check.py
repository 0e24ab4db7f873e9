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
from iamrefine.cli.inputs import (
    AllOpt,
    FormatOpt,
    PolicyIdOpt,
    ReportFormat,
    chosen_format,
    load_source,
    no_stdin_twice,
    pair_by_id,
    sarif_errors,
)
from iamrefine.cli.options import CatalogOpt, EngineOpt, JsonOpt, TimeoutOpt, UnusedOpt

if TYPE_CHECKING:
    from iamrefine.errors import Diagnostic
    from iamrefine.model import Policy
    from iamrefine.verify import CheckReport


Sides = dict[str, tuple[str, "Policy | None"]]
"""Each label of a report's decisions mapped to its file and policy (for SARIF)."""


def _finish(
    reports: list[tuple[str, CheckReport, Sides]],
    fmt: ReportFormat,
    extra: dict[str, Any],
    notes: list[Diagnostic],
    *,
    every: bool,
) -> None:
    """Print the reports (one per policy pair with ``--all``) and exit with the worst
    verdict's code."""
    from iamrefine import sarif
    from iamrefine.render import render_check
    from iamrefine.verify import Verdict

    if fmt is ReportFormat.sarif:
        results = sarif.diagnostics(notes)
        for policy_id, report, sides in reports:
            results.extend(sarif.check_results(report, sides, policy_id=policy_id))
        typer.echo(sarif.text(results))
    elif fmt is ReportFormat.json and every:
        out = {**extra, "policies": [{"policy_id": i, **r.to_json()} for i, r, _ in reports]}
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    elif fmt is ReportFormat.json:
        typer.echo(json.dumps({**extra, **reports[0][1].to_json()}, indent=2, ensure_ascii=False))
    else:
        for policy_id, report, _ in reports:
            if every:
                typer.echo(f"== {policy_id}")
            typer.echo(render_check(report))
    verdicts = {r.verdict for _, r, _ in reports}
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
        fmt: FormatOpt = None,
        engine: EngineOpt = EngineName.auto,
        policy_id: PolicyIdOpt = None,
        every: AllOpt = False,
    ) -> None:
        """Prove that REFINED is exactly ORIGINAL without the unused actions (over the
        catalog) and allows nothing ORIGINAL does not (over every action string).

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine import api

        chosen = chosen_format(fmt, as_json=as_json)
        no_stdin_twice(original, refined, unused)
        with sarif_errors(chosen):
            reports = []
            notes: list[Diagnostic] = []
            if every:
                pairs = pair_by_id(original, refined)
                cat = api.as_catalog(catalog)
                unused_set = api.as_unused(unused, cat, str(unused))
                emit(unused_set.warnings)
                for pid, old, new in pairs:
                    before = old.policy if old is not None else _nothing()
                    after = new.policy if new is not None else None
                    notes += [*(old.notes if old else []), *(new.notes if new else [])]
                    report = api.check(
                        before, after, unused_set, catalog=cat, timeout=timeout, engine=engine
                    )
                    sides = {"original": (str(original), before), "refined": (str(refined), after)}
                    reports.append((pid, report, sides))
            else:
                source = load_source(original, policy_id)
                notes = list(source.notes)
                inputs = api.load_check_inputs(
                    source.policy, _refined_input(refined, policy_id), unused, catalog=catalog
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
                sides = {
                    "original": (str(original), inputs.original),
                    "refined": (str(refined), inputs.refined),
                }
                reports.append(("", report, sides))
        extra: dict[str, Any] = {"original": str(original), "refined": str(refined)}
        if not every:
            extra.update({"detached": reports[0][2]["refined"][1] is None, "unused": str(unused)})
        _finish(reports, chosen, extra, notes, every=every)

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
        fmt: FormatOpt = None,
        engine: EngineOpt = EngineName.auto,
        policy_id: PolicyIdOpt = None,
        every: AllOpt = False,
    ) -> None:
        """Prove that A and B allow the same requests (with --subset: that A allows nothing
        B does not), over the catalog's actions and over every action string.

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine import api

        chosen = chosen_format(fmt, as_json=as_json)
        no_stdin_twice(a, b)
        with sarif_errors(chosen):
            reports = []
            notes: list[Diagnostic] = []
            if every:
                cat = api.as_catalog(catalog)
                for pid, sa, sb in pair_by_id(a, b):
                    pa = sa.policy if sa is not None else _nothing()
                    pb = sb.policy if sb is not None else _nothing()
                    notes += [*(sa.notes if sa else []), *(sb.notes if sb else [])]
                    report = api.equiv(
                        pa, pb, subset=subset, catalog=cat, timeout=timeout, engine=engine
                    )
                    pair: Sides = {"A": (str(a), pa), "B": (str(b), pb)}
                    reports.append((pid, report, pair))
            else:
                source_a = load_source(a, policy_id)
                source_b = load_source(b, policy_id, lenient=True)
                notes = [*source_a.notes, *source_b.notes]
                report = api.equiv(
                    source_a.policy,
                    source_b.policy,
                    subset=subset,
                    catalog=catalog,
                    timeout=timeout,
                    engine=engine,
                )
                sides: Sides = {"A": (str(a), source_a.policy), "B": (str(b), source_b.policy)}
                reports.append(("", report, sides))
        _finish(reports, chosen, {"a": str(a), "b": str(b), "subset": subset}, notes, every=every)
