"""``iamrefine aws recommend``: proven recommendations for an account's findings.

1. list the active ``UnusedPermission`` findings (:mod:`~iamrefine.aws.findings`);
2. read each finding and its principal's policies, account by account
   (:mod:`~iamrefine.aws.fetch`);
3. with ``--compare-aws``, have Access Analyzer generate its own recommendation for
   every finding that still has work to do, then wait for each
   (:mod:`~iamrefine.aws.compare`);
4. refine and prove every policy through :func:`iamrefine.refine_and_prove` (in
   ``jobs`` worker processes, or on a Dask cluster: see
   :mod:`iamrefine.harness.executors`), grade AWS's recommendation with
   :func:`iamrefine.check`, and write one folder per policy
   (:mod:`~iamrefine.aws.layout`), then ``summary.json``.

Every AWS call is made in this process, in a fixed order; only the solver work runs
in workers, which return the text of each file and write nothing: this process
writes the output folder. A rerun fetches again and keeps each policy whose ``done`` matches what
it fetched, so an interrupted run resumes with nothing lost or done twice.
"""

from __future__ import annotations

import json
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iamrefine.aws import compare
from iamrefine.aws.clients import AwsFailure, Connector, aws_errors, failure
from iamrefine.aws.fetch import walk
from iamrefine.aws.findings import Analyzer, find_analyzer, list_findings
from iamrefine.aws.layout import (
    AWS_RECOMMENDATION_FILE,
    CERTIFICATE_FILE,
    ERROR_FILE,
    FINDING_FILE,
    FINDINGS_DIR,
    POLICY_FILE,
    RECOMMENDATION_FILE,
    REFINED_FILE,
    SUMMARY_FILE,
    UNUSED_FILE,
    Outcome,
    PolicyResult,
    PolicyTask,
    clear,
    resume,
    write_done,
    write_inputs,
)
from iamrefine.choices import DEFAULT_TIMEOUT, EngineName
from iamrefine.errors import InputError
from iamrefine.files import output_folder, write_atomic
from iamrefine.harness.executors import LOCAL, CatalogRef, ExecutorSpec, run_cases

if TYPE_CHECKING:
    from iamrefine.catalog import Catalog
    from iamrefine.unused import UnusedSet


@dataclass(frozen=True)
class RecommendOptions:
    """What to fetch and how to refine it."""

    analyzer_arn: str | None = None
    accounts: tuple[str, ...] = ()
    jobs: int = 1
    executor: ExecutorSpec = LOCAL
    compare_aws: bool = False
    timeout: float = DEFAULT_TIMEOUT
    engine: EngineName = EngineName.auto
    poll: compare.PollOptions = field(default_factory=compare.PollOptions)


@dataclass
class RecommendReport:
    """Every policy's outcome (sorted by folder) and every call that failed."""

    out_dir: Path
    analyzer: str
    catalog: dict[str, Any]
    findings: int
    results: list[PolicyResult]
    failures: list[AwsFailure]
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.outcome for r in self.results)
        return {o.value: found.get(o, 0) for o in Outcome}

    @property
    def failed(self) -> bool:
        return bool(self.failures) or any(r.outcome is Outcome.FAILED for r in self.results)

    @property
    def resumed(self) -> int:
        return sum(1 for r in self.results if r.resumed)

    def summary_line(self) -> str:
        counts = ", ".join(f"{n} {o}" for o, n in self.counts.items() if n) or "no policy"
        return (
            f"{self.findings} findings, {len(self.results)} policies in {self.seconds:.1f} s: "
            f"{counts}; {len(self.failures)} failed calls "
            f"({self.resumed} kept from an earlier run)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "iamrefine-aws-recommend",
            "analyzer": self.analyzer,
            "out_dir": str(self.out_dir),
            "catalog": self.catalog,
            "seconds": round(self.seconds, 3),
            "summary": {
                **self.counts,
                "findings": self.findings,
                "policies": len(self.results),
                "resumed": self.resumed,
                "failed_calls": len(self.failures),
            },
            "policies": [r.to_json() for r in self.results],
            "failures": [f.to_json() for f in self.failures],
        }


# --- one policy (in a worker) -------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    task: PolicyTask
    aws: dict[str, Any] | None


def unused_of(task: PolicyTask, catalog: Catalog) -> UnusedSet:
    """The unused actions of a task: its finding's, or for a shared policy the actions
    that every principal's finding lists."""
    from iamrefine.api import as_unused
    from iamrefine.unused import UnusedSet

    if not task.shared:
        return as_unused(task.findings[0], catalog, f"{task.folder}/{FINDING_FILE}")
    sets = [
        as_unused(f, catalog, f"{task.folder}/{FINDINGS_DIR}/{p.folder}.json")
        for p, f in zip(task.principals, task.findings, strict=True)
    ]
    actions = frozenset.intersection(*(s.actions for s in sets))
    services = frozenset.intersection(*(s.services for s in sets))
    warnings = tuple(w for s in sets for w in s.warnings)
    return UnusedSet(actions, f"{task.folder}/{UNUSED_FILE}", warnings, services)


@dataclass
class _Computed:
    """What a worker returns for one policy: its result, and the text of each file to
    write into its folder (the client writes them)."""

    result: PolicyResult
    texts: dict[str, str] = field(default_factory=dict)


def compute(
    item: _Item,
    catalog: Catalog,
    *,
    compare_aws: bool,
    timeout: float,
    engine: EngineName = EngineName.auto,
    source: str = "",
) -> _Computed:
    """Refine and prove one policy, writing nothing. A fault of the policy itself
    becomes a ``failed`` result with its reason."""
    task = item.task
    start = time.monotonic()
    computed = _Computed(PolicyResult.of(task, Outcome.UNCHANGED))
    try:
        computed.result = _refine(
            item,
            catalog,
            computed.texts,
            compare_aws=compare_aws,
            timeout=timeout,
            engine=engine,
            source=source or f"{item.task.folder}/{POLICY_FILE}",
        )
    except InputError as exc:
        computed.result = PolicyResult.of(
            task, Outcome.FAILED, "; ".join(d.render() for d in exc.diagnostics)
        )
    except Exception as exc:
        computed.result = PolicyResult.of(
            task, Outcome.FAILED, f"internal error: {type(exc).__name__}: {exc}"
        )
        computed.result.warnings = traceback.format_exc().splitlines()[-8:]
    computed.result.seconds = time.monotonic() - start
    if computed.result.outcome is Outcome.FAILED:
        computed.texts = {}
    return computed


def write_result(
    item: _Item, computed: _Computed, out_dir: Path, catalog_digest: str, *, compare_aws: bool
) -> PolicyResult:
    """Write one policy's folder: its inputs, each output file atomically, then
    ``done`` (or ``error.json`` for a failed policy). Raises :class:`InputError` when
    the folder cannot be written."""
    task, result = item.task, computed.result
    dest = out_dir / task.folder
    clear(dest)
    write_inputs(task, dest)
    if result.outcome is Outcome.FAILED:
        write_atomic(dest / ERROR_FILE, json.dumps(result.to_json(), indent=2) + "\n")
        return result
    for name, text in computed.texts.items():
        write_atomic(dest / name, text)
    # A comparison that AWS could not give (its call failed) is tried again by a rerun
    # with --compare-aws; a shared policy has none to give.
    compared = compare_aws and (item.aws is not None or task.shared)
    write_done(task, dest, result, catalog_digest, compare_aws=compared)
    return result


def _refine(
    item: _Item,
    catalog: Catalog,
    texts: dict[str, str],
    *,
    compare_aws: bool,
    timeout: float,
    engine: EngineName,
    source: str,
) -> PolicyResult:
    from iamrefine.api import refine_and_prove
    from iamrefine.parse import parse_policy

    task = item.task
    original = parse_policy(task.policy.document, source)
    unused = unused_of(task, catalog)
    if task.shared:
        texts[UNUSED_FILE] = json.dumps(unused.canonical(catalog), indent=2) + "\n"
    outcome = refine_and_prove(
        original, unused, catalog=catalog, timeout=timeout, engine=engine, certificate=True
    )
    result = PolicyResult.of(task, Outcome.UNCHANGED)
    result.verdict = None if outcome.verdict is None else outcome.verdict.value
    # The finding lists the principal's unused actions across all its policies, so
    # that most of them change nothing in any one policy: only the warnings about the
    # finding itself (actions the catalog does not know) are worth reporting.
    result.warnings = [d.render() for d in outcome.unused.warnings]
    result.original_chars = outcome.original_size
    if not outcome.proved:
        result.outcome = Outcome.FAILED
        result.reason = f"proof {result.verdict}: " + "; ".join(outcome.unproved_reasons())
        return result
    files: list[str] = []
    if outcome.changed:
        text = outcome.render("policy")
        if text is not None:
            texts[REFINED_FILE] = text
            files.append(REFINED_FILE)
        cert = outcome.certificate_text()
        if cert is not None:
            texts[CERTIFICATE_FILE] = cert
            files.append(CERTIFICATE_FILE)
            result.warnings.extend(outcome.certificate_warnings())
        result.outcome = Outcome.DETACHED if outcome.detached else Outcome.REFINED
        result.refined_chars = outcome.size if not outcome.detached else 0
    else:
        result.refined_chars = result.original_chars
    policy_text = outcome.render("recommendation", policy_id=task.policy.policy_id)
    texts[RECOMMENDATION_FILE] = str(policy_text)
    files.append(RECOMMENDATION_FILE)
    if compare_aws and item.aws is not None:
        mine = compare.for_policy(item.aws, task.policy.policy_id, task.policy.name)
        texts[AWS_RECOMMENDATION_FILE] = json.dumps(mine, indent=2) + "\n"
        files.append(AWS_RECOMMENDATION_FILE)
        result.aws = compare.grade(original, mine, unused, catalog, timeout=timeout, engine=engine)
    elif compare_aws and task.shared:
        result.warnings.append(
            "AWS recommends per principal; a policy refined for several is not compared"
        )
    result.files = files
    return result


@dataclass(frozen=True)
class _Job:
    out_dir: Path
    compare_aws: bool
    timeout: float
    engine: EngineName

    def __call__(self, item: _Item, catalog: Catalog) -> _Computed:
        return compute(
            item,
            catalog,
            compare_aws=self.compare_aws,
            timeout=self.timeout,
            engine=self.engine,
            source=str(self.out_dir / item.task.folder / POLICY_FILE),
        )


# --- the run ------------------------------------------------------------------------


def analyzer_of(connector: Connector, arn: str | None) -> str:
    if arn:
        return arn
    found: Analyzer = find_analyzer(connector.analyzer(), connector.region)
    return found.arn


def _aws_recommendations(
    connector: Connector,
    analyzer_arn: str,
    tasks: list[PolicyTask],
    poll: compare.PollOptions,
    failures: list[AwsFailure],
) -> dict[str, dict[str, Any]]:
    """AWS's recommendation of every finding of a one-principal task, by finding id:
    all are requested first, then each is waited for."""
    client = connector.analyzer()
    wanted: dict[str, PolicyTask] = {}
    for task in tasks:
        if not task.shared:
            wanted.setdefault(str(task.findings[0]["id"]), task)
    requested: list[str] = []
    for finding_id, task in wanted.items():
        try:
            compare.request(client, analyzer_arn, finding_id)
            requested.append(finding_id)
        except aws_errors() as exc:
            failures.append(
                failure(
                    exc,
                    account=task.account,
                    operation="GenerateFindingRecommendation",
                    principal=task.principals[0].folder,
                )
            )
    found: dict[str, dict[str, Any]] = {}
    for finding_id in requested:
        task = wanted[finding_id]
        try:
            found[finding_id] = compare.wait(client, analyzer_arn, finding_id, poll)
        except aws_errors() as exc:
            failures.append(
                failure(
                    exc,
                    account=task.account,
                    operation="GetFindingRecommendation",
                    principal=task.principals[0].folder,
                )
            )
    return found


def recommend(
    connector: Connector,
    out_dir: str | Path,
    *,
    catalog_path: str | Path | None = None,
    options: RecommendOptions | None = None,
    on_findings: Callable[[int], None] | None = None,
    on_finding: Callable[[str], None] | None = None,
    on_tasks: Callable[[int], None] | None = None,
    on_result: Callable[[PolicyResult], None] | None = None,
) -> RecommendReport:
    """Fetch, refine, prove and write every policy that the analyzer's findings
    concern into ``out_dir``, then ``summary.json``; see the module docstring.

    ``on_findings`` and ``on_tasks`` get the number of findings and of policies once
    known; ``on_finding`` and ``on_result`` are called as each is done. Raises
    :class:`InputError` for unusable credentials, no analyzer, a bad catalog or an
    output folder that cannot be written; a failed AWS call is recorded instead.
    """
    from iamrefine.catalog import load_catalog

    opts = options or RecommendOptions()
    start = time.monotonic()
    dest = Path(out_dir)
    catalog = load_catalog(catalog_path)
    with output_folder(dest):
        connector.identity()
        try:
            analyzer_arn = analyzer_of(connector, opts.analyzer_arn)
            findings = list_findings(connector.analyzer(), analyzer_arn, opts.accounts)
        except aws_errors() as exc:
            # Without the list of findings there is nothing to do.
            found_error = failure(exc, account=connector.account, operation="ListFindingsV2")
            raise InputError.at(
                "aws",
                f"cannot list the findings: {found_error.operation}: {found_error.code}: "
                f"{found_error.message}",
            ) from None
        if on_findings is not None:
            on_findings(len(findings))
        found = walk(connector, analyzer_arn, findings, on_finding=on_finding)
        failures = list(found.failures)
        if on_tasks is not None:
            on_tasks(len(found.tasks))
        results: list[PolicyResult] = list(found.skipped)
        pending: list[PolicyTask] = []
        for task in found.tasks:
            previous = resume(task, dest, catalog.digest, compare_aws=opts.compare_aws)
            if previous is None:
                pending.append(task)
                continue
            results.append(previous)
            if on_result is not None:
                on_result(previous)
        recommendations: dict[str, dict[str, Any]] = {}
        if opts.compare_aws and pending:
            recommendations = _aws_recommendations(
                connector, analyzer_arn, pending, opts.poll, failures
            )
        items = [
            _Item(t, None if t.shared else recommendations.get(str(t.findings[0]["id"])))
            for t in pending
        ]
        ref = CatalogRef(None if catalog_path is None else str(catalog_path), catalog.digest)
        job = _Job(dest, opts.compare_aws, opts.timeout, opts.engine)

        def crashed(item: _Item, reason: str) -> _Computed:
            return _Computed(PolicyResult.of(item.task, Outcome.FAILED, reason))

        for item, computed in run_cases(
            job, items, executor=opts.executor, jobs=opts.jobs, catalog=ref, on_crash=crashed
        ):
            result = write_result(
                item, computed, dest, catalog.digest, compare_aws=opts.compare_aws
            )
            results.append(result)
            if on_result is not None:
                on_result(result)
        results.sort(key=lambda r: (r.folder, r.outcome.value))
        report = RecommendReport(
            dest,
            analyzer_arn,
            catalog.info(),
            len(findings),
            results,
            failures,
            time.monotonic() - start,
        )
        write_atomic(dest / SUMMARY_FILE, json.dumps(report.to_json(), indent=2) + "\n")
        return report
