"""Refinement: remove unused actions from a policy, keeping patterns as general as is
safe (see :mod:`iamrefine.refine.rules` and ``proofs/REFINEMENT.md``)."""

from iamrefine.refine.engine import (
    MANAGED_POLICY_QUOTA,
    NotActionChange,
    PatternTrace,
    RefineResult,
    Replacement,
    Strategy,
    TraceNode,
    refine_policy,
)
from iamrefine.refine.trie import CatalogIndex, Granularity, catalog_index
from iamrefine.refine.words import split_words, word_boundaries

__all__ = [
    "MANAGED_POLICY_QUOTA",
    "CatalogIndex",
    "Granularity",
    "NotActionChange",
    "PatternTrace",
    "RefineResult",
    "Replacement",
    "Strategy",
    "TraceNode",
    "catalog_index",
    "refine_policy",
    "split_words",
    "word_boundaries",
]
