"""The certificate's data model (schema version :data:`SCHEMA_VERSION`), published as
JSON Schema in ``proofs/schema/certificate.schema.json`` (:func:`certificate_schema`)."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from iamrefine.choices import SolverStatus, Verdict

FORMAT: Final = "iamrefine-certificate"
SCHEMA_VERSION: Final = 2
CATALOG_CLAIM = "exact over the catalog"
STRINGS_CLAIM = "no escalation for any action string"
LEAST_GENERAL_CLAIM = "least general"
CLAIMS = (CATALOG_CLAIM, STRINGS_CLAIM, LEAST_GENERAL_CLAIM)
LABELS = ("original", "refined")
SOLVERS = ("z3", "cvc5")
MAX_CERTIFICATE_BYTES = 256 * 1024 * 1024

Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tools(_Record):
    """Versions of the tools that made the certificate; ``cvc5`` only when it decided a query."""

    iamrefine: str
    z3: str
    cvc5: str | None = None


class EmbeddedCatalog(_Record):
    """The catalog itself, for a certificate that must be checked without it at hand
    (``--embed-catalog``): its action names in the catalog's spelling and order (sorted by
    lowercase name), one per line, UTF-8, gzip-compressed and base64-encoded."""

    encoding: Literal["gzip+base64"] = "gzip+base64"
    names: str


class CatalogRecord(_Record):
    """The action catalog the claims are relative to, named by source, version and
    digest; ``embedded`` holds its names when the certificate carries them. Without them,
    ``verify`` needs the named catalog (the default one, or ``--catalog PATH``) and
    refuses any other."""

    source: str
    version: str
    digest: Digest = Field(description="sha256 of the sorted lowercase names joined by newlines")
    actions: int = Field(ge=0)
    services: int = Field(ge=0)
    embedded: EmbeddedCatalog | None = None


class EmbeddedPolicy(_Record):
    """A policy in canonical form and the sha256 of its canonical text."""

    sha256: Digest
    document: dict[str, Any] = Field(
        description="the policy document; its numbers are written as in the source"
    )


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


Position = Annotated[int, Field(ge=0)]


class ClassRecord(_Record):
    """One class of the partition: catalog actions that no statement tells apart."""

    index: int = Field(ge=0)
    ranges: list[tuple[Position, Position]] = Field(
        description="the members: half-open ranges [start, stop) of positions in the "
        "catalog sorted by lowercase name (the order its digest is taken in), increasing "
        "and not touching"
    )
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
    status: SolverStatus = Field(
        description="the answer when the certificate was made; a claim rests on its "
        "proof obligations that are unsat (one that is not was superseded by a fallback "
        "query)"
    )
    engine: str
    seconds: float = Field(ge=0)
    smtlib: str


class Certificate(_Record):
    """A proof certificate of one refinement (see ``proofs/README.md``)."""

    format: Literal["iamrefine-certificate"] = FORMAT
    schema_version: Literal[2] = SCHEMA_VERSION
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
        return bool(self.claims) and all(c.verdict is Verdict.PROVED for c in self.claims)


def certificate_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Certificate` (what ``proofs/schema/`` publishes)."""
    schema = Certificate.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
