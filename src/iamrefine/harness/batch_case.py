"""The unit of work of ``refine-batch``: one case in, its result out.

A :class:`CaseInput` carries the bytes of a case's policy and unused-actions files
(read by the client, so that a worker needs no access to the corpus), and the run's
:class:`BatchOptions`; the catalog is the worker's own (see
:mod:`iamrefine.harness.executors`). :func:`compute_case` refines and proves it and
returns a :class:`CaseOutput`: the outcome, the verdict, the size, the text of each
output file (the refined policy, the recommendation, the certificate when asked
for) and timings. It writes nothing: the client writes the output folder.

A case over its time budget (``BatchOptions.case_timeout``) is a ``timeout``:
the solver's budget of each claim is cut to the case's, and a case that still ends
after its budget is recorded as timed out with verdict UNKNOWN, its result dropped.
"""

from __future__ import annotations

import hashlib
import re
import time
import traceback
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iamrefine.choices import DEFAULT_TIMEOUT, EngineName, Optimize
from iamrefine.errors import InputError, QuotaError, UnusedInputError

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.harness.corpus import Case
    from iamrefine.model import Policy
    from iamrefine.sources import PolicySource
    from iamrefine.unused import UnusedSet


class BatchOutcome(StrEnum):
    """What became of one case."""

    refined = "refined"
    detached = "detached"
    unchanged = "unchanged"
    failed = "failed"
    timeout = "timeout"


REFINED = BatchOutcome.refined
DETACHED = BatchOutcome.detached
UNCHANGED = BatchOutcome.unchanged
FAILED = BatchOutcome.failed
TIMEOUT = BatchOutcome.timeout
OUTCOMES = tuple(BatchOutcome)
UNDONE = (FAILED, TIMEOUT)
"""Outcomes with ``error.json`` instead of results, which a rerun tries again."""

REFINED_FILE = "refined.json"
RECOMMENDATION_FILE = "recommendation.json"
CERTIFICATE_FILE = "certificate.json"


@dataclass(frozen=True)
class BatchOptions:
    """What each case's result must include, the checker's time budget of each claim
    in seconds, its engine, and the time budget of a whole case (None: unlimited)."""

    certificates: bool = False
    prove: bool = True
    check_timeout: float = DEFAULT_TIMEOUT
    engine: EngineName = EngineName.auto
    optimize: Optimize = Optimize.auto
    max_policies: int = 10
    case_timeout: float | None = None


@dataclass
class BatchCase:
    """The outcome of one case; ``resumed`` when an earlier run's result was kept.
    ``timings`` are the worker's seconds spent refining and proving."""

    name: str
    outcome: BatchOutcome
    reason: str = ""
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdict: str | None = None
    size: int | None = None
    seconds: float = 0.0
    resumed: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds": round(self.seconds, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CaseInput:
    """One case as sent to a worker: the bytes of its two input files, named as in
    the corpus, or ``problem`` when they could not be read."""

    name: str
    policy_source: str
    unused_source: str
    policy: bytes = b""
    unused: bytes = b""
    problem: str = ""

    @property
    def digests(self) -> tuple[str, str]:
        """sha256 of the policy and of the unused-actions bytes."""
        return sha256_bytes(self.policy), sha256_bytes(self.unused)

    @classmethod
    def read(cls, case: Case) -> CaseInput:
        """Read a case's files (with the limits of ``iamrefine refine``)."""
        from iamrefine.files import MAX_INPUT_BYTES, read_input
        from iamrefine.sources import MAX_SOURCE_BYTES

        policy_source, unused_source = str(case.policy_path), str(case.unused_path)
        try:
            policy = read_input(
                case.policy_path, limit=MAX_SOURCE_BYTES, what="policy file", error=InputError
            )
            unused = read_input(
                case.unused_path,
                limit=MAX_INPUT_BYTES,
                what="unused-actions file",
                error=UnusedInputError,
            )
        except InputError as exc:
            problem = "; ".join(d.render() for d in exc.diagnostics)
            return cls(case.name, policy_source, unused_source, problem=problem)
        return cls(case.name, policy_source, unused_source, policy, unused)


@dataclass
class CaseOutput:
    """What a worker returns for one case: its outcome (without ``files``, which the
    client fills in as it writes them), the text of each output file by name, and
    the digests of the inputs it refined."""

    case: BatchCase
    inputs: tuple[str, str]
    texts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchTask:
    """The task that executors run: :func:`compute_case` with the run's options."""

    options: BatchOptions

    def __call__(self, unit: CaseInput, catalog: Catalog) -> CaseOutput:
        return compute_case(unit, catalog, self.options)


def compute_case(unit: CaseInput, catalog: Catalog, options: BatchOptions) -> CaseOutput:
    """Refine and prove one case. Never raises for a problem of the case itself: it
    becomes a ``failed`` (or ``timeout``) outcome with a reason."""
    start = time.monotonic()
    if unit.problem:
        output = CaseOutput(BatchCase(unit.name, FAILED, unit.problem), unit.digests)
    else:
        try:
            output = _refine(unit, catalog, options)
        except InputError as exc:
            reason = "; ".join(d.render() for d in exc.diagnostics)
            output = CaseOutput(BatchCase(unit.name, FAILED, reason), unit.digests)
        except QuotaError as exc:
            output = CaseOutput(BatchCase(unit.name, FAILED, str(exc)), unit.digests)
        except Exception as exc:
            reason = f"internal error: {type(exc).__name__}: {exc}"
            output = CaseOutput(BatchCase(unit.name, FAILED, reason), unit.digests)
            output.case.warnings = traceback.format_exc().splitlines()[-8:]
    elapsed = time.monotonic() - start
    output.case.seconds = elapsed
    output.case.timings["worker"] = elapsed
    budget = options.case_timeout
    if budget is not None and elapsed > budget and output.case.outcome is not FAILED:
        output.case = BatchCase(
            unit.name,
            TIMEOUT,
            f"the case took {elapsed:.3f} s, over its time budget of {budget:g} s",
            verdict="UNKNOWN",
            seconds=elapsed,
            timings=output.case.timings,
        )
        output.texts = {}
    elif budget is not None and elapsed > budget:
        output.case.outcome = TIMEOUT
        output.case.reason = f"over its time budget of {budget:g} s: {output.case.reason}"
        output.case.verdict = output.case.verdict or "UNKNOWN"
    return output


@dataclass
class _Refined:
    """One policy's refinement within a case: the outcome, the text of each output
    file, and the refined policy (None when detached or not proved)."""

    case: BatchCase
    texts: dict[str, str]
    policy: Policy | None = None


def _refine(unit: CaseInput, catalog: Catalog, options: BatchOptions) -> CaseOutput:
    from iamrefine.sources import SourceKind, document_of
    from iamrefine.unused import unused_of_bytes

    document = document_of(unit.policy_source, unit.policy)
    plain = document.kind in (SourceKind.POLICY_JSON, SourceKind.POLICY_YAML)
    sources = [document.select(None)] if plain else document.all()
    unused = unused_of_bytes(unit.unused, catalog, unit.unused_source)
    if plain:
        (source,) = sources
        one = _refine_policy(source.policy, unused, catalog, options, unit.name, unit.name)
        one.case.warnings[:0] = [d.render() for d in source.notes]
        return CaseOutput(one.case, unit.digests, one.texts)
    return _refine_all(unit, sources, unused, catalog, options)


def policy_outputs(policy_id: str, taken: set[str]) -> str:
    """The file-name stem of a policy's outputs in a case of several policies: its id
    with every character outside ``A-Za-z0-9_.-`` made ``_``, and a digest of the id
    when that changed it or the stem is taken."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", policy_id).strip(".") or "policy"
    if stem != policy_id or stem.lower() in taken:
        stem += "-" + hashlib.sha256(policy_id.encode("utf-8")).hexdigest()[:8]
    taken.add(stem.lower())
    return stem


def _refine_all(
    unit: CaseInput,
    sources: list[PolicySource],
    unused: UnusedSet,
    catalog: Catalog,
    options: BatchOptions,
) -> CaseOutput:
    """A template or plan: every policy it holds refined with the case's unused
    actions, each into ``STEM.refined.json``, ``STEM.recommendation.json`` (and
    ``STEM.certificate.json``), and the template with every refined document written
    back into a copy of it (``refined.json`` or ``refined.yaml``) where that is
    possible. The case fails when any of its policies does."""
    texts: dict[str, str] = {}
    warnings: list[str] = []
    results: list[tuple[PolicySource, _Refined]] = []
    taken: set[str] = set()
    timings = {"prove": 0.0}
    for source in sources:
        one = _refine_policy(source.policy, unused, catalog, options, unit.name, source.id)
        warnings.extend(d.render() for d in source.notes)
        warnings.extend(f"{source.id}: {w}" for w in one.case.warnings)
        timings["prove"] += one.case.timings.get("prove", 0.0)
        if one.case.outcome is FAILED:
            reason = f"{source.label}: {one.case.reason}"
            case = BatchCase(
                unit.name,
                FAILED,
                reason,
                warnings=warnings,
                verdict=one.case.verdict,
                timings=timings,
            )
            return CaseOutput(case, unit.digests)
        stem = policy_outputs(source.id, taken)
        texts.update({f"{stem}.{name}": text for name, text in one.texts.items()})
        results.append((source, one))
    template = _written_back(sources[0], results, warnings)
    if template is not None:
        texts[template[0]] = template[1]
    outcomes = {one.case.outcome for _, one in results}
    if outcomes == {DETACHED}:
        result = DETACHED
    elif outcomes == {UNCHANGED}:
        result = UNCHANGED
    else:
        result = REFINED
    sizes = [one.case.size for _, one in results if one.case.size is not None]
    verdicts = {one.case.verdict for _, one in results}
    case = BatchCase(
        unit.name,
        result,
        warnings=warnings,
        verdict=verdicts.pop() if len(verdicts) == 1 else None,
        size=max(sizes) if sizes else None,
        timings=timings,
    )
    return CaseOutput(case, unit.digests, texts)


def _written_back(
    first: PolicySource, results: list[tuple[PolicySource, _Refined]], warnings: list[str]
) -> tuple[str, str] | None:
    """The output name and text of the template with every changed policy's refined
    document written back, or None (with a warning saying why) when a policy is
    detached or split, or the file cannot hold a written-back policy (a plan)."""
    from iamrefine.sources.writeback import write_back_all

    if first.text is None or first.document is None:
        return None
    changed = [(s, one) for s, one in results if one.case.outcome is not UNCHANGED]
    blocked = [s.id for s, one in changed if one.policy is None]
    if blocked:
        warnings.append(
            "the refined template is not written: "
            + ", ".join(f"`{b}`" for b in blocked)
            + " has no single refined document (detached, or split into several managed "
            "policies); see its recommendation"
        )
        return None
    suffix = Path(first.file).suffix.lower()
    name = "refined.json" if suffix == ".json" else "refined.yaml"
    edits = [(s, one.policy) for s, one in changed if one.policy is not None]
    return name, write_back_all(edits) if edits else (first.text or "")


def _refine_policy(
    policy: Policy,
    unused: UnusedSet,
    catalog: Catalog,
    options: BatchOptions,
    name: str,
    policy_id: str,
) -> _Refined:
    from iamrefine.api import refine_and_prove
    from iamrefine.verify import Verdict

    timeout = options.check_timeout
    if options.case_timeout is not None:
        timeout = min(timeout, options.case_timeout)
    outcome = refine_and_prove(
        policy,
        unused,
        catalog=catalog,
        timeout=timeout,
        engine=options.engine,
        prove=options.prove,
        certificate=options.certificates,
        optimize=options.optimize,
        max_policies=options.max_policies,
    )
    proving = sum(c.seconds for c in outcome.claims)
    warnings = [d.render() for d in outcome.warnings]
    verdict = None if outcome.verdict is None else outcome.verdict.value
    timings = {"prove": proving}
    if outcome.verdict not in (None, Verdict.PROVED):
        reason = f"proof {verdict}: " + "; ".join(outcome.unproved_reasons())
        case = BatchCase(name, FAILED, reason, warnings=warnings, verdict=verdict, timings=timings)
        return _Refined(case, {})
    texts: dict[str, str] = {}
    text = outcome.render("policy")
    if text is not None:
        texts[REFINED_FILE] = text
    texts[RECOMMENDATION_FILE] = outcome.recommendation(policy_id=policy_id)
    certificate = outcome.certificate_text()
    if certificate is not None:
        texts[CERTIFICATE_FILE] = certificate
        warnings.extend(outcome.certificate_warnings())
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
    single = None if outcome.result.parts or outcome.detached else outcome.policy
    case = BatchCase(name, result, warnings=warnings, verdict=verdict, size=size, timings=timings)
    return _Refined(case, texts, single)
