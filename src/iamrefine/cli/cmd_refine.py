"""``iamrefine refine`` and ``iamrefine explain``: thin callers of
:func:`iamrefine.api.refine_and_prove`, which loads, refines, proves and certifies;
these commands only print its outcome and write files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamrefine.choices import (
    DEFAULT_TIMEOUT,
    EngineName,
    Granularity,
    Optimize,
    OutputFormat,
    Strategy,
)
from iamrefine.cli.app import emit, guarded
from iamrefine.cli.inputs import PolicyIdOpt, load_source, rewritable
from iamrefine.cli.options import (
    CatalogOpt,
    EngineOpt,
    MaxPoliciesOpt,
    OptimizeOpt,
    TimeoutOpt,
    UnusedOpt,
)
from iamrefine.files import check_distinct, write_atomic

if TYPE_CHECKING:
    from iamrefine.api import Outcome


PolicyArg = Annotated[
    Path,
    typer.Argument(
        help="The policy to refine: JSON or YAML, a CloudFormation template, a Terraform "
        "plan (`terraform show -json`), or `-` for stdin.",
        show_default=False,
    ),
]
GranularityOpt = Annotated[
    Granularity,
    typer.Option(
        "--granularity",
        help="Trie nodes at CamelCase word boundaries (`word`) or at every character.",
    ),
]
StrategyOpt = Annotated[
    Strategy,
    typer.Option(
        "--strategy",
        help="`notaction` writes a statement whose Action is `*` as NotAction of the "
        "unused actions; other statements keep the pattern form. `patterns` keeps every "
        "Action list. `auto`: `patterns`, or `notaction` when only that fits in "
        "--max-policies managed policies.",
    ),
]


def deliver(text: str, out: Path | None) -> None:
    """Print ``text`` to stdout, or write it atomically to ``out``."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(out, text)


def report_outcome(outcome: Outcome, policy: Path, *, allow_unproved: bool) -> int:
    """Print the proof's verdict to stderr; the exit code it calls for. Raises
    :class:`typer.Exit` when nothing may be written: the proof is REFUTED, or UNKNOWN
    without ``allow_unproved``."""
    from iamrefine.cli.app import EXIT_REFUTED, EXIT_UNKNOWN
    from iamrefine.render import render_check
    from iamrefine.verify import Verdict

    report = outcome.report
    if report is None:
        return 0
    if report.verdict is Verdict.PROVED:
        print(
            f"{policy}: note: PROVED in {report.seconds:.2f} s: "
            + "; ".join(c.name for c in report.claims),
            file=sys.stderr,
        )
        return 0
    print(render_check(report), file=sys.stderr)
    if report.verdict is Verdict.REFUTED:
        print(
            "iamrefine: the refinement was REFUTED; this is a bug in iamrefine's "
            "refiner; no policy written",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_REFUTED)
    if not allow_unproved:
        print(
            "iamrefine: the proof is UNKNOWN; no policy written "
            "(pass `--allow-unproved` to write it anyway)",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_UNKNOWN)
    return EXIT_UNKNOWN


def register(app: typer.Typer) -> None:
    @app.command("refine")
    @guarded
    def refine(
        policy: PolicyArg,
        unused: UnusedOpt,
        catalog: CatalogOpt = None,
        output: Annotated[
            Path | None,
            typer.Option("--output", "-o", help="Write here (atomically) instead of stdout."),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="What to print.")
        ] = OutputFormat.policy,
        granularity: GranularityOpt = Granularity.word,
        strategy: StrategyOpt = Strategy.auto,
        policy_id: Annotated[
            str | None,
            typer.Option(
                "--policy-id",
                help="In a template or plan, the policy to refine (`LOGICAL_ID\\[/PolicyName]` "
                "or the Terraform address); also the recommendation's `existingPolicyId` "
                "(default: the policy's file name).",
            ),
        ] = None,
        certificate: Annotated[
            Path | None,
            typer.Option(
                "--certificate",
                help="Also write a proof certificate here (atomically); "
                "check it with `iamrefine verify`.",
            ),
        ] = None,
        embed_catalog: Annotated[
            bool,
            typer.Option(
                "--embed-catalog",
                help="Put the catalog's names in the certificate (gzip, base64), so that "
                "`iamrefine verify` checks it without the catalog at hand; by default the "
                "certificate names the catalog by source, version and digest.",
            ),
        ] = False,
        prove: Annotated[
            bool,
            typer.Option(
                "--prove/--no-prove",
                help="Prove the result before printing it (the default). A REFUTED proof "
                "prints no policy and exits 1; an UNKNOWN one exits 3.",
            ),
        ] = True,
        allow_unproved: Annotated[
            bool,
            typer.Option(
                "--allow-unproved",
                help="When the proof is UNKNOWN (e.g. a timeout), still write the policy; "
                "the exit code stays 3.",
            ),
        ] = False,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        engine: EngineOpt = EngineName.auto,
        optimize: OptimizeOpt = Optimize.auto,
        max_policies: MaxPoliciesOpt = 10,
    ) -> None:
        """Remove the UNUSED actions from POLICY, keeping patterns as general as is safe,
        and prove the result.

        A CloudFormation template or YAML policy is printed whole, with only the policy
        document changed. Warnings go to stderr as FILE:LINE:COL: warning: MESSAGE. The
        proof's verdict goes to stderr; exit codes: 0 proved (or `--no-prove`), 1
        refuted, 2 bad input, 3 unknown.
        """
        from iamrefine.api import refine_and_prove

        check_distinct(
            {"POLICY": policy, "--unused": unused, "--catalog": catalog},
            {"-o": output, "--certificate": certificate},
        )
        source = load_source(policy, policy_id, lenient=True)
        outcome = refine_and_prove(
            source.policy,
            unused,
            catalog=catalog,
            granularity=granularity,
            strategy=strategy,
            timeout=timeout,
            engine=engine,
            prove=prove,
            certificate=certificate is not None,
            optimize=optimize,
            max_policies=max_policies,
            embed_catalog=embed_catalog,
        )
        emit(outcome.warnings)
        exit_code = report_outcome(outcome, policy, allow_unproved=allow_unproved)
        text = outcome.render(fmt, policy_id=policy_id or policy.name)
        if fmt is OutputFormat.policy and outcome.policy is not None and rewritable(source):
            from iamrefine.errors import InputError
            from iamrefine.sources.writeback import write_back

            if outcome.result.parts:
                raise InputError.at(
                    source.file,
                    f"the refined policy is split into {len(outcome.result.parts)} managed "
                    "policies, which one place in the file cannot hold; use `--format "
                    "recommendation`",
                )
            text = write_back(source, outcome.policy)
        cert_text = outcome.certificate_text()
        if certificate is not None and cert_text is not None:
            write_atomic(certificate, cert_text)
            for line in outcome.certificate_warnings():
                print(f"iamrefine: warning: {line}", file=sys.stderr)
        if text is None:
            print(
                "iamrefine: no statement is left; the recommendation is to detach the policy "
                "(see `--format recommendation`); nothing written",
                file=sys.stderr,
            )
        else:
            deliver(text, output)
        if exit_code:
            raise typer.Exit(exit_code)

    @app.command("explain")
    @guarded
    def explain(
        policy: PolicyArg,
        unused: UnusedOpt,
        catalog: CatalogOpt = None,
        granularity: GranularityOpt = Granularity.word,
        strategy: StrategyOpt = Strategy.auto,
        svg: Annotated[
            Path | None,
            typer.Option(
                "--svg",
                help="Also draw the trees as SVG here: a legend, action counts on every "
                "box, kept and removed siblings as one counted box, and the deepest split "
                "nodes folded so that the picture fits one screen.",
            ),
        ] = None,
        dot: Annotated[
            Path | None, typer.Option("--dot", help="Also write the trees as Graphviz DOT here.")
        ] = None,
        policy_id: PolicyIdOpt = None,
    ) -> None:
        """Explain, for every replaced pattern of POLICY, which trie nodes were unsafe
        and which unused action makes each unsafe, and which safe nodes were chosen."""
        from iamrefine.api import refine_and_prove
        from iamrefine.explain import explain_dot, explain_svg, explain_text

        check_distinct(
            {"POLICY": policy, "--unused": unused, "--catalog": catalog},
            {"--svg": svg, "--dot": dot},
        )
        # The trie's decisions are what is explained, never the size optimizer's.
        outcome = refine_and_prove(
            load_source(policy, policy_id, lenient=True).policy,
            unused,
            catalog=catalog,
            granularity=granularity,
            strategy=strategy,
            prove=False,
            optimize=Optimize.readable,
        )
        emit(outcome.warnings)
        if svg is not None:
            write_atomic(svg, explain_svg(outcome.result))
        if dot is not None:
            write_atomic(dot, explain_dot(outcome.result))
        deliver(explain_text(outcome.result), None)
