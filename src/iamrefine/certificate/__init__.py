"""Proof certificates: a self-contained, versioned JSON record of one refinement and its proof.

A certificate (schema :data:`SCHEMA_VERSION`, published as JSON Schema in
``proofs/schema/certificate.schema.json``) records:

- the iamrefine, Z3 and (when it decided a query) cvc5 versions;
- the catalog's source, version, sha256 digest and size, and with ``embed_catalog``
  its names (compressed); without them, checking needs the catalog it names;
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
- the class partition (each class's members, as ranges of positions in the sorted
  catalog, and its signature) that the catalog obligations are built from.

:func:`check_certificate` trusts nothing but the inputs: it re-parses the embedded
policies and checks their hashes, checks the catalog digest, re-derives every obligation
from the inputs and compares the text, has every proof obligation decided once by each
engine asked for (the re-derivation's own answer on the identical text, or the stored
text decided on its own), re-checks every witness, re-checks the class partition with
the concrete matcher (:mod:`iamrefine.glob`), and re-derives the refinement's structure
(:mod:`iamrefine.structure`: only Allow statements' action elements changed, every Deny
statement kept), which proves the first two claims again without a solver.

The modules, one job each: :mod:`~iamrefine.certificate.schema` (the data model),
:mod:`~iamrefine.certificate.canonical` (canonical texts and digests),
:mod:`~iamrefine.certificate.load` (reading), :mod:`~iamrefine.certificate.build`
(building and writing), :mod:`~iamrefine.certificate.check` (checking, with
:mod:`~iamrefine.certificate.catalogs`, :mod:`~iamrefine.certificate.inputs`,
:mod:`~iamrefine.certificate.obligations`,
:mod:`~iamrefine.certificate.partition` and
:mod:`~iamrefine.certificate.least_general`), :mod:`~iamrefine.certificate.report`
(the findings) and :mod:`~iamrefine.certificate.cli`.

Run ``python -m iamrefine.certificate schema`` to print the JSON Schema and
``python -m iamrefine.certificate extract CERT DIR`` to write each obligation to
``DIR/NN.smt2``.
"""

from __future__ import annotations

from iamrefine.certificate.build import build_certificate, certificate_text, stable_view
from iamrefine.certificate.canonical import canonical_json, canonical_policy, sha256_text
from iamrefine.certificate.check import check_certificate, verify_certificate
from iamrefine.certificate.cli import main
from iamrefine.certificate.load import load_certificate, parse_certificate
from iamrefine.certificate.report import CertificateReport, Finding
from iamrefine.certificate.schema import (
    CATALOG_CLAIM,
    CLAIMS,
    FORMAT,
    LEAST_GENERAL_CLAIM,
    SCHEMA_VERSION,
    STRINGS_CLAIM,
    Certificate,
    certificate_schema,
)
from iamrefine.structure import glob_counterexample, glob_included

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
    "main",
    "parse_certificate",
    "sha256_text",
    "stable_view",
    "verify_certificate",
]
