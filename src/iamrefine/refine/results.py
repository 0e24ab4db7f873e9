"""What a refinement returns: the refined policy with, for each pattern it replaced, the
trace of the catalog trie that chose its replacement (:mod:`iamrefine.refine.rules`
builds them; the optimizer, the size fit, the certificate and ``explain`` read them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from iamrefine.errors import Diagnostic
from iamrefine.model import Policy
from iamrefine.refine.trie import Granularity

if TYPE_CHECKING:
    from iamrefine.refine.fit import QuotaReport

Strategy = Literal["patterns", "notaction"]
Rule = Literal["exact", "prefix", "infix", "service", "single"]
NodeKind = Literal["root", "prefix", "exact", "service", "single"]

MANAGED_POLICY_QUOTA = 6144
"""Largest managed policy, in characters other than whitespace."""


@dataclass(slots=True, kw_only=True)
class TraceNode:
    """One node the refinement of a pattern looked at.

    ``pattern`` is the node written as a pattern (``s3:GetAccess*``, an exact name,
    or a sub-pattern such as ``s3:Get*`` from ``*:Get*``); ``actions`` and ``unused``
    count the catalog actions it matches and how many of them are unused. An unsafe
    node has a ``witness``: the first unused catalog action it matches, which is what
    keeps it (and every more general node above it) from being emitted. ``chosen``
    nodes are the emitted patterns; ``emitted`` is their text.
    """

    pattern: str
    parent: int | None
    kind: NodeKind
    safe: bool
    chosen: bool
    actions: int
    unused: int
    witness: str | None
    emitted: str | None = None

    @classmethod
    def kept(
        cls, pattern: str, *, parent: int | None, kind: NodeKind, actions: int, emitted: str
    ) -> TraceNode:
        """A safe node, emitted as ``emitted`` (it matches no unused action)."""
        return cls(
            pattern=pattern,
            parent=parent,
            kind=kind,
            safe=True,
            chosen=True,
            actions=actions,
            unused=0,
            witness=None,
            emitted=emitted,
        )

    @classmethod
    def unsafe(
        cls,
        pattern: str,
        *,
        parent: int | None,
        kind: NodeKind,
        actions: int,
        unused: int,
        witness: str,
    ) -> TraceNode:
        """A node matching ``unused`` unused actions, the first of them ``witness``."""
        return cls(
            pattern=pattern,
            parent=parent,
            kind=kind,
            safe=False,
            chosen=False,
            actions=actions,
            unused=unused,
            witness=witness,
        )


@dataclass(slots=True)
class PatternTrace:
    """How one original pattern was refined: the rule used and the nodes visited.

    ``nodes[0]`` is the root (the original pattern itself); every other node's
    ``parent`` indexes into ``nodes``.
    """

    statement_index: int
    value_index: int
    original_pattern: str
    rule: Rule
    nodes: list[TraceNode]

    def chosen(self) -> list[TraceNode]:
        """The emitted nodes, in visiting order."""
        return [n for n in self.nodes if n.chosen]

    def least_generality(self) -> list[tuple[str, str, str]]:
        """For each emitted pattern: ``(pattern, parent pattern, witness)``, where the
        witness is an unused catalog action that the parent matches, so the parent
        (the next more general candidate) could not have been emitted."""
        out: list[tuple[str, str, str]] = []
        for node in self.nodes:
            if node.chosen and node.parent is not None:
                parent = self.nodes[node.parent]
                assert parent.witness is not None and node.emitted is not None
                out.append((node.emitted, parent.pattern, parent.witness))
        return out


@dataclass(frozen=True, slots=True)
class Replacement:
    """Pattern ``original_pattern`` (value ``value_index`` of original statement
    ``statement_index``) was replaced by ``new_patterns`` (possibly none)."""

    statement_index: int
    value_index: int
    original_pattern: str
    new_patterns: tuple[str, ...]
    trace: PatternTrace

    @property
    def origins(self) -> list[tuple[str, str]]:
        """``(new pattern, origin)`` pairs: every new pattern is contained in the
        original pattern over all strings."""
        return [(p, self.original_pattern) for p in self.new_patterns]


@dataclass(frozen=True, slots=True)
class NotActionChange:
    """Unused actions ``added`` to the NotAction of original statement
    ``statement_index``; ``from_action`` when the statement's ``Action: "*"`` was
    rewritten as NotAction (``strategy="notaction"``)."""

    statement_index: int
    added: tuple[str, ...]
    from_action: bool = False


@dataclass
class RefineResult:
    """The outcome of :func:`refine_policy`.

    ``statement_origin[j]`` is the index in ``original`` of the statement that new
    statement ``j`` came from. ``pattern_origins`` lists ``(original statement index,
    new pattern, origin pattern)`` for every pattern of every new Allow statement
    with Action (kept patterns are their own origin).
    """

    original: Policy
    policy: Policy | None
    recommended_action: Literal["CREATE_POLICY", "DETACH_POLICY"]
    warnings: list[Diagnostic]
    changed: bool
    statement_origin: list[int]
    replacements: list[Replacement]
    pattern_origins: list[tuple[int, str, str]]
    notaction_changes: list[NotActionChange]
    catalog: dict[str, object]
    granularity: Granularity
    strategy: Strategy
    size: int | None = None
    unused_count: int = 0
    traces: list[PatternTrace] = field(default_factory=list)
    quota: QuotaReport | None = None
    parts: list[list[int]] = field(default_factory=list)
    """When the result is split into several managed policies: the indices into
    ``policy.statements`` of each one's statements (``policy`` is their concatenation,
    which is what the checker proves). Empty for a single policy."""
    unsplit: tuple[Policy, list[int]] | None = None
    """When split: the policy before the split and its statement origins."""

    @property
    def detached(self) -> bool:
        """Is the recommendation to detach the policy (no statement left)?"""
        return self.policy is None

    @property
    def policies(self) -> list[Policy]:
        """The managed policies to create: ``policy`` alone, or its parts."""
        if self.policy is None:
            return []
        if not self.parts:
            return [self.policy]
        stmts = self.policy.statements
        return [
            self.policy.model_copy(update={"statements": [stmts[k] for k in part]})
            for part in self.parts
        ]
