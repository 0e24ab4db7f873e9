"""The named choices shared by the library API and every CLI command.

One vocabulary: ``--engine`` means the same in ``refine``, ``check``, ``equiv`` and
``verify``; the granularity, strategy and output format are the same values in
:func:`iamrefine.refine_and_prove` as on the command line. This module imports
nothing heavy, so that the CLI can build its options before any work starts.
"""

from __future__ import annotations

from enum import StrEnum


class EngineName(StrEnum):
    """Which solver decides each query.

    ``auto``: Z3 on a fixed amount of work, then cvc5 (when installed), then Z3 again;
    ``z3`` or ``cvc5`` alone; ``both``: both engines on every query, and they must agree
    (a disagreement is an internal error).
    """

    auto = "auto"
    z3 = "z3"
    cvc5 = "cvc5"
    both = "both"


class Granularity(StrEnum):
    """Trie nodes at CamelCase word boundaries (``word``) or at every character."""

    word = "word"
    char = "char"


class Strategy(StrEnum):
    """``patterns`` keeps every statement's Action form; ``notaction`` writes a
    statement whose Action is ``*`` as NotAction of the unused actions; ``auto`` is
    ``patterns`` unless no split into the allowed number of managed policies holds its
    result and the policy has an Allow statement whose Action is ``*``: then
    ``notaction``, when that fits (a note says so)."""

    auto = "auto"
    patterns = "patterns"
    notaction = "notaction"


class Optimize(StrEnum):
    """When the size optimizer rewrites replaced patterns: ``auto`` when the readable
    refinement is over the managed-policy quota, ``size`` always, ``readable`` never
    (a policy over the quota only gets a warning)."""

    auto = "auto"
    size = "size"
    readable = "readable"


class OutputFormat(StrEnum):
    """What ``refine`` prints: the policy, a unified diff, or an Access Analyzer style
    recommendation."""

    policy = "policy"
    diff = "diff"
    recommendation = "recommendation"


class Verdict(StrEnum):
    """A claim's verdict. PROVED: every query unsat. REFUTED: a replayed counterexample.
    UNKNOWN: otherwise."""

    PROVED = "PROVED"
    REFUTED = "REFUTED"
    UNKNOWN = "UNKNOWN"


class SolverStatus(StrEnum):
    """An engine's answer on one query: ``unsat`` (the property holds), ``sat`` (a model)
    or ``unknown``. Certificates record it by its value."""

    SAT = "sat"
    UNSAT = "unsat"
    UNKNOWN = "unknown"


DEFAULT_TIMEOUT = 30.0
"""The solver's time budget of each claim, in seconds (``--timeout`` everywhere)."""
