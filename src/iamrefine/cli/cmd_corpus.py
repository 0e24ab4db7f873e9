"""``iamrefine corpus make``, ``iamrefine regress`` and ``iamrefine refine-batch``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from iamrefine.choices import DEFAULT_TIMEOUT, EngineName, Optimize
from iamrefine.cli.app import EXIT_OK, EXIT_REFUTED, guarded
from iamrefine.cli.options import (
    CatalogOpt,
    EngineOpt,
    ExecutorOpt,
    MaxPoliciesOpt,
    OptimizeOpt,
    TimeoutOpt,
)

JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Cases processed in parallel (processes of this machine, with `--executor local`).",
    ),
]


class RegressFormat(StrEnum):
    """How ``regress`` prints its result."""

    table = "table"
    sarif = "sarif"


def register(app: typer.Typer) -> None:
    corpus = typer.Typer(help="Make test corpora.", no_args_is_help=True)

    @corpus.command("make")
    @guarded
    def make(
        policy_dir: Annotated[Path, typer.Argument(help="Folder of policy JSON files.")],
        out_dir: Annotated[Path, typer.Argument(help="Folder to write the case folders to.")],
        unused_ratio: Annotated[
            float,
            typer.Option(
                "--unused-ratio",
                min=0.0,
                max=1.0,
                help="Fraction of each policy's allowed catalog actions to mark unused.",
            ),
        ] = 0.3,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
        catalog: CatalogOpt = None,
    ) -> None:
        """Turn a folder of policies into a corpus: one case folder per policy, with
        the policy and a random, reproducible selection of its allowed actions as unused.

        Policies that do not parse are reported on stderr and skipped."""
        from iamrefine.catalog import load_catalog
        from iamrefine.cli.app import emit
        from iamrefine.harness.corpus import make_corpus
        from iamrefine.harness.report import progress_bar

        loaded = load_catalog(catalog)
        files = policy_dir.glob("*.json") if policy_dir.is_dir() else ()
        total = sum(1 for f in files if f.name != "MANIFEST.json")
        with progress_bar(total, "making") as bar:
            made = make_corpus(
                policy_dir,
                out_dir,
                unused_ratio=unused_ratio,
                seed=seed,
                catalog=loaded,
                on_policy=bar.advance,
            )
        if made.skipped:
            emit(made.skipped)
        skipped = len({d.file for d in made.skipped})
        typer.echo(
            f"wrote {len(made.cases)} cases to {out_dir} "
            f"({made.unused_total} unused actions in all); skipped {skipped} policies"
        )

    @corpus.command("synth")
    @guarded
    def synth(
        out_dir: Annotated[Path, typer.Argument(help="Folder to write the case folders to.")],
        policies: Annotated[
            int, typer.Option("--policies", min=1, help="Number of cases to make.")
        ] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
        source: Annotated[
            list[Path] | None,
            typer.Option(
                "--source",
                help="Folder of policy JSON files to draw statements from (repeatable; "
                "default: ../shared/corpus/aws-managed and ../shared/corpus/aws-docs).",
            ),
        ] = None,
        catalog: CatalogOpt = None,
    ) -> None:
        """Make a synthetic organization: POLICIES realistic cases, each mixing the
        statements of several real policies with renamed Sids, accounts and resource
        names, and unused actions that are whole services or a share of the actions
        it allows. The same seed and sources give the same corpus."""
        from iamrefine.catalog import load_catalog
        from iamrefine.cli.app import emit
        from iamrefine.harness.report import progress_bar
        from iamrefine.harness.synth import read_sources, synthesize

        shared = Path("..") / "shared" / "corpus"
        folders = source or [shared / "aws-managed", shared / "aws-docs"]
        loaded = load_catalog(catalog)
        sources, unreadable = read_sources(folders)
        with progress_bar(policies, "making") as bar:
            made = synthesize(
                sources,
                out_dir,
                policies=policies,
                seed=seed,
                catalog=loaded,
                on_case=bar.advance,
            )
        if made.skipped:
            emit(made.skipped)
        typer.echo(
            f"wrote {len(made.cases)} cases to {out_dir} from {len(sources)} policies "
            f"({made.shapes['services']} with whole services unused, "
            f"{made.shapes['actions']} with a share of actions); "
            f"{len(unreadable)} source policies did not parse"
        )

    app.add_typer(corpus, name="corpus")

    @app.command("regress")
    @guarded
    def regress(
        corpus_dir: Annotated[
            Path, typer.Argument(metavar="CORPUS", help="Folder of case folders.")
        ],
        refiner: Annotated[
            str | None,
            typer.Option(
                "--refiner",
                metavar="COMMAND",
                help="Refiner command line with `{policy}` and `{unused}`; "
                "it prints the refined policy JSON on stdout. It runs without a shell, so "
                "shell syntax outside quotes (pipes, redirections, `;`, `$`) is refused; "
                'for a pipeline give `sh -c \'CMD "$1" "$2" | ...\' sh {policy} {unused}`.',
            ),
        ] = None,
        refiner_py: Annotated[
            str | None,
            typer.Option(
                "--refiner-py",
                metavar="MODULE:FUNCTION",
                help="A Python callable (policy_path, unused_path) -> str | dict, "
                "run in a child process per case. The module is imported with the current "
                "folder first on the import path, as `python -m` does.",
            ),
        ] = None,
        jobs: JobsOpt = 1,
        executor: ExecutorOpt = "local",
        refiner_timeout: Annotated[
            float,
            typer.Option(
                "--refiner-timeout", min=0.1, help="Seconds each run of the refiner may take."
            ),
        ] = 60.0,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        max_output: Annotated[
            int,
            typer.Option("--max-output", min=1, help="Largest refiner output accepted, in bytes."),
        ] = 10 * 1024 * 1024,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the full JSON report here.")
        ] = None,
        junit_out: Annotated[
            Path | None, typer.Option("--junit", help="Write JUnit XML here.")
        ] = None,
        catalog: CatalogOpt = None,
        fmt: Annotated[
            RegressFormat,
            typer.Option(
                "--format",
                help="`table`, or `sarif`: a SARIF 2.1.0 log with one result per case "
                "that is not exact.",
            ),
        ] = RegressFormat.table,
    ) -> None:
        """Grade a refiner over a corpus: one verdict per case, checked by iamrefine.

        Each case gets the first verdict that applies, in this order: timeout,
        crashed, invalid-output, escalation (allows an action string the original does
        not, such as a future action), over-permissive (allows a catalog request it
        should deny), under-permissive (denies a used request), unknown, exact. A
        result refuted in several ways (`glue:Get*` widened to `glue:*`) is named
        after the most severe finding; the JSON's `findings` and the table list them all.

        Exit 0 when every case is exact, 1 otherwise, 2 for bad input."""
        from iamrefine.errors import InputError
        from iamrefine.files import check_distinct
        from iamrefine.harness.corpus import list_cases
        from iamrefine.harness.executors import ExecutorSpec
        from iamrefine.harness.refiners import CommandRefiner, PythonRefiner, Refiner
        from iamrefine.harness.regress import GradeOptions, run_regress
        from iamrefine.harness.report import (
            print_regress,
            progress_bar,
            regress_json,
            write_json,
            write_junit,
        )

        where = ExecutorSpec.parse(executor)
        if (refiner is None) == (refiner_py is None):
            raise InputError.at("regress", "give exactly one of `--refiner` and `--refiner-py`")
        check_distinct({"--catalog": catalog}, {"--json": json_out, "--junit": junit_out})
        chosen: Refiner = (
            CommandRefiner.parse(refiner)
            if refiner is not None
            else PythonRefiner.parse(str(refiner_py))
        )
        total = len(list_cases(corpus_dir))
        options = GradeOptions(
            timeout=refiner_timeout, check_timeout=timeout, max_output=max_output
        )
        with progress_bar(total, "grading") as bar:
            report = run_regress(
                corpus_dir,
                chosen,
                catalog_path=catalog,
                jobs=jobs,
                executor=where,
                options=options,
                on_result=lambda r: bar.advance(f"{r.name}: {r.verdict}"),
            )
        if json_out is not None:
            write_json(regress_json(report), json_out)
        if junit_out is not None:
            write_junit(report, junit_out)
        if fmt is RegressFormat.sarif:
            from iamrefine import sarif

            typer.echo(sarif.text(sarif.regress_results(report)))
        else:
            print_regress(report)
        raise typer.Exit(EXIT_OK if report.all_exact else EXIT_REFUTED)

    @app.command("refine-batch")
    @guarded
    def refine_batch(
        corpus_dir: Annotated[
            Path, typer.Argument(metavar="CORPUS", help="Folder of case folders.")
        ],
        out_dir: Annotated[
            Path, typer.Argument(metavar="OUT_DIR", help="Folder for one result folder per case.")
        ],
        jobs: JobsOpt = 1,
        executor: ExecutorOpt = "local",
        certificates: Annotated[
            bool, typer.Option("--certificates", help="Also write each case's proof certificate.")
        ] = False,
        prove: Annotated[
            bool,
            typer.Option("--prove/--no-prove", help="Prove each result before writing it."),
        ] = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        engine: EngineOpt = EngineName.auto,
        catalog: CatalogOpt = None,
        optimize: OptimizeOpt = Optimize.auto,
        max_policies: MaxPoliciesOpt = 10,
        case_timeout: Annotated[
            float | None,
            typer.Option(
                "--case-timeout",
                min=0.001,
                help="Time budget of each case in seconds: a case that runs over it is "
                "recorded as `timeout` (verdict UNKNOWN) and tried again by a rerun.",
            ),
        ] = None,
    ) -> None:
        """Refine every case of CORPUS into OUT_DIR/<case>/, resuming an earlier run.

        A case folder holds `unused.json` and one policy file (`policy.json|yaml|yml`,
        `template.json|yaml|yml` or `plan.json`); every policy of a template or plan is
        refined and proved.

        Exit 0 when no case failed, 1 otherwise, 2 for bad input."""
        from iamrefine.harness.batch import BatchOptions
        from iamrefine.harness.batch import refine_batch as run_batch
        from iamrefine.harness.corpus import SOURCE_FILES, list_cases
        from iamrefine.harness.executors import ExecutorSpec
        from iamrefine.harness.report import print_batch, progress_bar

        where = ExecutorSpec.parse(executor)
        total = len(list_cases(corpus_dir, policy_files=SOURCE_FILES))
        options = BatchOptions(
            certificates=certificates,
            prove=prove,
            check_timeout=timeout,
            engine=engine,
            optimize=optimize,
            max_policies=max_policies,
            case_timeout=case_timeout,
        )
        with progress_bar(total, "refining") as bar:
            report = run_batch(
                corpus_dir,
                out_dir,
                catalog_path=catalog,
                jobs=jobs,
                executor=where,
                options=options,
                on_result=lambda r: bar.advance(f"{r.name}: {r.outcome}"),
            )
        print_batch(report)
        raise typer.Exit(EXIT_REFUTED if report.failed else EXIT_OK)
