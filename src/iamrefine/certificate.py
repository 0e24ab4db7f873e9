"""Proof certificates: a self-contained, versioned JSON record of one refinement and its proof.

A certificate (schema :data:`SCHEMA_VERSION`, published as JSON Schema in
``proofs/schema/certificate.schema.json``) records:

- the iamrefine, Z3 and (when it decided a query) cvc5 versions;
- the catalog's source, version, sha256 digest and size;
- the *inputs*: the original policy, the unused set and the refined policy (None when
  the policy is to be detached), each embedded in canonical form with its sha256;
- the refiner's *hints* (statement origins and pattern origins), which only steer
  which containment queries are asked and are never trusted;
- the three claims with their verdicts and times: *exact over the catalog*, *no
  escalation for any action string* and *least general*;
- a least-generality witness for every pattern the refiner generated: the pattern's
  parent (the next more general candidate) and a catalog action the parent matches
  that is unused or that the original pattern never allowed;
- every solver obligation as complete SMT-LIB 2 text, which ``z3 FILE`` or
  ``cvc5 FILE`` answers ``unsat`` by itself;
- the class partition (each class's members and signature) that the catalog
  obligations are built from.

:func:`check_certificate` trusts nothing but the inputs: it re-parses the embedded
policies and checks their hashes, checks the catalog digest, re-derives every
obligation from the inputs and compares the text, re-runs the solvers on the stored
text, re-checks every witness, re-checks the class partition with the concrete
matcher (:mod:`iamrefine.glob`), and re-derives the refinement's structure
(:mod:`iamrefine.structure`: only Allow statements' action elements changed, every Deny
statement kept), which proves the first two claims again without a solver.

Canonical forms: a policy is the writer's JSON (:func:`iamrefine.write.policy_to_json`)
serialized by ``json.dumps(..., sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``; the unused set is the JSON list of its catalog names, sorted by
lowercase name, serialized the same way. Digests are ``sha256:`` and 64 hex digits of
the UTF-8 text.

Run ``python -m iamrefine.certificate schema`` to print the JSON Schema and
``python -m iamrefine.certificate extract CERT DIR`` to write each obligation to
``DIR/NN.smt2``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, ValidationError

from iamrefine.catalog import Catalog, digest_of
from iamrefine.errors import CertificateError, Diagnostic, InputError
from iamrefine.files import parse_json
from iamrefine.glob import action_matches, ascii_lower
from iamrefine.structure import (
    expand,
    glob_counterexample,
    glob_included,
    same_frame,
    structure_problems,
)

if TYPE_CHECKING:
    from iamrefine.encode import Partition
    from iamrefine.model import Policy
    from iamrefine.refine import RefineResult
    from iamrefine.unused import UnusedSet
    from iamrefine.verify import CheckReport, Obligation

FORMAT: Final = "iamrefine-certificate"
SCHEMA_VERSION: Final = 1
CATALOG_CLAIM = "exact over the catalog"
STRINGS_CLAIM = "no escalation for any action string"
LEAST_GENERAL_CLAIM = "least general"
CLAIMS = (CATALOG_CLAIM, STRINGS_CLAIM, LEAST_GENERAL_CLAIM)
LABELS = ("original", "refined")
SOLVERS = ("z3", "cvc5")
MAX_CERTIFICATE_BYTES = 256 * 1024 * 1024

Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Verdict = Literal["PROVED", "REFUTED", "UNKNOWN"]
Status = Literal["unsat", "sat", "unknown"]

__all__ = [
    "CATALOG_CLAIM",
    "CLAIMS",
    "FORMAT",
    "LEAST_GENERAL_CLAIM",
    "SCHEMA_VERSION",
    "STRINGS_CLAIM",
    "Certificate",
    "CertificateReport",
    "Finding",
    "build_certificate",
    "canonical_json",
    "canonical_policy",
    "certificate_schema",
    "certificate_text",
    "check_certificate",
    "glob_counterexample",
    "glob_included",
    "load_certificate",
    "parse_certificate",
    "sha256_text",
    "stable_view",
    "verify_certificate",
]


# --- the schema ---------------------------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tools(_Record):
    """Versions of the tools that made the certificate; ``cvc5`` only when it decided a query."""

    iamrefine: str
    z3: str
    cvc5: str | None = None


class CatalogRecord(_Record):
    """The action catalog the claims are relative to."""

    source: str
    version: str
    digest: Digest = Field(description="sha256 of the sorted lowercase names joined by newlines")
    actions: int = Field(ge=0)
    services: int = Field(ge=0)


class EmbeddedPolicy(_Record):
    """A policy in canonical form and the sha256 of its canonical text."""

    sha256: Digest
    document: dict[str, JsonValue]


class EmbeddedUnused(_Record):
    """The unused catalog actions, sorted by lowercase name, and the sha256 of their
    canonical text."""

    sha256: Digest
    actions: list[str]


class Inputs(_Record):
    """What the claims are about. ``refined`` is None when the policy is to be detached."""

    original: EmbeddedPolicy
    unused: EmbeddedUnused
    refined: EmbeddedPolicy | None


class PatternOrigin(_Record):
    """Refined pattern ``pattern`` of a statement that came from original statement
    ``statement`` stems from the original pattern ``origin``."""

    statement: int = Field(ge=0)
    pattern: str
    origin: str


class Refinement(_Record):
    """How the refinement was made, and the refiner's hints. The hints only choose which
    containment queries are asked; the checker never trusts them."""

    granularity: str
    strategy: str
    engine: str
    timeout: float = Field(gt=0)
    statement_origin: list[int]
    pattern_origins: list[PatternOrigin]


class ClaimRecord(_Record):
    """One claim: its verdict, the seconds it took and the obligations it consists of."""

    name: str
    verdict: Verdict
    seconds: float = Field(ge=0)
    solver: str
    obligations: list[int]
    reason: str | None = None


class Witness(_Record):
    """Why ``pattern`` (generated from ``original``, value of original statement
    ``statement``) is least general: its parent, the next more general candidate,
    matches the catalog action ``witness``, which is unused (``reason`` ``unused``) or
    not matched by ``original`` (``not allowed``), so the parent could not be used."""

    statement: int = Field(ge=0)
    original: str
    pattern: str
    parent: str
    witness: str
    reason: Literal["unused", "not allowed"]


class Signature(_Record):
    """The statements of each policy whose action element matches every member of a
    class, and whether the members are unused."""

    original: list[int]
    refined: list[int]
    unused: bool


class ClassRecord(_Record):
    """One class of the partition: catalog actions that no statement tells apart."""

    index: int = Field(ge=0)
    members: list[str]
    signature: Signature


class PartitionRecord(_Record):
    """The catalog split into classes; class ``i`` is the bit-vector value ``i`` of the
    ``class`` symbol in the obligations that use the partition."""

    classes: list[ClassRecord]


class ObligationRecord(_Record):
    """One solver query, *unsat iff its part of the claim holds*, as complete SMT-LIB 2."""

    index: int = Field(ge=0)
    name: str
    claim: str
    kind: str
    role: Literal["proof", "search"] = Field(
        description="proof: the query's unsat answer is part of its claim's proof; "
        "search: the query only restricts another one to find a model sooner"
    )
    premise: str | None = None
    partition: int | None = Field(default=None, ge=0)
    status: Status = Field(
        description="the answer when the certificate was made; a claim rests on its "
        "proof obligations that are unsat (one that is not was superseded by a fallback "
        "query)"
    )
    engine: str
    seconds: float = Field(ge=0)
    smtlib: str


class Certificate(_Record):
    """A proof certificate of one refinement (see the module docstring)."""

    format: Literal["iamrefine-certificate"] = FORMAT
    schema_version: Literal[1] = SCHEMA_VERSION
    tools: Tools
    catalog: CatalogRecord
    inputs: Inputs
    refinement: Refinement
    claims: list[ClaimRecord]
    least_general: list[Witness]
    partitions: list[PartitionRecord]
    obligations: list[ObligationRecord]

    @property
    def proved(self) -> bool:
        """Does the certificate record every claim as PROVED?"""
        return bool(self.claims) and all(c.verdict == "PROVED" for c in self.claims)


def certificate_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Certificate` (what ``proofs/schema/`` publishes)."""
    schema = Certificate.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


# --- canonical forms ----------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON text with characters written as themselves."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    """``sha256:`` and the hex digest of the UTF-8 text."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_policy(policy: Policy) -> tuple[dict[str, Any], str]:
    """The policy's canonical JSON document and its canonical text."""
    from iamrefine.write import policy_to_json

    text = canonical_json(policy_to_json(policy))
    return json.loads(text), text


def _embed_policy(policy: Policy) -> EmbeddedPolicy:
    document, text = canonical_policy(policy)
    return EmbeddedPolicy(sha256=sha256_text(text), document=document)


def _unused_names(unused: UnusedSet, catalog: Catalog) -> list[str]:
    return sorted(
        (catalog.by_lower.get(a, a) for a in unused.actions), key=lambda n: (ascii_lower(n), n)
    )


# --- building -----------------------------------------------------------------------------


def _versions(cvc5_used: bool) -> Tools:
    from iamrefine import __version__, solver

    return Tools(
        iamrefine=__version__,
        z3=solver.engine_version("z3"),
        cvc5=solver.engine_version("cvc5") if cvc5_used else None,
    )


def _partition_record(partition: Partition, catalog: Catalog) -> PartitionRecord:
    classes = []
    for row in partition.to_json(catalog):
        sig = row["signature"]
        classes.append(
            ClassRecord(
                index=row["index"],
                members=list(row["members"]),
                signature=Signature(
                    original=sorted(sig.get(LABELS[0], [])),
                    refined=sorted(sig.get(LABELS[1], [])),
                    unused=bool(sig["unused"]),
                ),
            )
        )
    return PartitionRecord(classes=classes)


def _witnesses(result: RefineResult, unused: frozenset[str]) -> list[Witness]:
    out = []
    for rep in result.replacements:
        for pattern, parent, witness in rep.trace.least_generality():
            reason: Literal["unused", "not allowed"] = "not allowed"
            if ascii_lower(witness) in unused and action_matches(rep.original_pattern, witness):
                reason = "unused"
            out.append(
                Witness(
                    statement=rep.statement_index,
                    original=rep.original_pattern,
                    pattern=pattern,
                    parent=parent,
                    witness=witness,
                    reason=reason,
                )
            )
    return out


def build_certificate(
    result: RefineResult,
    unused: UnusedSet,
    catalog: Catalog,
    *,
    report: CheckReport | None = None,
    timeout: float = 30.0,
    engine: str = "auto",
) -> Certificate:
    """The certificate of ``result`` (a refinement of ``result.original`` by ``unused``
    over ``catalog``).

    ``report`` is the checker's report on this refinement, when the caller has already
    run :func:`iamrefine.verify.verify_result` on it with ``timeout`` and ``engine``;
    otherwise it is run here. The least-generality claim is checked here, by the same code that
    :func:`check_certificate` runs.
    """
    from iamrefine.verify import verify_result

    if report is None:
        report = verify_result(result, unused, catalog, timeout=timeout, engine=engine)
    partitions: list[PartitionRecord] = []
    partition_index: dict[int, int] = {}
    obligations = []
    for i, ob in enumerate(report.obligations):
        pidx = None
        if ob.partition is not None:
            key = id(ob.partition)
            if key not in partition_index:
                partition_index[key] = len(partitions)
                partitions.append(_partition_record(ob.partition, catalog))
            pidx = partition_index[key]
        obligations.append(
            ObligationRecord(
                index=i,
                name=ob.name,
                claim=ob.claim,
                kind=ob.kind,
                role=ob.role,  # type: ignore[arg-type]
                premise=ob.premise,
                partition=pidx,
                status=ob.status,  # type: ignore[arg-type]
                engine=ob.engine,
                seconds=round(ob.seconds, 4),
                smtlib=ob.smtlib(),
            )
        )
    claims = []
    cvc5_used = False
    for c in report.claims:
        engines = str(c.stats.get("solver", "none"))
        cvc5_used = cvc5_used or "cvc5" in engines
        claims.append(
            ClaimRecord(
                name=c.name,
                verdict=c.verdict.value,
                seconds=round(c.seconds, 4),
                solver=engines,
                obligations=[o.index for o in obligations if o.claim == c.name],
                reason=c.reason,
            )
        )
    start = time.perf_counter()
    witnesses = _witnesses(result, unused.actions)
    problems = structure_problems(
        result.original,
        result.policy,
        unused.actions,
        catalog,
        result.statement_origin,
        result.pattern_origins,
    ) + _check_least_general(
        witnesses,
        result.original,
        result.policy,
        unused.actions,
        catalog,
        result.statement_origin,
    )
    claims.append(
        ClaimRecord(
            name=LEAST_GENERAL_CLAIM,
            verdict="REFUTED" if problems else "PROVED",
            seconds=round(time.perf_counter() - start, 4),
            solver="none",
            obligations=[],
            reason="; ".join(problems[:3]) if problems else None,
        )
    )
    info = catalog.info()
    names = _unused_names(unused, catalog)
    return Certificate(
        tools=_versions(cvc5_used),
        catalog=CatalogRecord(
            source=catalog.source,
            version=catalog.version,
            digest=catalog.digest,
            actions=int(info["actions"]),
            services=int(info["services"]),
        ),
        inputs=Inputs(
            original=_embed_policy(result.original),
            unused=EmbeddedUnused(sha256=sha256_text(canonical_json(names)), actions=names),
            refined=None if result.policy is None else _embed_policy(result.policy),
        ),
        refinement=Refinement(
            granularity=str(result.granularity),
            strategy=str(result.strategy),
            engine=engine,
            timeout=timeout,
            statement_origin=list(result.statement_origin),
            pattern_origins=[
                PatternOrigin(statement=s, pattern=p, origin=o)
                for s, p, o in result.pattern_origins
            ],
        ),
        claims=claims,
        least_general=witnesses,
        partitions=partitions,
        obligations=obligations,
    )


def certificate_text(certificate: Certificate) -> str:
    """The certificate as JSON text (indented, one array item per line, final newline)."""
    data = certificate.model_dump(mode="json")
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def stable_view(certificate: Certificate) -> dict[str, Any]:
    """The certificate as JSON without what varies from run to run (times, the engines
    that answered and the tools' versions): equal views mean the same inputs,
    obligations and proof."""
    data = certificate.model_dump(mode="json")
    data.pop("tools")
    for claim in data["claims"]:
        claim.pop("seconds")
        claim.pop("solver")
    for ob in data["obligations"]:
        ob.pop("seconds")
        ob.pop("engine")
    return data


# --- loading ------------------------------------------------------------------------------


def _where(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_certificate(text: str, source: str = "<certificate>") -> Certificate:
    """Parse and validate certificate JSON; raise :class:`CertificateError` when malformed."""
    data = parse_json(text, source, CertificateError)
    if not isinstance(data, dict):
        raise CertificateError.at(source, "a certificate must be a JSON object")
    if data.get("format") != FORMAT:
        raise CertificateError.at(source, _not_a_certificate(data, source))
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CertificateError.at(
            source,
            f"unsupported certificate schema version `{version}`; this iamrefine reads "
            f"version `{SCHEMA_VERSION}`",
        )
    try:
        return Certificate.model_validate(data)
    except ValidationError as exc:
        diags = [
            Diagnostic(source, None, None, f"`{_where(err['loc'])}`: {err['msg'].lower()}")
            for err in exc.errors()
        ]
        raise CertificateError(diags) from None


def _not_a_certificate(data: dict[str, Any], source: str) -> str:
    """Why ``data`` is not a certificate, and for a policy, how to make one."""
    if "Statement" in data:
        return (
            "this looks like an IAM policy, not an iamrefine certificate; make a certificate "
            f"with `iamrefine refine {shlex.quote(source)} --unused UNUSED --certificate "
            "CERT.json`, then check it with `iamrefine verify CERT.json`"
        )
    if "format" not in data:
        return f"not an iamrefine certificate: it has no `format` (expected `{FORMAT}`)"
    return f"not an iamrefine certificate: `format` is `{data['format']}` (expected `{FORMAT}`)"


def load_certificate(path: str | Path) -> Certificate:
    """Read and validate a certificate file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_CERTIFICATE_BYTES + 1)
    except OSError as exc:
        raise CertificateError.at(str(p), f"cannot read certificate: {exc.strerror}") from None
    if len(raw) > MAX_CERTIFICATE_BYTES:
        raise CertificateError.at(
            str(p), f"certificate is larger than {MAX_CERTIFICATE_BYTES:,} bytes"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CertificateError.at(
            str(p), f"certificate is not valid UTF-8 (byte {exc.start})"
        ) from None
    return parse_certificate(text, str(p))


# --- checking -----------------------------------------------------------------------------


FindingStatus = Literal["ok", "failed", "undecided"]


@dataclass
class Finding:
    """The outcome of checking one part of a certificate."""

    part: str
    status: FindingStatus
    message: str

    def to_json(self) -> dict[str, str]:
        return {"part": self.part, "status": self.status, "message": self.message}


@dataclass
class CertificateReport:
    """Every check :func:`check_certificate` made, and the claims' re-derived verdicts.

    ``status`` is ``VALID`` when every check passed, ``INVALID`` when one failed, and
    ``UNDECIDED`` when none failed but a solver could not decide an obligation.
    """

    source: str
    solvers: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    claims: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def ok(self, part: str, message: str) -> None:
        self.findings.append(Finding(part, "ok", message))

    def fail(self, part: str, message: str) -> None:
        self.findings.append(Finding(part, "failed", message))

    def undecided(self, part: str, message: str) -> None:
        self.findings.append(Finding(part, "undecided", message))

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "failed"]

    @property
    def failed_parts(self) -> list[str]:
        """The parts that failed, in order, each once."""
        return list(dict.fromkeys(f.part for f in self.failures))

    @property
    def status(self) -> str:
        if self.failures:
            return "INVALID"
        if any(f.status == "undecided" for f in self.findings):
            return "UNDECIDED"
        return "VALID"

    @property
    def valid(self) -> bool:
        return self.status == "VALID"

    def to_json(self) -> dict[str, Any]:
        return {
            "certificate": self.source,
            "status": self.status,
            "failed": self.failed_parts,
            "solvers": list(self.solvers),
            "claims": self.claims,
            "seconds": round(self.seconds, 4),
            "findings": [f.to_json() for f in self.findings],
        }

    def render(self) -> str:
        """A human-readable report, one line per finding and a closing verdict."""
        mark = {"ok": "ok", "failed": "FAILED", "undecided": "UNDECIDED"}
        lines = [f"certificate: {self.source}"]
        width = max((len(f.part) for f in self.findings), default=0)
        for f in self.findings:
            lines.append(f"  {f.part:<{width}}  {mark[f.status]}: {f.message}")
        for name, verdict in self.claims.items():
            lines.append(f"  claim `{name}`: {verdict}")
        tail = f"{self.status} ({self.seconds:.2f} s, solver: {', '.join(self.solvers)})"
        if self.failures:
            tail += "; failed: " + ", ".join(self.failed_parts)
        lines.append(tail)
        return "\n".join(lines) + "\n"


def _first_difference(stored: str, derived: str) -> str:
    a, b = stored.splitlines(), derived.splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False), 1):
        if x != y:
            return f"line {i}: stored `{_clip(x)}`, re-derived `{_clip(y)}`"
    return f"stored text has {len(a)} lines, re-derived {len(b)}"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _examples(names: Iterable[str], limit: int = 5) -> str:
    items = sorted(names)
    shown = ", ".join(f"`{n}`" for n in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _check_catalog(
    cert: Certificate, catalog: Catalog, report: CertificateReport
) -> Catalog | None:
    """Compare the catalog with the certificate's; return the catalog to check against,
    or None when no check can go on."""
    rec = cert.catalog
    listed = [m for p in cert.partitions for c in p.classes for m in c.members]
    if catalog.digest == rec.digest:
        info = catalog.info()
        if (info["actions"], info["services"]) != (rec.actions, rec.services):
            report.fail(
                "catalog",
                f"the certificate says {rec.actions:,} actions in {rec.services:,} services; "
                f"the catalog with digest `{rec.digest}` has {info['actions']:,} actions in "
                f"{info['services']:,} services",
            )
        else:
            report.ok(
                "catalog",
                f"{catalog.source} {catalog.version} `{catalog.digest}` "
                f"({len(catalog):,} actions)".replace("  ", " "),
            )
        return catalog
    theirs = {ascii_lower(m) for m in listed}
    message = (
        f"this catalog ({catalog.source} {catalog.version}, `{catalog.digest}`, "
        f"{len(catalog):,} actions) differs from the certificate's ({rec.source} "
        f"{rec.version}, `{rec.digest}`, {rec.actions:,} actions)"
    )
    if not listed or digest_of(listed) != rec.digest:
        report.fail(
            "catalog",
            message + "; the certificate does not list its catalog's "
            "actions, so nothing else can be checked",
        )
        return None
    mine = set(catalog.lower_names)
    added, removed = mine - theirs, theirs - mine
    message += f": {len(added):,} action(s) added"
    if added:
        message += f" ({_examples(catalog.by_lower[a] for a in added)})"
    message += f", {len(removed):,} removed"
    if removed:
        message += f" ({_examples(removed)})"
    refined = cert.inputs.refined
    if refined is not None and added:
        hits = [catalog.by_lower[a] for a in _newly_allowed(refined.document, added)]
        if hits:
            message += (
                f"; the refined policy's patterns match {len(hits)} of the added actions "
                f"({_examples(hits)}): re-run `iamrefine refine` with this catalog"
            )
    message += "; the other checks use the certificate's own catalog"
    report.fail("catalog", message)
    return Catalog.from_names(listed, source=rec.source, version=rec.version)


def _newly_allowed(document: dict[str, Any], added: set[str]) -> list[str]:
    """The added actions that some Allow statement of the refined document names by its
    action element (read leniently: the document is checked later)."""
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    hits = set()
    for st in statements if isinstance(statements, list) else []:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        for key, negate in (("Action", False), ("NotAction", True)):
            values = st.get(key)
            if values is None:
                continue
            values = [values] if isinstance(values, str) else values
            pats = [v for v in values if isinstance(v, str)]
            for a in added:
                if any(action_matches(p, a) for p in pats) != negate:
                    hits.add(a)
    return sorted(hits)


def _read_policy(
    embedded: EmbeddedPolicy, part: str, source: str, report: CertificateReport
) -> Policy:
    from iamrefine.errors import PolicyError
    from iamrefine.parse import policy_from_json

    text = canonical_json(embedded.document)
    digest = sha256_text(text)
    if digest != embedded.sha256:
        report.fail(
            part,
            f"sha256 of the embedded policy is `{digest}`, the certificate "
            f"records `{embedded.sha256}`",
        )
    try:
        policy = policy_from_json(embedded.document, f"{source}: {part}")
    except PolicyError as exc:
        raise CertificateError(
            [Diagnostic(source, None, None, f"{part}: {d.message}") for d in exc.diagnostics]
        ) from None
    again = canonical_policy(policy)[1]
    if again != text:
        report.fail(
            part, "the embedded policy is not in canonical form: " + _first_difference(text, again)
        )
    elif digest == embedded.sha256:
        report.ok(part, f"`{digest}` ({len(policy.statements)} statement(s))")
    return policy


def _read_unused(cert: Certificate, catalog: Catalog, report: CertificateReport) -> UnusedSet:
    from iamrefine.unused import UnusedSet

    emb = cert.inputs.unused
    digest = sha256_text(canonical_json(emb.actions))
    good = True
    if digest != emb.sha256:
        good = False
        report.fail(
            "unused set",
            f"sha256 of the embedded unused set is `{digest}`, the "
            f"certificate records `{emb.sha256}`",
        )
    lowered = [ascii_lower(a) for a in emb.actions]
    if lowered != sorted(set(lowered)):
        good = False
        report.fail(
            "unused set", "the unused actions are not sorted by lowercase name without duplicates"
        )
    unknown = [a for a in emb.actions if a not in catalog]
    if unknown:
        good = False
        report.fail(
            "unused set",
            f"{len(unknown)} unused action(s) are not in the catalog: {_examples(unknown)}",
        )
    if good:
        report.ok("unused set", f"`{digest}` ({len(emb.actions)} actions)")
    names = frozenset(a for a in lowered if a in catalog.by_lower)
    return UnusedSet(names, "<certificate unused set>")


def _check_least_general(
    witnesses: Sequence[Witness],
    original: Policy,
    refined: Policy | None,
    unused: frozenset[str],
    catalog: Catalog,
    statement_origin: Sequence[int],
) -> list[str]:
    """Problems with the least-generality claim (none: it holds).

    Every pattern of a refined Allow statement with Action that is not a value of the
    original statement it came from must have a witness, and every witness must hold:
    its original pattern is a value of that Action statement; the pattern is in the
    refined statement, is contained in the original pattern (over all strings), is
    safe (every catalog action it matches is matched by the original pattern and not
    unused), and is strictly contained in its parent; the witness is a catalog action
    that the parent matches and that is unused or not matched by the original pattern.
    """
    problems: list[str] = []
    stmts = original.statements
    new_stmts = refined.statements if refined is not None else []
    refined_of: dict[int, set[str]] = {}
    witnessed = {(w.statement, ascii_lower(w.pattern)) for w in witnesses}
    broken: set[int] = set()
    # Origins and frames are checked by structure_problems, which this claim presupposes;
    # here a statement that breaks them only has its witnesses left unchecked.
    for j, (i, st) in enumerate(zip(statement_origin, new_stmts, strict=False)):
        if not 0 <= i < len(stmts):
            continue
        old = stmts[i]
        if not same_frame(old, st):
            broken.add(i)
            continue
        if not (st.is_allow and st.action is not None and old.action is not None):
            continue
        refined_of[i] = {ascii_lower(p) for p in st.action.values}
        kept = set(old.action.values)
        for p in st.action.values:
            if p in kept:
                continue
            if (i, ascii_lower(p)) not in witnessed:
                problems.append(
                    f"generated pattern `{p}` of refined Statement[{j}] has no "
                    f"least-generality witness"
                )
    for w in witnesses:
        where = f"witness for `{w.pattern}`"
        if w.statement >= len(stmts):
            problems.append(f"{where}: original Statement[{w.statement}] does not exist")
            continue
        old = stmts[w.statement]
        if not old.is_allow or old.action is None or w.original not in old.action.values:
            problems.append(
                f"{where}: `{w.original}` is not an Action pattern of Allow "
                f"Statement[{w.statement}] of the original policy"
            )
            continue
        if w.statement in refined_of:
            if ascii_lower(w.pattern) not in refined_of[w.statement]:
                problems.append(f"{where}: the pattern is not in the refined statement")
        elif w.statement not in broken:
            problems.append(
                f"{where}: original Statement[{w.statement}] has no refined Allow statement "
                "with Action"
            )
        escape = glob_counterexample(w.pattern, w.original)
        if escape is not None:
            problems.append(
                f"{where}: the pattern is not contained in `{w.original}` (it matches `{escape}`)"
            )
        bad = [
            a
            for a in expand(catalog, w.pattern)
            if a in unused or not action_matches(w.original, a)
        ]
        if bad:
            problems.append(
                f"{where}: the pattern is not safe: it matches "
                f"{_examples(catalog.by_lower[a] for a in bad)}"
            )
        if not glob_included(w.pattern, w.parent):
            problems.append(f"{where}: the pattern is not contained in its parent `{w.parent}`")
        elif glob_included(w.parent, w.pattern):
            problems.append(f"{where}: the parent `{w.parent}` is no more general than the pattern")
        if w.witness not in catalog:
            problems.append(f"{where}: `{w.witness}` is not a catalog action")
            continue
        if not action_matches(w.parent, w.witness):
            problems.append(f"{where}: the parent `{w.parent}` does not match `{w.witness}`")
            continue
        in_original = action_matches(w.original, w.witness)
        if in_original and ascii_lower(w.witness) not in unused:
            problems.append(
                f"{where}: `{w.witness}` is neither unused nor outside "
                f"`{w.original}`, so it does not show that `{w.parent}` is unsafe"
            )
            continue
        reason = "unused" if in_original else "not allowed"
        if reason != w.reason:
            problems.append(
                f"{where}: the recorded reason is `{w.reason}`, but `{w.witness}` is `{reason}`"
            )
    return problems


Sig = tuple[tuple[int, ...], tuple[int, ...], bool]


class _Signatures:
    """Each catalog action's signature, computed with the concrete matcher: for each
    policy, the statements whose action element matches the action, and whether it is
    unused. Actions that no pattern matches and that are not unused all share one
    signature (the NotAction statements), so only the others are stored."""

    def __init__(
        self, catalog: Catalog, policies: Sequence[Policy | None], unused: frozenset[str]
    ) -> None:
        self.catalog = catalog
        hits: list[list[tuple[int, set[str], bool]]] = []
        touched: set[str] = set(unused)
        for policy in policies:
            rows = []
            for si, st in enumerate(policy.statements if policy is not None else []):
                hit: set[str] = set()
                for p in st.action_element.values:
                    hit.update(catalog.expand(p))
                touched |= hit
                rows.append((si, hit, st.uses_not_action))
            hits.append(rows)
        self._hits = hits
        self.default: Sig = (
            tuple(si for si, _, neg in hits[0] if neg),
            tuple(si for si, _, neg in hits[1] if neg),
            False,
        )
        self.touched = {name: self._compute(name, unused) for name in touched}

    def _compute(self, name: str, unused: frozenset[str]) -> Sig:
        a, b = (tuple(si for si, hit, neg in rows if (name in hit) != neg) for rows in self._hits)
        return (a, b, name in unused)

    def get(self, name: str) -> Sig | None:
        """The signature of lowercase ``name``, None when it is not a catalog action."""
        if name not in self.catalog.by_lower:
            return None
        return self.touched.get(name, self.default)


def _check_partition(
    pi: int, record: PartitionRecord, catalog: Catalog, signatures: _Signatures
) -> list[str]:
    """Problems with partition ``pi`` (none: every catalog action is in exactly one
    class, and every member has its class's signature)."""
    problems: list[str] = []
    where = f"partition {pi}"
    seen: dict[str, int] = {}
    covered = 0
    for k, cls in enumerate(record.classes):
        if cls.index != k:
            problems.append(f"{where}: class {k} is numbered {cls.index}")
        if not cls.members:
            problems.append(f"{where}: class {k} is empty")
        want = (tuple(cls.signature.original), tuple(cls.signature.refined), cls.signature.unused)
        wrong = []
        for m in cls.members:
            low = m.lower() if m.isascii() else ascii_lower(m)
            if low in seen:
                problems.append(f"{where}: `{m}` is in class {seen[low]} and class {k}")
                continue
            seen[low] = k
            sig = signatures.get(low)
            if sig is None:
                problems.append(f"{where}: class {k} member `{m}` is not a catalog action")
                continue
            covered += 1
            if sig != want:
                wrong.append((m, sig))
        if wrong:
            m, sig = wrong[0]
            problems.append(
                f"{where}: {len(wrong)} member(s) of class {k} do not have its signature "
                f"(original {list(want[0])}, refined {list(want[1])}, unused {want[2]}); "
                f"e.g. `{m}` has original {list(sig[0])}, refined {list(sig[1])}, "
                f"unused {sig[2]}"
            )
    if covered != len(catalog):
        missing = [catalog.by_lower[n] for n in catalog.lower_names if n not in seen]
        problems.append(
            f"{where}: {len(missing)} catalog action(s) are in no class: {_examples(missing)}"
        )
    return problems


def _solve_texts(
    cert: Certificate, solvers: Sequence[str], timeout: float, report: CertificateReport
) -> dict[int, bool | None]:
    """Run the stored text of every obligation the proof rests on (role ``proof``,
    recorded as unsat) through each solver; map each such obligation's index to True
    (every solver answers unsat), False (some solver answers sat) or None (undecided)."""
    from iamrefine import solver

    proof = [ob for ob in cert.obligations if ob.role == "proof" and ob.status == "unsat"]
    answers: dict[str, dict[int, str]] = {}
    for name in solvers:
        start = time.perf_counter()
        part = f"solver {name}"
        mine = answers.setdefault(name, {})
        for ob in proof:
            answer = solver.solve_smtlib(ob.smtlib, name, timeout=timeout)
            mine[ob.index] = answer.status
            if answer.status == "sat":
                report.fail(
                    part,
                    f"obligation {ob.index} `{ob.name}` is satisfiable: its part of "
                    f"`{ob.claim}` does not hold",
                )
            elif answer.status != "unsat":
                report.undecided(part, f"obligation {ob.index} `{ob.name}`: {answer.reason}")
        if all(v == "unsat" for v in mine.values()):
            report.ok(
                part,
                f"{len(mine)} proof obligation(s) unsat ({time.perf_counter() - start:.2f} s)",
            )
    out: dict[int, bool | None] = {}
    for ob in proof:
        states = {answers[name][ob.index] for name in solvers}
        if {"sat", "unsat"} <= states:
            report.fail(
                "solvers",
                f"obligation {ob.index} `{ob.name}`: "
                + ", ".join(f"{n} answers {answers[n][ob.index]}" for n in solvers),
            )
        out[ob.index] = False if "sat" in states else (True if states == {"unsat"} else None)
    return out


def _obligation_diffs(mine: ObligationRecord, theirs: Obligation) -> list[str]:
    diffs = [
        f"{key} `{getattr(mine, key)}` where the inputs give `{value}`"
        for key, value in (
            ("name", theirs.name),
            ("claim", theirs.claim),
            ("kind", theirs.kind),
            ("role", theirs.role),
            ("premise", theirs.premise),
        )
        if getattr(mine, key) != value
    ]
    # An answer the verifier's solver could not reach is not a difference: it leaves
    # the re-derived claim undecided instead.
    if mine.status != theirs.status and theirs.status != "unknown":
        diffs.append(f"status `{mine.status}` where the inputs give `{theirs.status}`")
    if (mine.partition is None) != (theirs.partition is None):
        diffs.append(
            "a partition where the inputs give none"
            if mine.partition is not None
            else "no partition where the inputs give one"
        )
    return diffs


def _by_claim(items: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in items:
        out.setdefault(item.claim, []).append(item)
    return out


def _compare_obligations(
    stored: Sequence[ObligationRecord],
    derived: Sequence[Obligation],
    undecided: Iterable[str],
    report: CertificateReport,
) -> dict[int, Partition]:
    """Compare the stored obligations with the re-derived ones, claim by claim; return
    the re-derived partition of each stored partition index that a matching obligation
    uses.

    Which query the checker asks next depends on the answers to the earlier ones, so a
    claim whose re-derivation is UNKNOWN (the verifier's solver left some query
    undecided, as under a tiny ``--timeout``) may have taken another path: a difference
    in its obligations makes the check undecided (exit 3, never VALID), not failed.
    Every other claim's obligations must be identical."""
    partitions: dict[int, Partition] = {}
    unsure = set(undecided)
    bad = 0
    for k, mine in enumerate(stored):
        if mine.index != k:
            bad += 1
            report.fail("obligations", f"obligation {k} `{mine.name}` has number {mine.index}")
    stored_claims = list(dict.fromkeys(o.claim for o in stored))
    derived_claims = list(dict.fromkeys(o.claim for o in derived))
    runs = [c for i, c in enumerate(o.claim for o in stored) if i == 0 or stored[i - 1].claim != c]
    shared = [c for c in derived_claims if c in stored_claims]
    if runs != stored_claims or [c for c in stored_claims if c in derived_claims] != shared:
        bad += 1
        report.fail(
            "obligations",
            f"the certificate's obligations are ordered by claim as {runs}; the inputs give "
            f"{derived_claims}",
        )
    mine_of, theirs_of = _by_claim(stored), _by_claim(derived)
    undecided_claims = 0
    for claim in [*derived_claims, *(c for c in stored_claims if c not in theirs_of)]:
        ours, theirs_list = mine_of.get(claim, []), theirs_of.get(claim, [])
        problems: list[str] = []
        if len(ours) != len(theirs_list):
            problems.append(
                f"the certificate lists {len(ours)} obligation(s) of `{claim}`; the inputs "
                f"give {len(theirs_list)}"
            )
        for mine, theirs in zip(ours, theirs_list, strict=False):
            where = f"obligation {mine.index} `{mine.name}`"
            diffs = _obligation_diffs(mine, theirs)
            text = theirs.smtlib()
            if not diffs and mine.smtlib != text:
                problems.append(
                    f"{where}: the stored SMT-LIB text differs from the text re-derived from "
                    "the inputs: " + _first_difference(mine.smtlib, text)
                )
                continue
            if not diffs and mine.partition is not None and theirs.partition is not None:
                # Stored partition numbers must name the re-derived partitions one to one.
                known = partitions.setdefault(mine.partition, theirs.partition)
                if known is not theirs.partition or any(
                    q is theirs.partition and n != mine.partition for n, q in partitions.items()
                ):
                    diffs.append(
                        f"partition {mine.partition}, which another obligation built on a "
                        "different partition also names (or the other way round)"
                    )
            if diffs:
                problems.append(f"{where} has " + "; ".join(diffs))
        if not problems:
            continue
        if claim in unsure:
            undecided_claims += 1
            report.undecided(
                "obligations",
                f"`{claim}` was not decided in the time budget, so its re-derivation may "
                f"have taken another path: {len(problems)} difference(s), e.g. "
                f"{_clip(problems[0], 160)}; a larger --timeout decides it",
            )
            continue
        bad += len(problems)
        for message in problems:
            report.fail("obligations", message)
    if not bad and not undecided_claims:
        report.ok(
            "obligations",
            f"{len(stored)} re-derived from the inputs; the stored SMT-LIB text is identical",
        )
    return partitions


def check_certificate(
    cert: Certificate,
    catalog: Catalog,
    *,
    solvers: Sequence[str] = ("z3",),
    timeout: float | None = None,
    source: str = "<certificate>",
) -> CertificateReport:
    """Check ``cert`` against ``catalog``, trusting nothing in it but its inputs.

    ``solvers`` are the engines that re-decide every stored obligation (``z3``,
    ``cvc5`` or both, which must then agree); ``timeout`` is each query's budget in
    seconds (default: the certificate's). Raises :class:`CertificateError` when an
    embedded policy is not a valid policy.
    """
    from iamrefine.verify import Verdict, verify_refinement

    for name in solvers:
        if name not in SOLVERS:
            raise ValueError(f"unknown solver `{name}`; expected one of {', '.join(SOLVERS)}")
    from iamrefine.solver import ENGINES

    if cert.refinement.engine not in ENGINES:
        raise CertificateError(
            [
                Diagnostic(
                    source,
                    None,
                    None,
                    f"`refinement.engine`: unknown engine `{cert.refinement.engine}`; "
                    f"expected one of {', '.join(ENGINES)}",
                )
            ]
        )
    start = time.perf_counter()
    report = CertificateReport(source, tuple(solvers))
    budget = timeout if timeout is not None else cert.refinement.timeout

    use = _check_catalog(cert, catalog, report)
    if use is None:
        report.seconds = time.perf_counter() - start
        return report

    original = _read_policy(cert.inputs.original, "original policy", source, report)
    unused = _read_unused(cert, use, report)
    refined = None
    if cert.inputs.refined is not None:
        refined = _read_policy(cert.inputs.refined, "refined policy", source, report)
    else:
        report.ok("refined policy", "none: the policy is to be detached")

    # Re-derive every obligation from the inputs; the hints only steer the queries.
    derived = verify_refinement(
        original,
        refined,
        unused,
        use,
        provenance=[(o.statement, o.pattern, o.origin) for o in cert.refinement.pattern_origins],
        statement_origin=list(cert.refinement.statement_origin),
        timeout=budget,
        engine=cert.refinement.engine,
    )
    stored = cert.obligations
    derived_partitions = _compare_obligations(
        stored,
        derived.obligations,
        [c.name for c in derived.claims if c.verdict is Verdict.UNKNOWN],
        report,
    )

    decided = _solve_texts(cert, solvers, budget, report)

    # The class partitions: independently, then against the re-derived ones.
    used = {o.partition for o in stored if o.partition is not None}
    for pi in sorted(used):
        if pi >= len(cert.partitions):
            report.fail(
                "class partition",
                f"an obligation names partition {pi}, which the certificate does not list",
            )
    if cert.partitions:
        signatures = _Signatures(use, [original, refined], unused.actions)
        for pi, record in enumerate(cert.partitions):
            problems = _check_partition(pi, record, use, signatures)
            for p in problems[:10]:
                report.fail("class partition", p)
            if pi not in used:
                report.fail("class partition", f"partition {pi} is used by no obligation")
            again = derived_partitions.get(pi)
            if again is not None and again.to_json(use) != _rows(record):
                report.fail(
                    "class partition",
                    f"partition {pi} differs from the partition re-derived from the inputs",
                )
            if not problems:
                report.ok(
                    "class partition",
                    f"partition {pi}: {len(record.classes)} classes "
                    f"cover the {len(use):,} catalog actions; every member has its "
                    f"class's signature",
                )

    # The structure: the refined policy is the original with only Allow statements'
    # action elements changed, or Allow statements dropped whose actions are all unused.
    st_start = time.perf_counter()
    hints = [(o.statement, o.pattern, o.origin) for o in cert.refinement.pattern_origins]
    shape = structure_problems(
        original, refined, unused.actions, use, cert.refinement.statement_origin, hints
    )
    for p in shape[:20]:
        report.fail("structure", p)
    if len(shape) > 20:
        report.fail("structure", f"and {len(shape) - 20} more problem(s)")
    if not shape:
        report.ok(
            "structure",
            "only Allow statements' action elements differ, every Deny statement is kept, "
            f"and the refinement is exact by structure ({time.perf_counter() - st_start:.2f} s)",
        )

    # Least generality (it presupposes the structure).
    lg_start = time.perf_counter()
    problems = _check_least_general(
        cert.least_general,
        original,
        refined,
        unused.actions,
        use,
        cert.refinement.statement_origin,
    )
    lg_seconds = time.perf_counter() - lg_start
    for p in problems[:20]:
        report.fail("least generality", p)
    if len(problems) > 20:
        report.fail("least generality", f"and {len(problems) - 20} more problem(s)")
    if not problems:
        report.ok(
            "least generality", f"{len(cert.least_general)} witness(es) hold ({lg_seconds:.2f} s)"
        )

    # The claims: recorded verdicts, obligation lists and the re-derived verdicts.
    names = [c.name for c in cert.claims]
    expected = [c.name for c in derived.claims] + [LEAST_GENERAL_CLAIM]
    if names != expected:
        report.fail("claims", f"the certificate's claims are {names}; expected {expected}")
    for c in cert.claims:
        if c.verdict != "PROVED":
            report.fail(
                "claims",
                f"the certificate records `{c.name}` as {c.verdict}"
                + (f": {c.reason}" if c.reason else ""),
            )
        want = [o.index for o in stored if o.claim == c.name]
        if c.obligations != want:
            report.fail(
                "claims",
                f"`{c.name}` lists obligations {c.obligations}; the "
                f"certificate's obligations of that claim are {want}",
            )
    for result in derived.claims:
        ids = [o.index for o in stored if o.claim == result.name]
        verdict = result.verdict.value
        if result.verdict is Verdict.PROVED and ids:
            states = [decided[i] for i in ids if i in decided]
            if False in states:
                verdict = "REFUTED"
            elif None in states:
                verdict = "UNKNOWN"
        report.claims[result.name] = verdict
        if result.verdict is Verdict.REFUTED:
            cex = result.counterexample
            report.fail(
                "claims",
                f"`{result.name}` does not hold for the inputs"
                + (f": {cex.message}" if cex is not None else ""),
            )
        elif result.verdict is Verdict.UNKNOWN:
            report.undecided("claims", f"`{result.name}`: {result.reason}")
    report.claims[LEAST_GENERAL_CLAIM] = "REFUTED" if problems or shape else "PROVED"
    if not report.failures and all(v == "PROVED" for v in report.claims.values()):
        report.ok(
            "claims", f"the {len(report.claims)} claims are recorded and re-derived as PROVED"
        )
    report.seconds = time.perf_counter() - start
    return report


def _rows(record: PartitionRecord) -> list[dict[str, Any]]:
    """The partition in the layout of :meth:`iamrefine.encode.Partition.to_json`."""
    return [
        {
            "index": c.index,
            "members": list(c.members),
            "signature": {
                LABELS[0]: list(c.signature.original),
                LABELS[1]: list(c.signature.refined),
                "unused": c.signature.unused,
            },
        }
        for c in record.classes
    ]


def verify_certificate(
    path: str | Path,
    *,
    catalog: Catalog | None = None,
    solvers: Sequence[str] = ("z3",),
    timeout: float | None = None,
) -> CertificateReport:
    """Load the certificate at ``path`` and check it (see :func:`check_certificate`)
    against ``catalog`` (default: the default catalog)."""
    from iamrefine.catalog import load_catalog

    start = time.perf_counter()
    cert = load_certificate(path)
    report = check_certificate(
        cert,
        catalog if catalog is not None else load_catalog(),
        solvers=solvers,
        timeout=timeout,
        source=str(path),
    )
    report.seconds = time.perf_counter() - start
    return report


# --- command line (schema and extraction) ---------------------------------------------------


def _extract(cert_path: str, folder: str) -> list[Path]:
    cert = load_certificate(cert_path)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ob in cert.obligations:
        target = out / f"{ob.index:02d}.smt2"
        target.write_text(ob.smtlib, encoding="utf-8")
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``schema`` prints the JSON Schema; ``extract CERT DIR`` writes each obligation's
    SMT-LIB text to ``DIR/NN.smt2``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["schema"]:
        sys.stdout.write(json.dumps(certificate_schema(), indent=2) + "\n")
        return 0
    if len(args) == 3 and args[0] == "extract":
        try:
            for path in _extract(args[1], args[2]):
                print(path)
        except InputError as exc:
            for d in exc.diagnostics:
                print(d.render(), file=sys.stderr)
            return 2
        return 0
    print("usage: python -m iamrefine.certificate schema | extract CERT.json DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
