"""The output folder of ``iamrefine aws recommend``, and what ``aws apply`` reads back.

One folder per policy, ``OUT_DIR/<account>/<principal>/<policy>/``, where
``<principal>`` is ``role-NAME`` or ``user-NAME`` (``shared`` for a customer managed
policy refined for all the principals it is attached to) and ``<policy>`` is
``managed-NAME``, ``aws-NAME`` or ``inline-NAME``. It holds:

- the inputs as fetched, so that the run can be redone offline
  (``iamrefine refine policy.json --unused finding.json``): ``policy.json``, the
  document exactly as IAM stores it; ``finding.json``, the ``GetFindingV2`` response
  (for a shared policy, ``findings/<principal>.json`` for each principal and
  ``unused.json``, the actions that all of them leave unused); ``source.json``, where
  the policy came from (ARN, default version, digest, principals, finding ids);
- the results: ``refined.json`` (absent when the recommendation is to detach the
  policy), ``recommendation.json`` in the shape of ``GetFindingRecommendation``,
  ``certificate.json``; with ``--compare-aws``, ``aws-recommendation.json``;
- ``done``, written last, atomically: the outcome and the digest of the inputs. A
  rerun keeps a policy whose ``done`` matches its current inputs, catalog and
  options and redoes any other; a failed policy has ``error.json`` instead.

``OUT_DIR/summary.json`` lists every policy's outcome, the skipped policies and the
calls that failed (an AccessDenied on one account or policy does not stop the run).
A folder that an earlier run wrote and this one did not (a policy since detached, or
now shared) stays on disk but is not in ``summary.json``, and ``apply`` ignores it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from iamrefine.aws.policies import FetchedPolicy, PolicyKind, Principal
from iamrefine.errors import InputError
from iamrefine.files import write_atomic

POLICY_FILE = "policy.json"
FINDING_FILE = "finding.json"
FINDINGS_DIR = "findings"
UNUSED_FILE = "unused.json"
SOURCE_FILE = "source.json"
REFINED_FILE = "refined.json"
RECOMMENDATION_FILE = "recommendation.json"
CERTIFICATE_FILE = "certificate.json"
AWS_RECOMMENDATION_FILE = "aws-recommendation.json"
ERROR_FILE = "error.json"
DONE_FILE = "done"
SUMMARY_FILE = "summary.json"
SHARED = "shared"
RESULT_FILES = (
    REFINED_FILE,
    RECOMMENDATION_FILE,
    CERTIFICATE_FILE,
    AWS_RECOMMENDATION_FILE,
    ERROR_FILE,
)
DONE_FORMAT = 1


class Outcome(StrEnum):
    """What became of one policy."""

    REFINED = "refined"
    DETACHED = "detached"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class PolicyTask:
    """One policy to refine: for one principal, or (``shared``) for every principal a
    customer managed policy is attached to, with each principal's finding."""

    account: str
    principals: tuple[Principal, ...]
    policy: FetchedPolicy
    findings: tuple[dict[str, Any], ...]

    @property
    def shared(self) -> bool:
        return len(self.principals) > 1

    @property
    def folder(self) -> str:
        """The policy's folder, relative to the output folder."""
        owner = SHARED if self.shared else self.principals[0].folder
        return f"{self.account}/{owner}/{self.policy.folder}"

    def source(self) -> dict[str, Any]:
        """The contents of ``source.json``."""
        return {
            "format": DONE_FORMAT,
            "account": self.account,
            "policy": self.policy.to_json(),
            "principals": [p.to_json() for p in self.principals],
            "findings": [str(f.get("id", "")) for f in self.findings],
        }

    def input_digest(self) -> str:
        """The digest of everything the result depends on that came from AWS."""
        text = json.dumps(
            {"document": self.policy.document, "source": self.source(), "findings": self.findings},
            sort_keys=True,
        )
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    def input_files(self) -> dict[str, str]:
        """The inputs as fetched: relative file name -> text."""
        files = {
            POLICY_FILE: self.policy.document,
            SOURCE_FILE: json.dumps(self.source(), indent=2) + "\n",
        }
        if self.shared:
            for principal, finding in zip(self.principals, self.findings, strict=True):
                files[f"{FINDINGS_DIR}/{principal.folder}.json"] = (
                    json.dumps(finding, indent=2) + "\n"
                )
        else:
            files[FINDING_FILE] = json.dumps(self.findings[0], indent=2) + "\n"
        return files


@dataclass
class Comparison:
    """AWS's own recommendation for one policy, graded against the original and the
    finding by the checker (``verdict`` as in ``regress``), with its size."""

    status: str
    verdict: str | None = None
    detail: str = ""
    counterexamples: list[dict[str, Any]] = field(default_factory=list)
    chars: int | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PolicyResult:
    """The outcome of one policy; ``resumed`` when an earlier run's result was kept."""

    folder: str
    account: str
    principals: list[str]
    kind: str
    name: str
    policy_id: str
    outcome: Outcome
    reason: str = ""
    verdict: str | None = None
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    original_chars: int | None = None
    refined_chars: int | None = None
    aws: Comparison | None = None
    seconds: float = 0.0
    resumed: bool = False

    @classmethod
    def of(cls, task: PolicyTask, outcome: Outcome, reason: str = "") -> PolicyResult:
        return cls(
            task.folder,
            task.account,
            [p.arn for p in task.principals],
            task.policy.kind.value,
            task.policy.name,
            task.policy.policy_id,
            outcome,
            reason,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["aws"] = None if self.aws is None else self.aws.to_json()
        data["seconds"] = round(self.seconds, 4)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyResult:
        aws = data.get("aws")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["outcome"] = Outcome(data["outcome"])
        fields["aws"] = None if aws is None else Comparison(**aws)
        return cls(**fields)


def marker(task: PolicyTask, catalog_digest: str, *, compare_aws: bool) -> dict[str, Any]:
    """The fields of ``done`` that must match for a rerun to keep a result."""
    return {
        "format": DONE_FORMAT,
        "input_digest": task.input_digest(),
        "catalog_digest": catalog_digest,
        "compare_aws": compare_aws,
    }


def resume(
    task: PolicyTask, out_dir: Path, catalog_digest: str, *, compare_aws: bool
) -> PolicyResult | None:
    """The earlier result of ``task`` when it is complete and still current. A result
    made with ``--compare-aws`` serves a run without it, not the other way round."""
    dest = out_dir / task.folder
    try:
        done = json.loads((dest / DONE_FILE).read_text("utf-8"))
        expected = marker(task, catalog_digest, compare_aws=compare_aws)
        if not isinstance(done, dict) or any(
            done.get(k) != v for k, v in expected.items() if k != "compare_aws"
        ):
            return None
        if compare_aws and not done.get("compare_aws"):
            return None
        result = PolicyResult.from_json(done["result"])
        if not all((dest / f).is_file() for f in result.files):
            return None
        result.resumed = True
        result.seconds = 0.0
        return result
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise InputError.at(str(path), f"cannot remove output: {exc.strerror or exc}") from None


def clear(dest: Path) -> None:
    """Remove the marker, every result file and the temporary files that a killed run
    may have left, before a policy is redone."""
    remove(dest / DONE_FILE)
    for name in RESULT_FILES:
        remove(dest / name)
    if dest.is_dir():
        for tmp in dest.glob(".*.tmp"):
            remove(tmp)


def write_inputs(task: PolicyTask, dest: Path) -> None:
    for name, text in task.input_files().items():
        write_atomic(dest / name, text, parents=True)


def write_done(
    task: PolicyTask, dest: Path, result: PolicyResult, catalog_digest: str, *, compare_aws: bool
) -> None:
    done = {
        **marker(task, catalog_digest, compare_aws=compare_aws),
        "outcome": result.outcome.value,
        "verdict": result.verdict,
        "result": result.to_json(),
    }
    write_atomic(dest / DONE_FILE, json.dumps(done, indent=2) + "\n", parents=True)


@dataclass(frozen=True)
class Applicable:
    """One policy folder as ``aws apply`` reads it back."""

    folder: Path
    account: str
    policy: dict[str, Any]
    principals: tuple[Principal, ...]
    outcome: Outcome
    verdict: str | None

    @property
    def kind(self) -> PolicyKind:
        return PolicyKind(self.policy["kind"])

    @property
    def refined_text(self) -> str | None:
        path = self.folder / REFINED_FILE
        return path.read_text("utf-8") if path.is_file() else None


def read_results(out_dir: Path) -> list[Applicable]:
    """The finished policy folders of the last ``recommend`` run into ``out_dir`` (those
    its ``summary.json`` lists; a folder left from an earlier run is not one), sorted.
    Raises :class:`InputError` when ``out_dir`` is not an output folder of
    ``recommend`` or a listed folder's files cannot be read."""
    summary_path = out_dir / SUMMARY_FILE
    try:
        summary = json.loads(summary_path.read_text("utf-8"))
        listed = sorted(
            str(p["folder"])
            for p in summary["policies"]
            if p["outcome"] not in (Outcome.SKIPPED.value, Outcome.FAILED.value)
        )
    except FileNotFoundError:
        raise InputError.at(
            str(out_dir), f"not an output folder of `iamrefine aws recommend` (no {SUMMARY_FILE})"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError.at(str(summary_path), f"cannot read the summary: {exc}") from None
    found: list[Applicable] = []
    for name in listed:
        folder = out_dir / name
        try:
            done = json.loads((folder / DONE_FILE).read_text("utf-8"))
            source = json.loads((folder / SOURCE_FILE).read_text("utf-8"))
            found.append(
                Applicable(
                    folder,
                    str(source["account"]),
                    dict(source["policy"]),
                    tuple(Principal.from_json(p) for p in source["principals"]),
                    Outcome(done["outcome"]),
                    done.get("verdict"),
                )
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError.at(str(folder), f"cannot read the result: {exc}") from None
    return found
