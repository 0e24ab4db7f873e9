"""The checker's public names, kept importable from ``iamrefine.verify``; the checker
itself lives in the package :mod:`iamrefine.prove`."""

from iamrefine.prove import (
    CATALOG_CLAIM,
    CLASS_CHUNK,
    STRINGS_CLAIM,
    CheckReport,
    ClaimResult,
    Counterexample,
    Obligation,
    UnrealizableModel,
    Verdict,
    class_chunks,
    obligations,
    verify_equivalence,
    verify_refinement,
    verify_result,
)

__all__ = [
    "CATALOG_CLAIM",
    "CLASS_CHUNK",
    "STRINGS_CLAIM",
    "CheckReport",
    "ClaimResult",
    "Counterexample",
    "Obligation",
    "UnrealizableModel",
    "Verdict",
    "class_chunks",
    "obligations",
    "verify_equivalence",
    "verify_refinement",
    "verify_result",
]
