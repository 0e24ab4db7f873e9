"""Refining a whole corpus at once (``iamrefine refine-batch``), resumably.

Each case ``NAME`` gets a result folder ``OUT_DIR/NAME/`` holding:

- ``refined.json``: the refined policy (absent when the recommendation is to detach);
- ``recommendation.json``: the recommendation in the shape of Access Analyzer's
  ``GetFindingRecommendation`` response;
- ``certificate.json``: the proof certificate, when asked for;
- ``done``: written last, atomically, once everything else is in place. It records
  the outcome and the sha256 of the case's inputs and of each of its outputs, so
  that a rerun skips a case whose ``done`` matches its current inputs, catalog and
  options and whose outputs are intact, and redoes it otherwise;
- ``error.json``: instead of the above, why the case failed or ran over its time
  budget (such a case has no ``done``, so a rerun tries it again).

Every result is proved by the checker before it is written, as ``iamrefine refine``
does; a result that is not PROVED makes the case fail. One case failing never
stops the others, but an output folder that cannot be written to stops the run:
a case whose ``error.json`` cannot be written raises :class:`InputError`.
``OUT_DIR/summary.json`` lists every case's outcome.

The cases are computed by workers (:mod:`iamrefine.harness.batch_case`), on this
machine or on a Dask cluster (:mod:`iamrefine.harness.executors`); only this
process reads the corpus and writes the output folder, each file atomically.

Faults (see :mod:`iamrefine.harness.pool` and :mod:`~iamrefine.harness.executors`):
a worker process that dies fails only the case it held (its ``error.json`` says how
the worker died) and is replaced (on Dask, the case is first rescheduled on another
worker); local workers exit when the run's process dies; an interrupted run (Ctrl-C)
writes the summary of the cases finished so far, marked ``interrupted``, and raises
:class:`~iamrefine.errors.Interrupted`, saying how to resume. A run first removes
the temporary files that a killed earlier run left in its output folders.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.errors import InputError, Interrupted
from iamrefine.files import fsync_folder, output_folder, write_atomic
from iamrefine.harness.batch_case import (
    CERTIFICATE_FILE,
    DETACHED,
    FAILED,
    OUTCOMES,
    RECOMMENDATION_FILE,
    REFINED,
    REFINED_FILE,
    TIMEOUT,
    UNCHANGED,
    UNDONE,
    BatchCase,
    BatchOptions,
    BatchOutcome,
    BatchTask,
    CaseInput,
    CaseOutput,
    compute_case,
    sha256_bytes,
)
from iamrefine.harness.corpus import SOURCE_FILES, Case, LazyInputs, list_cases, sha256_file
from iamrefine.harness.executors import LOCAL, CatalogRef, ExecutorSpec, run_cases

__all__ = [
    "CERTIFICATE_FILE",
    "DETACHED",
    "DONE_FILE",
    "ERROR_FILE",
    "FAILED",
    "OUTCOMES",
    "RECOMMENDATION_FILE",
    "REFINED",
    "REFINED_FILE",
    "SUMMARY_FILE",
    "TIMEOUT",
    "UNCHANGED",
    "BatchCase",
    "BatchOptions",
    "BatchOutcome",
    "BatchReport",
    "refine_batch",
    "refine_case",
    "sweep_temporary_files",
]

ERROR_FILE = "error.json"
DONE_FILE = "done"
SUMMARY_FILE = "summary.json"
_OUTPUT_FILES = (REFINED_FILE, RECOMMENDATION_FILE, CERTIFICATE_FILE, ERROR_FILE)
DONE_FORMAT = 2
_POLICY_OUTPUT = re.compile(
    r"[A-Za-z0-9_.-]+\.(?:refined|recommendation|certificate)\.json|refined\.(?:json|yaml|yml)"
)
"""The output names of a case whose file holds several policies (see
:func:`~iamrefine.harness.batch_case.policy_outputs`)."""
_TEMP_OF = "|".join(re.escape(n) for n in (*_OUTPUT_FILES, DONE_FILE, SUMMARY_FILE))
_STALE_TEMP = re.compile(rf"\.(?:{_TEMP_OF}|{_POLICY_OUTPUT.pattern})\..+\.tmp")
"""The temporary files of :func:`~iamrefine.files.write_atomic` for this module's
outputs, which a process killed while writing leaves behind."""


@dataclass
class BatchReport:
    """Every case's outcome, sorted by name."""

    corpus: str
    out_dir: Path
    catalog: dict[str, Any]
    cases: list[BatchCase]
    seconds: float = 0.0
    pending: int = 0
    """Cases not done because the run was interrupted."""

    @property
    def counts(self) -> dict[BatchOutcome, int]:
        found = Counter(c.outcome for c in self.cases)
        return {o: found.get(o, 0) for o in OUTCOMES}

    @property
    def failed(self) -> list[BatchCase]:
        return [c for c in self.cases if c.outcome in UNDONE]

    @property
    def resumed(self) -> int:
        return sum(1 for c in self.cases if c.resumed)

    @property
    def oversized(self) -> list[BatchCase]:
        """The cases whose refined policy is over the managed-policy size quota,
        largest first."""
        from iamrefine.refine.engine import MANAGED_POLICY_QUOTA

        over = [c for c in self.cases if c.size is not None and c.size > MANAGED_POLICY_QUOTA]
        return sorted(over, key=lambda c: (-(c.size or 0), c.name))

    def summary_line(self) -> str:
        counts = ", ".join(f"{n} {o}" for o, n in self.counts.items())
        return (
            f"{len(self.cases)} cases in {self.seconds:.1f} s: {counts} "
            f"({self.resumed} kept from an earlier run)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "iamrefine-refine-batch",
            "corpus": self.corpus,
            "out_dir": str(self.out_dir),
            "catalog": self.catalog,
            "seconds": round(self.seconds, 3),
            "interrupted": self.pending > 0,
            "summary": {
                **self.counts,
                "cases": len(self.cases),
                "resumed": self.resumed,
                "pending": self.pending,
            },
            "cases": [c.to_json() for c in self.cases],
        }


# --- one case -----------------------------------------------------------------------


def _marker(inputs: tuple[str, str], catalog: Catalog, options: BatchOptions) -> dict[str, Any]:
    return {
        "format": DONE_FORMAT,
        "policy_sha256": inputs[0],
        "unused_sha256": inputs[1],
        "catalog_digest": catalog.digest,
        "proved": options.prove,
        "certificate": options.certificates,
        "optimize": options.optimize.value,
        "max_policies": options.max_policies,
    }


def _resume(case: Case, dest: Path, catalog: Catalog, options: BatchOptions) -> BatchCase | None:
    """The earlier result of ``case`` when it is complete and still current."""
    try:
        done = json.loads((dest / DONE_FILE).read_text("utf-8"))
        inputs = (sha256_file(case.policy_path), sha256_file(case.unused_path))
        expected = _marker(inputs, catalog, options)
        if not isinstance(done, dict) or any(
            done.get(k) != v for k, v in expected.items() if k not in ("proved", "certificate")
        ):
            return None
        if (options.prove and not done.get("proved")) or (
            options.certificates and not done.get("certificate")
        ):
            return None
        files = [str(f) for f in done["files"]]
        digests = done["outputs"]
        if done["outcome"] not in OUTCOMES or done["outcome"] in UNDONE:
            return None
        if sorted(digests) != sorted(files):
            return None
        if any(sha256_file(dest / f) != digests[f] for f in files):
            return None  # an output was changed or truncated since it was recorded
        return BatchCase(
            case.name,
            BatchOutcome(done["outcome"]),
            files=files,
            warnings=[str(w) for w in done.get("warnings", [])],
            verdict=done.get("verdict"),
            size=done["size"] if isinstance(done.get("size"), int) else None,
            resumed=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def refine_case(case: Case, out_dir: Path, catalog: Catalog, options: BatchOptions) -> BatchCase:
    """Refine, prove and write one case in this process (or record why it failed),
    unless an earlier result is still current. Raises :class:`InputError` when the
    case's folder cannot be written (see :func:`record`)."""
    previous = _resume(case, out_dir / case.name, catalog, options)
    if previous is not None:
        return previous
    return record(out_dir, compute_case(CaseInput.read(case), catalog, options), catalog, options)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise InputError.at(str(path), f"cannot remove output: {exc.strerror or exc}") from None


def _remove_outputs(dest: Path, keep: tuple[str, ...]) -> None:
    try:
        present = [p.name for p in dest.iterdir() if p.is_file()]
    except OSError:
        present = []
    for name in sorted({*_OUTPUT_FILES, *filter(_POLICY_OUTPUT.fullmatch, present)}):
        if name not in keep:
            _remove(dest / name)


def _write_error(dest: Path, result: BatchCase) -> None:
    _remove(dest / DONE_FILE)
    _remove_outputs(dest, keep=())
    write_atomic(dest / ERROR_FILE, json.dumps(result.to_json(), indent=2) + "\n", parents=True)


def record(out_dir: Path, output: CaseOutput, catalog: Catalog, options: BatchOptions) -> BatchCase:
    """Write a worker's result into ``out_dir/NAME/``: each output file atomically,
    then ``done`` with their digests; or ``error.json`` for a case that failed or
    timed out. Raises :class:`InputError` when the folder cannot be written."""
    result = output.case
    dest = out_dir / result.name
    sweep_temporary_files(dest)
    if result.outcome in UNDONE:
        _write_error(dest, result)
        return result
    _remove(dest / DONE_FILE)
    digests: dict[str, str] = {}
    for name, text in output.texts.items():
        data = text.encode("utf-8")
        write_atomic(dest / name, data, parents=True, sync_folder=False)
        digests[name] = sha256_bytes(data)
    result.files = list(digests)
    _remove_outputs(dest, keep=tuple(result.files))
    # One fsync of the folder makes every rename above durable before `done` is.
    fsync_folder(dest)
    done = {
        **_marker(output.inputs, catalog, options),
        "outcome": result.outcome,
        "verdict": result.verdict,
        "files": result.files,
        "outputs": digests,
        "warnings": result.warnings,
        "size": result.size,
    }
    write_atomic(dest / DONE_FILE, json.dumps(done, indent=2) + "\n", parents=True)
    return result


def sweep_temporary_files(folder: Path) -> list[Path]:
    """Remove the temporary files that a process killed while writing this module's
    outputs left in ``folder``; return them. Other files are never touched."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for path in entries:
        if _STALE_TEMP.fullmatch(path.name) and path.is_file():
            _remove(path)
            removed.append(path)
    return removed


# --- the corpus ------------------------------------------------------------------


def refine_batch(
    corpus: str | Path,
    out_dir: str | Path,
    *,
    catalog_path: str | Path | None = None,
    jobs: int = 1,
    options: BatchOptions | None = None,
    executor: ExecutorSpec = LOCAL,
    on_result: Callable[[BatchCase], None] | None = None,
) -> BatchReport:
    """Refine every case of ``corpus`` into ``out_dir`` and write ``summary.json``.

    The cases are computed on ``executor`` (``jobs`` local worker processes by
    default); this process alone writes ``out_dir``. A case whose worker died is
    ``failed``, with ``error.json`` saying how.

    Raises :class:`InputError` for a bad corpus, an output folder inside the corpus
    or one that cannot be created, or certificates asked for where they are not
    available, before doing any work; and for an output folder that cannot be
    written to (see :func:`record`).
    """
    opts = options or BatchOptions()
    start = time.monotonic()
    cases = list_cases(corpus, policy_files=SOURCE_FILES)
    dest = Path(out_dir)
    root = Path(corpus).resolve()
    if dest.resolve() == root or root in dest.resolve().parents:
        raise InputError.at(str(dest), "the output folder must not be inside the corpus folder")
    catalog = load_catalog(catalog_path)
    with output_folder(dest):
        ref = CatalogRef(None if catalog_path is None else str(catalog_path), catalog.digest)
        sweep_temporary_files(dest)
        results: list[BatchCase] = []
        pending: list[Case] = []
        for case in cases:
            sweep_temporary_files(dest / case.name)
            previous = _resume(case, dest / case.name, catalog, opts)
            if previous is None:
                pending.append(case)
                continue
            results.append(previous)
            if on_result is not None:
                on_result(previous)

        def crashed(unit: CaseInput, reason: str) -> CaseOutput:
            return CaseOutput(BatchCase(unit.name, FAILED, reason), unit.digests)

        try:
            for _, output in run_cases(
                BatchTask(opts),
                LazyInputs(pending, CaseInput.read),
                executor=executor,
                jobs=jobs,
                catalog=ref,
                on_crash=crashed,
            ):
                result = record(dest, output, catalog, opts)
                results.append(result)
                if on_result is not None:
                    on_result(result)
        except KeyboardInterrupt:
            interrupted = True
        else:
            interrupted = False
        results.sort(key=lambda r: r.name)
        report = BatchReport(
            str(corpus),
            dest,
            catalog.info(),
            results,
            time.monotonic() - start,
            pending=len(cases) - len(results),
        )
        write_atomic(dest / SUMMARY_FILE, json.dumps(report.to_json(), indent=2) + "\n")
        if interrupted:
            raise Interrupted(
                f"interrupted with {report.pending} of {len(cases)} cases not done; "
                f"the summary of the finished ones is in `{dest / SUMMARY_FILE}`; "
                "run the same command again to resume: finished cases are kept"
            )
        return report
