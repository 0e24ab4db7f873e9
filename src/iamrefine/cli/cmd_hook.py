"""``iamrefine hook validate`` and ``iamrefine hook no-new-access``: the commands
behind the pre-commit hooks (``.pre-commit-hooks.yaml``) and the GitHub Action
(``action.yml``). Both take many files, as hook runners pass them.

``no-new-access`` proves, for every policy in each file, ``equiv --subset NEW BASE``
where BASE is the same policy in the file's version at a git revision: the change
grants nothing the baseline did not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iamrefine.choices import DEFAULT_TIMEOUT, EngineName
from iamrefine.cli.app import EXIT_BAD_INPUT, emit, exit_code_for, guarded
from iamrefine.cli.options import CatalogOpt, EngineOpt, TimeoutOpt
from iamrefine.errors import Diagnostic, InputError

if TYPE_CHECKING:
    from iamrefine.sources import PolicySource
    from iamrefine.verify import CheckReport

FilesArg = Annotated[
    list[Path],
    typer.Argument(
        help="Policy files: JSON or YAML policies, CloudFormation templates or Terraform plans.",
        show_default=False,
    ),
]
SarifOpt = Annotated[
    Path | None,
    typer.Option("--sarif", help="Also write every finding as a SARIF 2.1.0 log here."),
]


def _write_sarif(path: Path | None, results: list[dict[str, Any]]) -> None:
    if path is None:
        return
    from iamrefine import sarif
    from iamrefine.files import write_atomic

    write_atomic(path, sarif.text(results) + "\n")


def _read_all(path: Path) -> list[PolicySource]:
    from iamrefine.conditions.smt import validate
    from iamrefine.sources import read_document

    sources = read_document(path).all()
    validate([s.policy for s in sources])
    return sources


def _baseline(path: Path, base: str) -> bytes | None:
    """The file's content at git revision ``base``; None when it did not exist there."""
    proc = subprocess.run(
        ["git", "show", f"{base}:./{path.as_posix()}"],
        capture_output=True,
        check=False,
        cwd=Path.cwd(),
    )
    if proc.returncode == 0:
        return proc.stdout
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        raise InputError.at(
            "--base", f"`{base}` is not a git revision here: {proc.stderr.decode().strip()}"
        )
    return None


def register(app: typer.Typer) -> None:
    hook = typer.Typer(
        name="hook",
        help="The checks behind the pre-commit hooks and the GitHub Action.",
        no_args_is_help=True,
    )
    app.add_typer(hook)

    @hook.command("validate")
    @guarded
    def validate(files: FilesArg, sarif_out: SarifOpt = None) -> None:
        """Check that every policy in FILES is valid, as `parse` does (exit 2 if not)."""
        from iamrefine import sarif

        results: list[dict[str, Any]] = []
        failed = False
        for path in files:
            try:
                sources = _read_all(path)
            except InputError as exc:
                emit(exc.diagnostics)
                results.extend(sarif.diagnostics(exc.diagnostics))
                failed = True
                continue
            for source in sources:
                emit(source.notes)
                results.extend(sarif.diagnostics(source.notes))
        _write_sarif(sarif_out, results)
        if failed:
            raise typer.Exit(EXIT_BAD_INPUT)

    @hook.command("no-new-access")
    @guarded
    def no_new_access(
        files: FilesArg,
        base: Annotated[
            str,
            typer.Option(
                "--base",
                help="The git revision holding the baseline of each file (e.g. the pull "
                "request's base commit).",
            ),
        ] = "HEAD",
        catalog: CatalogOpt = None,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        engine: EngineOpt = EngineName.auto,
        sarif_out: SarifOpt = None,
    ) -> None:
        """Prove that no policy in FILES allows anything its version at BASE does not
        (`equiv --subset NEW BASE` for each policy, paired by id). A file or policy that
        is new at BASE has no baseline: it is reported as a note and not checked.

        Exit 0 when every change is PROVED, 1 when one is REFUTED, 2 for bad input,
        3 when one is UNKNOWN.
        """
        from iamrefine import api, sarif
        from iamrefine.render import render_check
        from iamrefine.sources import read_document
        from iamrefine.verify import Verdict

        results: list[dict[str, Any]] = []
        reports: list[CheckReport] = []
        bad = False
        cat = None
        for path in files:
            try:
                new = _read_all(path)
                old_bytes = _baseline(path, base)
                if old_bytes is None:
                    note = Diagnostic(
                        str(path), None, None, f"new file: no version at `{base}` to compare with",
                        severity="note",
                    )  # fmt: skip
                    emit([note])
                    results.extend(sarif.diagnostics([note]))
                    continue
                with _temporary(path, old_bytes) as old_path:
                    document = read_document(old_path, name=f"{base}:{path}")
                    old = {s.id: s for s in document.all()}
            except InputError as exc:
                emit(exc.diagnostics)
                results.extend(sarif.diagnostics(exc.diagnostics))
                bad = True
                continue
            cat = cat or api.as_catalog(catalog)
            for source in new:
                emit(source.notes)
                results.extend(sarif.diagnostics(source.notes))
                baseline = old.get(source.id)
                label = source.label
                if baseline is None:
                    note = Diagnostic(
                        str(path), None, None, f"`{source.id}` is new: nothing at `{base}`",
                        severity="note",
                    )  # fmt: skip
                    emit([note])
                    results.extend(sarif.diagnostics([note]))
                    continue
                report = api.equiv(
                    source.policy,
                    baseline.policy,
                    subset=True,
                    catalog=cat,
                    timeout=timeout,
                    engine=engine,
                )
                reports.append(report)
                print(f"{label}: {report.verdict.value}", file=sys.stderr)
                if report.verdict is not Verdict.PROVED:
                    print(render_check(report), file=sys.stderr)
                sides = {"A": (str(path), source.policy), "B": (f"{base}:{path}", None)}
                results.extend(sarif.check_results(report, sides, policy_id=source.id))
        _write_sarif(sarif_out, results)
        if bad:
            raise typer.Exit(EXIT_BAD_INPUT)
        verdicts = {r.verdict for r in reports}
        worst = next(
            (v for v in (Verdict.REFUTED, Verdict.UNKNOWN) if v in verdicts), Verdict.PROVED
        )
        raise typer.Exit(exit_code_for(worst))


class _temporary:
    """A temporary copy of a file's baseline content, with the same file name (the
    name tells JSON from YAML)."""

    def __init__(self, path: Path, data: bytes) -> None:
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        self.path = Path(self._dir.name) / path.name
        self.path.write_bytes(data)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()
