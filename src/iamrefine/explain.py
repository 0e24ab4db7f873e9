"""Explanations of a refinement: why each replaced pattern became what it became.

For every replaced pattern the refinement trace (:class:`iamrefine.refine.PatternTrace`)
records the trie nodes that were looked at: unsafe nodes, each with a *witness* (an
unused catalog action it matches, which is why it could not be kept), and safe nodes,
of which the emitted ones are *chosen*. This module renders those traces as text and
as a Graphviz DOT graph; :mod:`iamrefine.picture` draws them as SVG.

A chain of unsafe nodes that all match the same actions (common with character
granularity, as in ``s3:GetB*`` … ``s3:GetBucket*``) is shown as its last node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iamrefine.glob import ascii_lower, literal_prefix

if TYPE_CHECKING:
    from iamrefine.refine import PatternTrace, RefineResult, TraceNode

RULES = {
    "exact": "exact name",
    "prefix": "shortest safe prefixes",
    "infix": "safe nodes s*R under the literal prefix",
    "service": "one sub-pattern per service",
    "single": "one sub-pattern per character at the `?`",
}


@dataclass
class Shown:
    """A node as displayed: the trace node and its displayed children."""

    index: int
    node: TraceNode
    children: list[Shown] = field(default_factory=list)


def display_tree(trace: PatternTrace) -> Shown:
    """The trace as a tree, with same-set unsafe chains collapsed to their last node."""
    kids: dict[int, list[int]] = {}
    for i, node in enumerate(trace.nodes):
        if node.parent is not None:
            kids.setdefault(node.parent, []).append(i)

    def skip_chain(i: int) -> int:
        while True:
            node = trace.nodes[i]
            below = kids.get(i, [])
            if node.safe or len(below) != 1 or node.parent is None:
                return i
            child = trace.nodes[below[0]]
            if child.actions != node.actions or child.unused != node.unused or child.safe:
                return i
            i = below[0]

    def build(i: int) -> Shown:
        shown = Shown(i, trace.nodes[i])
        for k in kids.get(i, []):
            shown.children.append(build(skip_chain(k)))
        return shown

    return build(0)


def _status(node: TraceNode) -> str:
    if node.safe:
        chosen = f"chosen as `{node.emitted}`" if node.chosen else "safe"
        return f"safe, {chosen} ({_count(node.actions)})"
    return f"unsafe because of `{node.witness}` ({node.unused} of {_count(node.actions)} unused)"


def _count(n: int) -> str:
    return f"{n} action" if n == 1 else f"{n} actions"


def _heading(result: RefineResult, trace: PatternTrace) -> str:
    statement = result.original.statements[trace.statement_index]
    where = f"statement {trace.statement_index + 1}"
    if statement.sid:
        where += f" (`{statement.sid}`)"
    new = next((r.new_patterns for r in result.replacements if r.trace is trace), ())
    result_text = ", ".join(f"`{p}`" for p in new) if new else "nothing (removed)"
    return f"{where}: `{trace.original_pattern}` [{RULES[trace.rule]}] -> {result_text}"


def explain_text(result: RefineResult) -> str:
    """Every replaced pattern with its tree of unsafe and safe nodes, as text."""
    lines: list[str] = []
    removed: list[str] = []
    for trace in result.traces:
        if trace.rule == "exact":
            removed.append(
                f"statement {trace.statement_index + 1}: `{trace.original_pattern}` "
                "removed (unused)"
            )
            continue
        lines.append(_heading(result, trace))
        root = display_tree(trace)
        lines.append(f"  {root.node.pattern}  {_status(root.node)}")
        _text_children(root, "  ", lines)
        lines.append("")
    for change in result.notaction_changes:
        what = "Action `*` rewritten as NotAction" if change.from_action else "NotAction"
        lines.append(
            f"statement {change.statement_index + 1}: {what} now also excludes "
            + ", ".join(f"`{a}`" for a in change.added)
        )
    if removed:
        lines.extend(removed)
    if not lines:
        lines.append("nothing to explain: the policy grants none of the unused actions")
    if result.detached:
        lines.append("no statement is left: detach the policy")
    return "\n".join(lines).rstrip("\n") + "\n"


def _text_children(parent: Shown, indent: str, lines: list[str]) -> None:
    for k, child in enumerate(parent.children):
        last = k == len(parent.children) - 1
        branch = "`-- " if last else "|-- "
        lines.append(f"{indent}{branch}{child.node.pattern}  {_status(child.node)}")
        _text_children(child, indent + ("    " if last else "|   "), lines)


# --- DOT ---------------------------------------------------------------------------

_SAFE_FILL, _SAFE_LINE = "#c8e6c9", "#2e7d32"
_UNSAFE_FILL, _UNSAFE_LINE = "#ffe0b2", "#e65100"
_CHOSEN_LINE = "#1b3a1d"


def _dot_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def explain_dot(result: RefineResult) -> str:
    """The explanation trees as one Graphviz digraph, a cluster per replaced pattern."""
    out = [
        "digraph refinement {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10];',
    ]
    for t, trace in enumerate(result.traces):
        if trace.rule == "exact":
            continue
        out.append(f"  subgraph cluster_{t} {{")
        out.append(f"    label={_dot_quote(_heading(result, trace))};")
        out.append('    fontname="monospace"; fontsize=10;')
        root = display_tree(trace)
        stack = [root]
        while stack:
            shown = stack.pop()
            node = shown.node
            label = node.pattern if node.safe else f"{node.pattern}\n× {node.witness}"
            fill, line = (_SAFE_FILL, _SAFE_LINE) if node.safe else (_UNSAFE_FILL, _UNSAFE_LINE)
            width = 3 if node.chosen else 1
            if node.chosen:
                line = _CHOSEN_LINE
            out.append(
                f"    n{t}_{shown.index} [label={_dot_quote(label)}, fillcolor={_dot_quote(fill)}, "
                f"color={_dot_quote(line)}, penwidth={width}];"
            )
            for child in shown.children:
                out.append(f"    n{t}_{shown.index} -> n{t}_{child.index};")
            stack.extend(reversed(shown.children))
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


# --- SVG ---------------------------------------------------------------------------


def explain_svg(result: RefineResult) -> str:
    """The explanation trees drawn as one standalone SVG document, with a legend and
    condensed to fit one screen (see :mod:`iamrefine.picture`)."""
    from iamrefine.picture import draw

    return draw(result)


def node_label(node: TraceNode, parent: TraceNode | None) -> str:
    """The node's text (for a chosen node, the emitted pattern) beyond its parent's
    literal prefix, marked by a leading ``…``."""
    text = node.emitted if node.chosen and node.emitted else node.pattern
    if parent is None:
        return text
    lit = literal_prefix(parent.pattern)
    if lit and ascii_lower(text).startswith(ascii_lower(lit)) and text[len(lit) :]:
        return "…" + text[len(lit) :]
    return text
