"""``iamrefine aws recommend`` and ``iamrefine aws apply`` (the ``aws`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamrefine.choices import DEFAULT_TIMEOUT, EngineName
from iamrefine.cli.app import EXIT_OK, EXIT_REFUTED, guarded
from iamrefine.cli.options import CatalogOpt, EngineOpt, ExecutorOpt, TimeoutOpt

if TYPE_CHECKING:
    from rich.console import Console

    from iamrefine.aws.apply import Change
    from iamrefine.aws.clients import AwsFailure, Connector
    from iamrefine.aws.recommend import RecommendReport

RegionOpt = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: the profile's).")
]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="AWS named profile (default: the environment's).")
]
RoleOpt = Annotated[
    str | None,
    typer.Option(
        "--assume-role-name",
        help="Role to assume in each member account of an organization analyzer.",
    ),
]
OutDirArg = Annotated[
    Path, typer.Argument(metavar="OUT_DIR", help="Folder for one result folder per policy.")
]
ResultsArg = Annotated[
    Path, typer.Argument(metavar="OUT_DIR", help="The output folder of `aws recommend`.")
]


def _connect(profile: str | None, region: str | None, role: str | None) -> Connector:
    from iamrefine.aws import require_boto3

    require_boto3()
    from iamrefine.aws.clients import Connector

    return Connector.open(profile=profile, region=region, role_name=role)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_failures(failures: list[AwsFailure], out: Console) -> None:
    from rich.table import Table

    if not failures:
        return
    table = Table(title=f"Failed calls ({len(failures)}); the run went on", title_justify="left")
    for column in ("account", "principal / policy", "operation", "error"):
        table.add_column(column, overflow="fold")
    for f in failures:
        where = "/".join(p for p in (f.principal, f.policy) if p)
        table.add_row(f.account, where, f.operation, _escape(f"{f.code}: {f.message}"))
    out.print(table)


def print_recommend(report: RecommendReport, out: Console) -> None:
    """The summary table: one row per policy, ours beside AWS's when compared."""
    from rich.table import Table

    table = Table(title="Policies", title_justify="left")
    for column in ("account", "principal", "policy", "outcome", "chars", "AWS", "AWS chars"):
        table.add_column(column, overflow="fold")

    def size(before: int | None, after: int | None) -> str:
        return "-" if before is None else f"{before} -> {'-' if after is None else after}"

    for r in report.results:
        principal = r.folder.split("/")[1]
        outcome = r.outcome.value + (f": {r.reason}" if r.reason else "")
        aws = "-" if r.aws is None else (r.aws.verdict or r.aws.status)
        if r.aws is not None and r.aws.detail:
            aws += f": {r.aws.detail}"
        elif r.aws is not None and r.aws.error:
            aws += f": {r.aws.error}"
        aws_chars = "-" if r.aws is None or r.aws.chars is None else str(r.aws.chars)
        table.add_row(
            r.account,
            principal,
            f"{r.kind}-{r.name}",
            _escape(outcome),
            size(r.original_chars, r.refined_chars),
            _escape(aws),
            aws_chars,
        )
    out.print(table)
    print_failures(report.failures, out)
    out.print(f"results: {_escape(str(report.out_dir))}", soft_wrap=True)
    out.print(_escape(report.summary_line()), soft_wrap=True)


def _print_changes(changes: list[Change], out: Console, *, dry_run: bool) -> None:
    from iamrefine.aws.apply import Status

    for change in changes:
        if change.status in (Status.SKIPPED,):
            out.print(_escape(f"{change.folder}: skipped: {change.reason}"), soft_wrap=True)
        elif change.status is Status.REFUSED:
            out.print(_escape(f"{change.folder}: REFUSED: {change.reason}"), soft_wrap=True)
        else:
            verb = "would call" if dry_run else change.status.value
            out.print(_escape(f"{change.folder}: {verb}:"), soft_wrap=True)
            for call in change.calls:
                out.print(_escape(f"  {call.render()}"), soft_wrap=True)
            if change.reason:
                out.print(_escape(f"  FAILED: {change.reason}"), soft_wrap=True)


def register(app: typer.Typer) -> None:
    aws = typer.Typer(
        help="From an AWS account: proven recommendations for Access Analyzer's "
        "unused-permission findings, and a safe apply (needs the `aws` extra).",
        no_args_is_help=True,
    )

    @aws.command("recommend")
    @guarded
    def recommend(
        out_dir: OutDirArg,
        analyzer_arn: Annotated[
            str | None,
            typer.Option(
                "--analyzer-arn",
                help="Unused-access analyzer (default: the region's organization or "
                "account analyzer).",
            ),
        ] = None,
        region: RegionOpt = None,
        profile: ProfileOpt = None,
        account: Annotated[
            list[str] | None,
            typer.Option("--account", help="Only this account's findings (repeatable)."),
        ] = None,
        assume_role_name: RoleOpt = None,
        jobs: Annotated[
            int,
            typer.Option(
                "--jobs", "-j", min=1, help="Policies proved in parallel (with `--executor local`)."
            ),
        ] = 1,
        executor: ExecutorOpt = "local",
        compare_aws: Annotated[
            bool,
            typer.Option(
                "--compare-aws",
                help="Also fetch AWS's own recommendation and grade it with the checker.",
            ),
        ] = False,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        engine: EngineOpt = EngineName.auto,
        catalog: CatalogOpt = None,
    ) -> None:
        """Fetch the active unused-permission findings and their principals' policies,
        refine and prove every policy they touch, and write OUT_DIR/<account>/<principal>/
        <policy>/ and OUT_DIR/summary.json. A rerun resumes.

        Exit 0 when every policy was done and every call succeeded, 1 otherwise (the
        failures are listed), 2 for bad input or unusable credentials."""
        from rich.console import Console

        from iamrefine.aws.recommend import RecommendOptions
        from iamrefine.aws.recommend import recommend as run
        from iamrefine.harness.executors import ExecutorSpec
        from iamrefine.harness.report import progress_bar

        where = ExecutorSpec.parse(executor)
        connector = _connect(profile, region, assume_role_name)
        options = RecommendOptions(
            analyzer_arn=analyzer_arn,
            accounts=tuple(account or ()),
            jobs=jobs,
            executor=where,
            compare_aws=compare_aws,
            timeout=timeout,
            engine=engine,
        )
        with progress_bar(0, "aws") as bar:
            report = run(
                connector,
                out_dir,
                catalog_path=catalog,
                options=options,
                on_findings=lambda n: bar.restart(n, "fetching"),
                on_finding=lambda name: bar.advance(name.rsplit("/", 1)[-1]),
                on_tasks=lambda n: bar.restart(n, "refining"),
                on_result=lambda r: bar.advance(f"{r.name}: {r.outcome.value}"),
            )
        print_recommend(report, Console())
        raise typer.Exit(EXIT_REFUTED if report.failed else EXIT_OK)

    @aws.command("apply")
    @guarded
    def apply(
        out_dir: ResultsArg,
        yes: Annotated[
            bool, typer.Option("--yes", help="Make the changes (without it: a dry run).")
        ] = False,
        rollback: Annotated[
            Path | None,
            typer.Option(
                "--rollback",
                metavar="FILE",
                help="Undo the changes logged in this rollback file instead.",
            ),
        ] = None,
        region: RegionOpt = None,
        profile: ProfileOpt = None,
        assume_role_name: RoleOpt = None,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        engine: EngineOpt = EngineName.auto,
        catalog: CatalogOpt = None,
    ) -> None:
        """Apply the PROVED recommendations of OUT_DIR whose policy has not changed since
        it was fetched, each proved again against the live policy first. A dry run (the
        default) prints the exact IAM calls; `--yes` makes them and logs how to undo them
        in OUT_DIR/rollback-<time>.json.

        Exit 0 when nothing was refused or failed, 1 otherwise, 2 for bad input."""
        from rich.console import Console

        from iamrefine.aws import apply as steps
        from iamrefine.aws import rollback as undo

        connector = _connect(profile, region, assume_role_name)
        out = Console()
        if rollback is not None:
            changes = undo.rollback_plan(connector, rollback)
            failures = [] if not yes else undo.execute_rollback(connector, changes)
        else:
            proof = steps.ProofOptions(catalog_path=catalog, timeout=timeout, engine=engine)
            changes = steps.plan(connector, out_dir, proof)
            failures = []
            if yes:
                log = steps.RollbackLog(steps.new_rollback_path(out_dir), out_dir)
                failures = steps.execute(connector, changes, log)
                if log.data["changes"]:
                    out.print(_escape(f"rollback file: {log.path}"), soft_wrap=True)
        _print_changes(changes, out, dry_run=not yes)
        if not yes:
            out.print("dry run: nothing was changed; pass `--yes` to make these calls")
        print_failures(failures, out)
        refused = any(c.status in (steps.Status.REFUSED, steps.Status.FAILED) for c in changes)
        raise typer.Exit(EXIT_REFUTED if refused or failures else EXIT_OK)

    app.add_typer(aws, name="aws")
