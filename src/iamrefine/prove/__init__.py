"""Verdicts: does a refined policy do what the refinement promises, and are two policies
equivalent? Each property is split into SMT queries, each *unsat iff its part of the
property holds*; a property is PROVED only when every one of its queries is unsat.

Modules, one job each (as cedar's symcc splits verifier, solver and decoder):

- :mod:`~iamrefine.prove.results`: verdicts, counterexamples, claim results, obligations;
- :mod:`~iamrefine.prove.claim`: running one claim's queries (opaque atoms first, then
  the full condition semantics) and recording each decided query as an obligation;
- :mod:`~iamrefine.prove.catalog_claim` and :mod:`~iamrefine.prove.containment`: the
  builders of the two claims' queries, each *unsat iff its part of the claim holds*;
- :mod:`~iamrefine.prove.decode`: models decoded into requests and replayed;
- :mod:`~iamrefine.prove.checks`: the public checks.

Stages, kept apart:

1. **compile**: :func:`iamrefine.encode.compile_policy` and the class partition;
2. **encode**: each query is a builder that writes its assertions into a fresh
   :class:`~iamrefine.encode.Encoder` (so it can be rebuilt for SMT-LIB export);
3. **verify**: :func:`iamrefine.solver.solve` decides it;
4. **decode**: a ``sat`` model becomes a :class:`Counterexample`, which is replayed
   through :mod:`iamrefine.reference` before anyone sees it. A counterexample that the
   reference evaluator does not confirm raises :class:`~iamrefine.errors.InternalError`.

The claims (see ``proofs/THEOREMS.md``):

- *exact over the catalog*: for every catalog action ``a``, resource ``r`` and context
  ``c``, ``refined(a,r,c) <=> original(a,r,c) and a not in unused``; decided over the
  class partition in two directional queries (``over``: the refined policy allows too
  much; ``under``: it allows too little), each split into chunks of at most
  :data:`CLASS_CHUNK` classes;
- *no escalation for any action string*: ``refined(a,r,c) => original(a,r,c)`` for every
  string ``a``. For a structure-preserving refinement it follows from per-pattern
  containment queries (Theorem 2); otherwise, and whenever a containment query is not
  unsat, one query per refined Allow statement and literal service prefix decides it.

Every time budget is per claim: each query gets what its claim has left.
"""

from iamrefine.prove.catalog_claim import CLASS_CHUNK, class_chunks
from iamrefine.prove.checks import obligations, verify_equivalence, verify_refinement, verify_result
from iamrefine.prove.claim import UnrealizableModel
from iamrefine.prove.results import (
    CATALOG_CLAIM,
    STRINGS_CLAIM,
    CheckReport,
    ClaimResult,
    Counterexample,
    Obligation,
    Verdict,
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
