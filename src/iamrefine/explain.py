"""Explanations of a refinement: why each replaced pattern became what it became.

For every replaced pattern the refinement trace (:class:`iamrefine.refine.PatternTrace`)
records the trie nodes that were looked at: unsafe nodes, each with a *witness* (an
unused catalog action it matches, which is why it could not be kept), and safe nodes,
of which the emitted ones are *chosen*. This module renders those traces as text, as a
Graphviz DOT graph, and as an SVG drawing made here in pure Python (safe nodes green,
unsafe orange, chosen nodes outlined), laid out as a left-to-right tidy tree: each
leaf gets its own row and each parent is centred on its children, so nothing overlaps.

A chain of unsafe nodes that all match the same actions (common with character
granularity, as in ``s3:GetB*`` … ``s3:GetBucket*``) is shown as its last node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

from iamrefine.glob import ascii_lower, literal_prefix

if TYPE_CHECKING:
    from iamrefine.refine import PatternTrace, RefineResult, TraceNode

_RULES = {
    "exact": "exact name",
    "prefix": "shortest safe prefixes",
    "infix": "safe nodes s*R under the literal prefix",
    "service": "one sub-pattern per service",
    "single": "one sub-pattern per character at the `?`",
}


@dataclass
class _Shown:
    """A node as displayed: the trace node and its displayed children."""

    index: int
    node: TraceNode
    children: list[_Shown] = field(default_factory=list)


def _display_tree(trace: PatternTrace) -> _Shown:
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

    def build(i: int) -> _Shown:
        shown = _Shown(i, trace.nodes[i])
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
    return f"{where}: `{trace.original_pattern}` [{_RULES[trace.rule]}] -> {result_text}"


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
        root = _display_tree(trace)
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


def _text_children(parent: _Shown, indent: str, lines: list[str]) -> None:
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
        root = _display_tree(trace)
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

_FONT = 12
_CHAR_W = 7.3  # advance of a 12px monospace character
_ROW = 40
_BOX_H = 30
_PAD_X = 8
_GAP_X = 36
_MARGIN = 16
_TITLE_H = 28


def _label(node: TraceNode, parent: TraceNode | None) -> str:
    """The node's text (for a chosen node, the emitted pattern) beyond its parent's
    literal prefix, marked by a leading ``…``."""
    text = node.emitted if node.chosen and node.emitted else node.pattern
    if parent is None:
        return text
    lit = literal_prefix(parent.pattern)
    if lit and ascii_lower(text).startswith(ascii_lower(lit)) and text[len(lit) :]:
        return "…" + text[len(lit) :]
    return text


def _short_heading(result: RefineResult, trace: PatternTrace) -> str:
    count = next((len(r.new_patterns) for r in result.replacements if r.trace is trace), 0)
    patterns = "1 pattern" if count == 1 else f"{count} patterns"
    return (
        f"statement {trace.statement_index + 1}: {trace.original_pattern} "
        f"({_RULES[trace.rule]}) -> {patterns}"
    )


@dataclass
class _Placed:
    shown: _Shown
    label: str
    sub: str | None
    depth: int
    y: float = 0.0
    x: float = 0.0
    width: float = 0.0


def _layout(root: _Shown) -> tuple[list[_Placed], list[tuple[int, int]], int]:
    """Left-to-right tidy layout: rows for leaves, parents centred on their children."""
    placed: list[_Placed] = []
    edges: list[tuple[int, int]] = []
    row = 0

    def visit(shown: _Shown, parent: TraceNode | None, depth: int) -> int:
        nonlocal row
        node = shown.node
        sub = None if node.safe else f"× {node.witness}"
        me = len(placed)
        placed.append(_Placed(shown, _label(node, parent), sub, depth))
        if not shown.children:
            placed[me].y = row * _ROW
            row += 1
            return me
        kids = [visit(child, node, depth + 1) for child in shown.children]
        for k in kids:
            edges.append((me, k))
        placed[me].y = (placed[kids[0]].y + placed[kids[-1]].y) / 2
        return me

    visit(root, None, 0)
    widths: dict[int, float] = {}
    for p in placed:
        text = max(len(p.label), len(p.sub) if p.sub else 0)
        p.width = text * _CHAR_W + 2 * _PAD_X
        widths[p.depth] = max(widths.get(p.depth, 0.0), p.width)
    column_x: dict[int, float] = {}
    x = 0.0
    for depth in sorted(widths):
        column_x[depth] = x
        x += widths[depth] + _GAP_X
    for p in placed:
        p.x = column_x[p.depth]
    return placed, edges, row


def explain_svg(result: RefineResult) -> str:
    """The explanation trees drawn as one standalone SVG document."""
    parts: list[str] = []
    y0 = float(_MARGIN)
    width = 400.0
    drawn = 0
    for trace in result.traces:
        if trace.rule == "exact":
            continue
        drawn += 1
        placed, edges, rows = _layout(_display_tree(trace))
        title = _short_heading(result, trace)
        parts.append(f'<text x="{_MARGIN}" y="{y0 + 16:.1f}" class="title">{escape(title)}</text>')
        width = max(width, 2 * _MARGIN + len(title) * _CHAR_W * 1.1)
        top = y0 + _TITLE_H
        for a, b in edges:
            pa, pb = placed[a], placed[b]
            x1 = _MARGIN + pa.x + pa.width
            y1 = top + pa.y + _BOX_H / 2
            x2 = _MARGIN + pb.x
            y2 = top + pb.y + _BOX_H / 2
            mid = (x1 + x2) / 2
            parts.append(
                f'<path d="M{x1:.1f},{y1:.1f} H{mid:.1f} V{y2:.1f} H{x2:.1f}" class="edge"/>'
            )
        for p in placed:
            node = p.shown.node
            cls = "safe" if node.safe else "unsafe"
            if node.chosen:
                cls += " chosen"
            bx, by = _MARGIN + p.x, top + p.y
            tip = f"{node.pattern}: {_status(node)}"
            parts.append(
                f'<g class="{cls}"><title>{escape(tip)}</title>'
                f'<rect x="{bx:.1f}" y="{by:.1f}" width="{p.width:.1f}" height="{_BOX_H}" '
                f'rx="6"/>'
            )
            if p.sub is None:
                parts.append(
                    f'<text x="{bx + _PAD_X:.1f}" y="{by + 19:.1f}">{escape(p.label)}</text></g>'
                )
            else:
                parts.append(
                    f'<text x="{bx + _PAD_X:.1f}" y="{by + 13:.1f}">{escape(p.label)}</text>'
                    f'<text x="{bx + _PAD_X:.1f}" y="{by + 25:.1f}" class="why">'
                    f"{escape(p.sub)}</text></g>"
                )
            width = max(width, bx + p.width + _MARGIN)
        y0 = top + rows * _ROW + _MARGIN
    if not drawn:
        parts.append(
            f'<text x="{_MARGIN}" y="{y0 + 16:.1f}" class="title">'
            "nothing to explain: no pattern was refined</text>"
        )
        y0 += _TITLE_H + _MARGIN
    height = y0 + _MARGIN
    style = (
        f"text{{font-family:monospace;font-size:{_FONT}px;fill:#212121}}"
        ".title{font-weight:bold}"
        ".why{font-size:10px;fill:#6d4c41}"
        f".safe rect{{fill:{_SAFE_FILL};stroke:{_SAFE_LINE};stroke-width:1}}"
        f".unsafe rect{{fill:{_UNSAFE_FILL};stroke:{_UNSAFE_LINE};stroke-width:1}}"
        f".chosen rect{{stroke:{_CHOSEN_LINE};stroke-width:3}}"
        ".edge{fill:none;stroke:#9e9e9e;stroke-width:1.2}"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">\n'
        f"<style>{style}</style>\n"
        f'<rect width="100%" height="100%" fill="#ffffff"/>\n' + "\n".join(parts) + "\n</svg>\n"
    )
