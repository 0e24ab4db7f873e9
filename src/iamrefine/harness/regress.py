"""Grading a refiner over a corpus (``iamrefine regress``).

Each case is refined by the refiner under test (a command, or a Python callable
run through :mod:`iamrefine.harness.pyrunner`), its output is parsed, and the
checker compares it with the case's original policy and unused actions. Every
case gets exactly one verdict, in this order of precedence (:data:`PRECEDENCE`):

- ``timeout``: the refiner ran past its time limit and was killed;
- ``crashed``: it exited with a nonzero status (or could not be started);
- ``invalid-output``: its output was too large, not UTF-8, or not a valid policy;
- ``escalation``: the result allows an action string the original does not allow
  (the all-strings claim is refuted), such as an action AWS adds later;
- ``over-permissive``: the result allows a catalog request that it should deny (the
  catalog claim is refuted by a request the result allows);
- ``under-permissive``: the result denies a catalog request that the original
  allows and that is not unused;
- ``unknown``: the checker could not decide (or failed);
- ``exact``: the checker proved the result.

A result can be refuted in several ways at once (``glue:Get*`` widened to ``glue:*``
is both over-permissive and an escalation): every such finding is listed in the
case's ``findings``, most severe first, and the verdict is the most severe one.

Each case is also measured against iamrefine's own refinement of the same case:
the number of action patterns and the number of non-whitespace characters, and
their ratios (the refiner's over iamrefine's).
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.errors import Diagnostic, InputError, PolicyError
from iamrefine.harness.corpus import Case, CaseFiles, LazyInputs, list_cases
from iamrefine.harness.executors import LOCAL, CatalogRef, ExecutorSpec, run_cases
from iamrefine.harness.refiners import Refiner
from iamrefine.harness.run import DEFAULT_MAX_OUTPUT, RunOutcome, run_command
from iamrefine.model import Policy
from iamrefine.unused import UnusedSet


class Grade(StrEnum):
    """The verdict of one graded case (a ``str``, so it compares and prints as its value)."""

    EXACT = "exact"
    OVER = "over-permissive"
    UNDER = "under-permissive"
    ESCALATION = "escalation"
    INVALID = "invalid-output"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    UNKNOWN = "unknown"


EXACT = Grade.EXACT
OVER = Grade.OVER
UNDER = Grade.UNDER
ESCALATION = Grade.ESCALATION
INVALID = Grade.INVALID
CRASHED = Grade.CRASHED
TIMEOUT = Grade.TIMEOUT
UNKNOWN = Grade.UNKNOWN
VERDICTS = (EXACT, OVER, UNDER, ESCALATION, INVALID, CRASHED, TIMEOUT, UNKNOWN)

PRECEDENCE = (TIMEOUT, CRASHED, INVALID, ESCALATION, OVER, UNDER, UNKNOWN, EXACT)
"""Verdicts from the most to the least severe: a case gets the first that applies."""

REFUTATIONS = (ESCALATION, OVER, UNDER)
"""The findings of a refuted check, most severe first."""


# --- results --------------------------------------------------------------------


@dataclass
class Sizes:
    """Size of a refined output and of iamrefine's own refinement of the same case.

    A ratio is None when it cannot be computed (iamrefine's refinement failed, or
    it is empty while the output is not); two empty results have ratio 1.
    """

    patterns: int | None = None
    chars: int | None = None
    reference_patterns: int | None = None
    reference_chars: int | None = None

    @staticmethod
    def _ratio(value: int | None, reference: int | None) -> float | None:
        if value is None or reference is None:
            return None
        if reference == 0:
            return 1.0 if value == 0 else None
        return value / reference

    @property
    def pattern_ratio(self) -> float | None:
        return self._ratio(self.patterns, self.reference_patterns)

    @property
    def char_ratio(self) -> float | None:
        return self._ratio(self.chars, self.reference_chars)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "pattern_ratio": self.pattern_ratio, "char_ratio": self.char_ratio}


@dataclass
class CaseResult:
    """The verdict of one case, with everything that supports it."""

    name: str
    verdict: str
    detail: str = ""
    findings: list[str] = field(default_factory=list)
    counterexamples: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stderr_tail: str = ""
    exit_status: int | None = None
    refiner_seconds: float = 0.0
    check_seconds: float = 0.0
    sizes: Sizes = field(default_factory=Sizes)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "findings": self.findings,
            "detail": self.detail,
            "counterexamples": self.counterexamples,
            "claims": self.claims,
            "errors": self.errors,
            "stderr_tail": self.stderr_tail,
            "exit_status": self.exit_status,
            "refiner_seconds": round(self.refiner_seconds, 4),
            "check_seconds": round(self.check_seconds, 4),
            "sizes": self.sizes.to_json(),
            "notes": self.notes,
        }


@dataclass(frozen=True)
class RatioStats:
    """Median and worst (largest) of one size ratio, with the worst case's name."""

    count: int
    median: float | None
    worst: float | None
    worst_case: str | None


@dataclass
class RegressReport:
    """Every case's result, and what the run graded."""

    corpus: str
    refiner: str
    catalog: dict[str, Any]
    timeout: float
    cases: list[CaseResult]
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Cases per verdict, every verdict listed."""
        found = Counter(c.verdict for c in self.cases)
        return {v: found.get(v, 0) for v in VERDICTS}

    @property
    def finding_counts(self) -> dict[str, int]:
        """Cases per refutation finding (a case refuted in several ways counts once
        under each), every finding listed."""
        found = Counter(f for c in self.cases for f in c.findings)
        return {f: found.get(f, 0) for f in REFUTATIONS}

    @property
    def all_exact(self) -> bool:
        return bool(self.cases) and all(c.verdict == EXACT for c in self.cases)

    def ratio_stats(self, which: str) -> RatioStats:
        """Statistics of ``pattern_ratio`` or ``char_ratio`` over the cases that have one."""
        values = [(getattr(c.sizes, which), c.name) for c in self.cases]
        known = [(v, n) for v, n in values if v is not None]
        if not known:
            return RatioStats(0, None, None, None)
        worst = max(known, key=lambda vn: (vn[0], vn[1]))
        return RatioStats(len(known), statistics.median(v for v, _ in known), worst[0], worst[1])


# --- grading --------------------------------------------------------------------


@dataclass(frozen=True)
class GradeOptions:
    """Limits of one grading run."""

    timeout: float = 60.0
    check_timeout: float = 30.0
    max_output: int = DEFAULT_MAX_OUTPUT


@dataclass(frozen=True)
class _Job:
    refiner: Refiner
    options: GradeOptions

    def __call__(self, files: CaseFiles, catalog: Catalog) -> CaseResult:
        if files.problem:
            return CaseResult(files.case.name, UNKNOWN, detail=files.problem)
        try:
            with files.on_disk() as case:
                return grade_case(case, self.refiner, catalog, self.options)
        except Exception as exc:
            # A bug in iamrefine must not stop the grading of the other cases.
            result = CaseResult(files.case.name, UNKNOWN)
            result.detail = f"internal error while grading: {type(exc).__name__}: {exc}"
            result.notes = traceback.format_exc().splitlines()[-10:]
            return result


def read_output(text: str, source: str, original: Policy) -> tuple[Policy | None, list[str]]:
    """The policy a refiner's output stands for (None when it allows nothing), with the
    policy texts as the refiner wrote them, by the one rule of
    :func:`iamrefine.recommendation.read_refined` (which ``iamrefine check`` uses too).

    Raises :class:`PolicyError` when the output is none of the accepted forms.
    """
    from iamrefine.recommendation import read_refined

    refined = read_refined(text, source, original)
    return refined.policy, list(refined.texts)


def count_patterns(policy: Policy | None) -> int:
    """The number of Action and NotAction values over all statements."""
    if policy is None:
        return 0
    return sum(len(s.action_element.values) for s in policy.statements)


def _reference_sizes(
    original: Policy, unused: UnusedSet, catalog: Catalog, sizes: Sizes, notes: list[str]
) -> None:
    from iamrefine.refine import refine_policy
    from iamrefine.write import dump_policy, non_whitespace_length

    try:
        result = refine_policy(original, unused, catalog)
    except Exception as exc:
        notes.append(f"iamrefine's own refinement failed: {type(exc).__name__}: {exc}")
        return
    sizes.reference_patterns = count_patterns(result.policy)
    sizes.reference_chars = (
        0 if result.policy is None else non_whitespace_length(dump_policy(result.policy))
    )


def _tail(data: bytes, lines: int = 20) -> str:
    text = data.decode("utf-8", "replace").rstrip()
    return "\n".join(text.splitlines()[-lines:])


def grade_case(case: Case, refiner: Refiner, catalog: Catalog, options: GradeOptions) -> CaseResult:
    """Run the refiner on one case and grade its output. Never raises for anything
    the refiner does; the case's own inputs must be valid (see :func:`load_case`)."""
    from iamrefine.write import non_whitespace_length

    result = CaseResult(case.name, UNKNOWN)
    try:
        original, unused = load_case(case, catalog)
    except InputError as exc:
        # The corpus is checked before the run; this is a case changed since then.
        result.errors = [d.render() for d in exc.diagnostics]
        result.detail = "the case's own inputs can no longer be read"
        return result
    _reference_sizes(original, unused, catalog, result.sizes, result.notes)

    outcome = run_command(
        refiner.argv(case),
        timeout=options.timeout,
        max_output=options.max_output,
        env=refiner.env(),
    )
    result.refiner_seconds = outcome.seconds
    result.exit_status = outcome.returncode
    if _graded_run(outcome, result):
        return result
    try:
        text = outcome.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.verdict = INVALID
        result.detail = (
            f"output is not valid UTF-8: byte `0x{outcome.stdout[exc.start]:02x}` "
            f"at offset {exc.start}"
        )
        return result
    source = f"{case.name}/<refiner output>"
    try:
        refined, policy_texts = read_output(text, source, original)
    except PolicyError as exc:
        result.verdict = INVALID
        result.errors = [d.render() for d in exc.diagnostics]
        result.detail = result.errors[0] if result.errors else "not a valid policy"
        return result
    result.sizes.patterns = count_patterns(refined)
    result.sizes.chars = sum(non_whitespace_length(t) for t in policy_texts)
    start = time.monotonic()
    try:
        _check(original, refined, unused, catalog, options.check_timeout, result)
    except Exception as exc:
        result.verdict = UNKNOWN
        result.detail = f"the checker failed: {type(exc).__name__}: {exc}"
    result.check_seconds = time.monotonic() - start
    return result


def _graded_run(outcome: RunOutcome, result: CaseResult) -> bool:
    if outcome.status == "ok":
        return False
    if outcome.status == "timeout":
        result.verdict = TIMEOUT
        result.detail = outcome.message
        result.stderr_tail = _tail(outcome.stderr_tail)
    elif outcome.status == "overflow":
        result.verdict = INVALID
        result.detail = outcome.message
    else:
        result.verdict = CRASHED
        result.stderr_tail = _tail(outcome.stderr_tail)
        last = result.stderr_tail.splitlines()[-1:] or [""]
        result.detail = outcome.message + (f": {last[0]}" if last[0] else "")
    return True


def load_case(case: Case, catalog: Catalog) -> tuple[Policy, UnusedSet]:
    """Parse a case's policy and unused actions; raises :class:`InputError`."""
    from iamrefine.parse import load_policy
    from iamrefine.unused import load_unused

    return load_policy(case.policy_path), load_unused(case.unused_path, catalog)


def check_cases(cases: Sequence[Case], catalog: Catalog) -> None:
    """Parse the inputs of every case; raises one :class:`InputError` listing every
    problem found, so that a bad corpus is reported before any refiner runs."""
    problems: list[Diagnostic] = []
    for case in cases:
        try:
            load_case(case, catalog)
        except InputError as exc:
            problems.extend(exc.diagnostics)
    if problems:
        raise InputError(problems)


def _crashed(files: CaseFiles, reason: str) -> CaseResult:
    """The result of a case whose grading process died (not the refiner: its death is
    graded ``crashed`` by the worker)."""
    return CaseResult(files.case.name, UNKNOWN, detail=f"grading stopped: {reason}")


def run_regress(
    corpus: str | Path,
    refiner: Refiner,
    *,
    catalog_path: str | Path | None = None,
    jobs: int = 1,
    executor: ExecutorSpec = LOCAL,
    options: GradeOptions | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> RegressReport:
    """Grade ``refiner`` over every case of ``corpus``, on ``executor`` (``jobs`` local
    worker processes by default). A worker that does not see the corpus grades a
    copy of each case's files in a temporary folder of its own.

    Raises :class:`InputError` for a bad corpus (before running anything). Results
    are reported to ``on_result`` as they complete and returned sorted by name.
    """
    opts = options or GradeOptions()
    start = time.monotonic()
    catalog = load_catalog(catalog_path)
    cases = list_cases(corpus)
    check_cases(cases, catalog)
    ref = CatalogRef(None if catalog_path is None else str(catalog_path), catalog.digest)
    results: list[CaseResult] = []
    for _, result in run_cases(
        _Job(refiner, opts),
        LazyInputs(cases, CaseFiles.read),
        executor=executor,
        jobs=jobs,
        catalog=ref,
        on_crash=_crashed,
    ):
        results.append(result)
        if on_result is not None:
            on_result(result)
    results.sort(key=lambda r: r.name)
    return RegressReport(
        str(corpus),
        refiner.description,
        catalog.info(),
        opts.timeout,
        results,
        time.monotonic() - start,
    )


# --- the checker ------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def classify_check(report: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """Map a :class:`~iamrefine.verify.CheckReport` to a verdict, a one-line detail
    and the counterexamples (as JSON) of every refuted claim (see :func:`findings`)."""
    from iamrefine.verify import Verdict

    found, counterexamples = _refutations(report)
    if found:
        kinds = [k for k in REFUTATIONS if k in found]
        detail = "; ".join(found[k] if len(kinds) == 1 else f"{k}: {found[k]}" for k in kinds)
        return kinds[0], detail, counterexamples
    if report.verdict is Verdict.PROVED:
        return EXACT, "", counterexamples
    reasons = [f"{c.name}: {c.reason}" for c in report.claims if c.verdict is not Verdict.PROVED]
    return UNKNOWN, "; ".join(reasons) or "the checker could not decide", counterexamples


def findings(report: Any) -> list[str]:
    """What the refuted claims of a :class:`~iamrefine.verify.CheckReport` show, most
    severe first: ``escalation`` when the all-strings claim is refuted (the result
    allows an action string the original does not); ``over-permissive`` or
    ``under-permissive`` when the catalog claim is refuted by a request that the
    result allows or denies."""
    found, _ = _refutations(report)
    return [k for k in REFUTATIONS if k in found]


def _refutations(report: Any) -> tuple[dict[str, str], list[dict[str, Any]]]:
    from iamrefine.verify import CATALOG_CLAIM, STRINGS_CLAIM, Verdict

    found: dict[str, str] = {}
    counterexamples: list[dict[str, Any]] = []
    for claim in report.claims:
        cex = claim.counterexample
        if claim.verdict is not Verdict.REFUTED or cex is None:
            continue
        counterexamples.append(_jsonable(cex.to_json()))
        if claim.name == CATALOG_CLAIM:
            refined = cex.decisions.get("refined")
            kind = OVER if refined is not None and refined.allowed else UNDER
        elif claim.name == STRINGS_CLAIM:
            kind = ESCALATION
        else:
            kind = OVER
        found.setdefault(kind, cex.message)
    return found, counterexamples


def _check(
    original: Policy,
    refined: Policy | None,
    unused: UnusedSet,
    catalog: Catalog,
    timeout: float,
    result: CaseResult,
) -> None:
    from iamrefine.verify import verify_refinement

    report = verify_refinement(original, refined, unused, catalog, timeout=timeout)
    result.verdict, result.detail, result.counterexamples = classify_check(report)
    result.findings = findings(report)
    result.claims = [
        {
            "name": c.name,
            "verdict": c.verdict.value,
            "seconds": round(c.seconds, 4),
            "reason": c.reason,
            "stats": _jsonable(c.stats),
        }
        for c in report.claims
    ]
