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
- ``error.json``: instead of the above, why the case failed (a failed case has no
  ``done``, so a rerun tries it again).

Every result is proved by the checker before it is written, as ``iamrefine refine``
does; a result that is not PROVED makes the case fail. One case failing never
stops the others, but an output folder that cannot be written to stops the run:
a case whose ``error.json`` cannot be written raises :class:`InputError`.
``OUT_DIR/summary.json`` lists every case's outcome.

Faults (see :mod:`iamrefine.harness.pool`): a worker process that dies fails only
the case it held (its ``error.json`` says how the worker died) and is replaced;
workers exit when the run's process dies; an interrupted run (Ctrl-C) writes the
summary of the cases finished so far, marked ``interrupted``, and raises
:class:`~iamrefine.errors.Interrupted`, saying how to resume. A run first removes
the temporary files that a killed earlier run left in its output folders.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.choices import DEFAULT_TIMEOUT, EngineName, Optimize
from iamrefine.errors import InputError, Interrupted, QuotaError
from iamrefine.files import write_atomic
from iamrefine.harness.corpus import Case, list_cases, sha256_file
from iamrefine.harness.pool import run_cases


class BatchOutcome(StrEnum):
    """What became of one case."""

    refined = "refined"
    detached = "detached"
    unchanged = "unchanged"
    failed = "failed"


REFINED = BatchOutcome.refined
DETACHED = BatchOutcome.detached
UNCHANGED = BatchOutcome.unchanged
FAILED = BatchOutcome.failed
OUTCOMES = tuple(BatchOutcome)

REFINED_FILE = "refined.json"
RECOMMENDATION_FILE = "recommendation.json"
CERTIFICATE_FILE = "certificate.json"
ERROR_FILE = "error.json"
DONE_FILE = "done"
SUMMARY_FILE = "summary.json"
_OUTPUT_FILES = (REFINED_FILE, RECOMMENDATION_FILE, CERTIFICATE_FILE, ERROR_FILE)
DONE_FORMAT = 2
_TEMP_OF = "|".join(re.escape(n) for n in (*_OUTPUT_FILES, DONE_FILE, SUMMARY_FILE))
_STALE_TEMP = re.compile(rf"\.(?:{_TEMP_OF})\..+\.tmp")
"""The temporary files of :func:`~iamrefine.files.write_atomic` for this module's
outputs, which a process killed while writing leaves behind."""


@dataclass(frozen=True)
class BatchOptions:
    """What each case's result must include, the checker's time budget of each claim
    in seconds, and its engine."""

    certificates: bool = False
    prove: bool = True
    check_timeout: float = DEFAULT_TIMEOUT
    engine: EngineName = EngineName.auto
    optimize: Optimize = Optimize.auto
    max_policies: int = 10


@dataclass
class BatchCase:
    """The outcome of one case; ``resumed`` when an earlier run's result was kept."""

    name: str
    outcome: BatchOutcome
    reason: str = ""
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdict: str | None = None
    size: int | None = None
    seconds: float = 0.0
    resumed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 4)}


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
        return [c for c in self.cases if c.outcome == FAILED]

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


def _marker(case: Case, catalog: Catalog, options: BatchOptions) -> dict[str, Any]:
    return {
        "format": DONE_FORMAT,
        "policy_sha256": sha256_file(case.policy_path),
        "unused_sha256": sha256_file(case.unused_path),
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
        expected = _marker(case, catalog, options)
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
        if done["outcome"] not in OUTCOMES or sorted(digests) != sorted(files):
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
    """Refine, prove and write one case (or record why it failed). Never raises for
    a problem of the case itself: it becomes a ``failed`` outcome with a reason,
    written to ``error.json``. Raises :class:`InputError` when the case's folder
    cannot be cleared or ``error.json`` cannot be written."""
    dest = out_dir / case.name
    previous = _resume(case, dest, catalog, options)
    if previous is not None:
        return previous
    start = time.monotonic()
    _remove(dest / DONE_FILE)
    try:
        result = _refine(case, dest, catalog, options)
    except InputError as exc:
        result = BatchCase(case.name, FAILED, "; ".join(d.render() for d in exc.diagnostics))
    except QuotaError as exc:
        result = BatchCase(case.name, FAILED, str(exc))
    except Exception as exc:
        result = BatchCase(case.name, FAILED, f"internal error: {type(exc).__name__}: {exc}")
        result.warnings = traceback.format_exc().splitlines()[-8:]
    result.seconds = time.monotonic() - start
    if result.outcome == FAILED:
        _remove_outputs(dest, keep=())
        write_atomic(dest / ERROR_FILE, json.dumps(result.to_json(), indent=2) + "\n", parents=True)
    return result


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise InputError.at(str(path), f"cannot remove output: {exc.strerror or exc}") from None


def _remove_outputs(dest: Path, keep: tuple[str, ...]) -> None:
    for name in _OUTPUT_FILES:
        if name not in keep:
            _remove(dest / name)


def _refine(case: Case, dest: Path, catalog: Catalog, options: BatchOptions) -> BatchCase:
    from iamrefine.api import refine_and_prove
    from iamrefine.verify import Verdict

    marker = _marker(case, catalog, options)
    outcome = refine_and_prove(
        case.policy_path,
        case.unused_path,
        catalog=catalog,
        timeout=options.check_timeout,
        engine=options.engine,
        prove=options.prove,
        certificate=options.certificates,
        optimize=options.optimize,
        max_policies=options.max_policies,
    )
    warnings = [d.render() for d in outcome.warnings]
    verdict = None if outcome.verdict is None else outcome.verdict.value
    if outcome.verdict not in (None, Verdict.PROVED):
        return BatchCase(
            case.name,
            FAILED,
            f"proof {verdict}: " + "; ".join(outcome.unproved_reasons()),
            warnings=warnings,
            verdict=verdict,
        )
    digests: dict[str, str] = {}

    def put(name: str, text: str) -> None:
        data = text.encode("utf-8")
        write_atomic(dest / name, data, parents=True)
        digests[name] = "sha256:" + hashlib.sha256(data).hexdigest()

    text = outcome.render("policy")
    if text is not None:
        put(REFINED_FILE, text)
    put(RECOMMENDATION_FILE, outcome.recommendation(policy_id=case.name))
    certificate = outcome.certificate_text()
    if certificate is not None:
        put(CERTIFICATE_FILE, certificate)
        warnings.extend(outcome.certificate_warnings())
    files = list(digests)
    _remove_outputs(dest, keep=tuple(files))
    if outcome.detached:
        result = DETACHED
    elif outcome.changed:
        result = REFINED
    else:
        result = UNCHANGED
    size = outcome.result.size
    if outcome.result.parts and outcome.result.quota is not None:
        # Split into several managed policies: the largest one is what the quota limits.
        size = max(outcome.result.quota.sizes)
    done = {
        **marker,
        "outcome": result,
        "verdict": verdict,
        "files": files,
        "outputs": digests,
        "warnings": warnings,
        "size": size,
    }
    write_atomic(dest / DONE_FILE, json.dumps(done, indent=2) + "\n", parents=True)
    return BatchCase(case.name, result, files=files, warnings=warnings, verdict=verdict, size=size)


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


def _crashed(out_dir: Path) -> Callable[[Case, str], BatchCase]:
    """What records a case whose worker process died: ``failed``, with ``error.json``
    (written here, in the parent) saying how."""

    def record(case: Case, reason: str) -> BatchCase:
        dest = out_dir / case.name
        result = BatchCase(case.name, FAILED, reason)
        sweep_temporary_files(dest)
        _remove(dest / DONE_FILE)
        _remove_outputs(dest, keep=())
        write_atomic(dest / ERROR_FILE, json.dumps(result.to_json(), indent=2) + "\n", parents=True)
        return result

    return record


# --- the corpus ------------------------------------------------------------------


_WORKER: dict[str, Any] = {}


def _init_worker(catalog_path: str | None) -> None:
    _WORKER["catalog"] = load_catalog(catalog_path)


@dataclass(frozen=True)
class _Job:
    out_dir: Path
    options: BatchOptions

    def __call__(self, case: Case) -> BatchCase:
        return refine_case(case, self.out_dir, _WORKER["catalog"], self.options)


def refine_batch(
    corpus: str | Path,
    out_dir: str | Path,
    *,
    catalog_path: str | Path | None = None,
    jobs: int = 1,
    options: BatchOptions | None = None,
    on_result: Callable[[BatchCase], None] | None = None,
) -> BatchReport:
    """Refine every case of ``corpus`` into ``out_dir`` and write ``summary.json``.

    Raises :class:`InputError` for a bad corpus, an output folder inside the corpus
    or one that cannot be created, or certificates asked for where they are not
    available, before doing any work; and for an output folder that cannot be
    written to (see :func:`refine_case`).
    """
    opts = options or BatchOptions()
    start = time.monotonic()
    cases = list_cases(corpus)
    dest = Path(out_dir)
    root = Path(corpus).resolve()
    if dest.resolve() == root or root in dest.resolve().parents:
        raise InputError.at(str(dest), "the output folder must not be inside the corpus folder")
    catalog = load_catalog(catalog_path)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.at(str(dest), f"cannot write output: {exc.strerror or exc}") from None
    path_arg = None if catalog_path is None else str(catalog_path)
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
    try:
        for _, result in run_cases(
            _Job(dest, opts),
            pending,
            jobs=jobs,
            initializer=_init_worker,
            initargs=(path_arg,),
            on_crash=_crashed(dest),
        ):
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
