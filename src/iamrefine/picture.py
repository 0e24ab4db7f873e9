"""The ``explain --svg`` picture: the refinement trees, drawn to fit one screen.

Each replaced pattern gets a left-to-right tree of the trie nodes its refinement
looked at, with a legend on top. Every box shows a count: the actions a kept
pattern matches, or how many of a node's actions are unused. To keep the picture
small the tree is condensed:

- a node whose actions are all unused is one *removed* box, whatever lies below it;
- sibling boxes of the same kind are one counted box: the kept patterns (they hold
  no unused action) and the removed nodes of a parent;
- when the picture still has more than :data:`ROW_BUDGET` rows, the deepest split
  nodes are *folded*: drawn as one dashed box with the counts of what lies below
  (``iamrefine explain`` without ``--svg`` prints every node).

The trees are laid out as tidy trees (each leaf its own row, each parent centred on
its children) and the trees themselves are set in as many columns as make the
picture fit a 1920 x 1080 screen best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING

from iamrefine.explain import RULES, Shown, display_tree, node_label

if TYPE_CHECKING:
    from iamrefine.refine import PatternTrace, RefineResult

ROW_BUDGET = 36
"""Most rows of boxes in the whole picture before split nodes are folded."""

SCREEN = (1920.0, 1080.0)

_FONT = 12
_SMALL = 10
_CHAR_W = 7.3  # advance of a 12px monospace character
_SMALL_W = 6.1
_ROW = 42
_BOX_H = 34
_PAD_X = 8
_GAP_X = 28
_MARGIN = 16
_TITLE_H = 26
_COLUMN_GAP = 40
_LABEL_CHARS = 44
_DETAIL_CHARS = 56

_FILL = {
    "kept": ("#c8e6c9", "#1b5e20"),
    "split": ("#ffe0b2", "#e65100"),
    "removed": ("#eeeeee", "#757575"),
    "folded": ("#fff3e0", "#e65100"),
}
_LEGEND = (
    ("kept", "kept: an emitted pattern, no unused action (count: the actions it matches)"),
    ("split", "split: matches used and unused actions (count: unused of all; × an unused one)"),
    ("removed", "removed: every action it matches is unused"),
    ("folded", "folded: split further below; `iamrefine explain` prints every node"),
)


@dataclass
class Box:
    """One box of the picture: a node, a group of sibling nodes, or a folded subtree."""

    kind: str  # kept, split, removed, folded
    label: str
    detail: str
    tip: str
    children: list[Box] = field(default_factory=list)
    actions: int = 0
    kept_below: int = 0
    depth: int = 0
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0

    def rows(self) -> int:
        return 1 if not self.children else sum(c.rows() for c in self.children)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(labels: list[str], limit: int) -> str:
    """As many of ``labels`` as fit in ``limit`` characters, then ``+N``."""
    shown: list[str] = []
    for i, label in enumerate(labels):
        rest = len(labels) - i - 1
        candidate = ", ".join([*shown, label]) + (f", +{rest}" if rest else "")
        if len(candidate) > limit and shown:
            return ", ".join(shown) + f", +{len(labels) - len(shown)}"
        shown.append(label)
    return _shorten(", ".join(shown), limit)


def _build(shown: Shown, parent: Shown | None) -> Box:
    node = shown.node
    label = node_label(node, parent.node if parent else None)
    if node.safe:
        # Every safe node the refiner visits is emitted (TraceNode.kept).
        return Box(
            "kept",
            label,
            _plural(node.actions, "action"),
            f"{node.emitted or node.pattern}: {_plural(node.actions, 'action')}",
            actions=node.actions,
            kept_below=1,
        )
    if node.unused == node.actions:
        return Box(
            "removed",
            label,
            f"{_plural(node.actions, 'action')}, all unused",
            f"{node.pattern}: every action unused (e.g. {node.witness})",
            actions=node.actions,
        )
    children = [_build(child, shown) for child in shown.children]
    box = Box(
        "split",
        label,
        f"{node.unused:,} of {node.actions:,} unused, × {node.witness}",
        f"{node.pattern}: {node.unused} of {node.actions} actions unused, such as {node.witness}",
        _group(children),
        actions=node.actions,
    )
    box.kept_below = sum(c.kept_below for c in children)
    return box


def _group(children: list[Box]) -> list[Box]:
    """Kept boxes first, as one counted box when there are several, then the split
    boxes, then the removed ones, likewise counted."""
    kept = [c for c in children if c.kind == "kept"]
    removed = [c for c in children if c.kind == "removed"]
    split = [c for c in children if c.kind not in ("kept", "removed")]
    out: list[Box] = []
    if len(kept) > 1:
        actions = sum(c.actions for c in kept)
        out.append(
            Box(
                "kept",
                _names([c.label for c in kept], _LABEL_CHARS),
                f"{len(kept)} patterns kept, {_plural(actions, 'action')}",
                "kept: " + "; ".join(c.tip for c in kept),
                actions=actions,
                kept_below=len(kept),
            )
        )
    else:
        out.extend(kept)
    out.extend(split)
    if len(removed) > 1:
        actions = sum(c.actions for c in removed)
        out.append(
            Box(
                "removed",
                _names([c.label for c in removed], _LABEL_CHARS),
                f"{len(removed)} prefixes removed, {_plural(actions, 'action')} unused",
                "removed: " + "; ".join(c.tip for c in removed),
                actions=actions,
            )
        )
    else:
        out.extend(removed)
    return out


def _fold(roots: list[Box], budget: int) -> None:
    """Fold the deepest split boxes (the larger first) until the rows fit ``budget``;
    then merge the folded siblings of a parent (the most first) into one box."""

    def walk(box: Box, depth: int) -> list[tuple[int, Box]]:
        found = [(depth, box)]
        for child in box.children:
            found.extend(walk(child, depth + 1))
        return found

    while sum(r.rows() for r in roots) > budget:
        boxes = [db for r in roots for db in walk(r, 0)]
        splits = [(d, b) for d, b in boxes if b.kind == "split" and b.children and d > 0]
        if splits:
            _, box = max(splits, key=lambda db: (db[0], db[1].rows()))
            box.kind = "folded"
            below = _plural(box.kept_below, "kept pattern")
            box.detail = box.detail.split(", ×")[0] + f"; {below} below"
            box.children = []
            continue
        parents = [b for _, b in boxes if sum(c.kind == "folded" for c in b.children) > 1]
        if not parents:
            return
        parent = max(parents, key=lambda b: sum(c.kind == "folded" for c in b.children))
        folded = [c for c in parent.children if c.kind == "folded"]
        merged = Box(
            "folded",
            _names([c.label for c in folded], _LABEL_CHARS),
            f"{len(folded)} split prefixes; "
            f"{_plural(sum(c.kept_below for c in folded), 'kept pattern')} below",
            "folded: " + "; ".join(c.tip for c in folded),
            actions=sum(c.actions for c in folded),
            kept_below=sum(c.kept_below for c in folded),
        )
        at = parent.children.index(folded[0])
        rest = [c for c in parent.children if c.kind != "folded"]
        parent.children = [*rest[:at], merged, *rest[at:]]


# --- layout -------------------------------------------------------------------------


@dataclass
class _Block:
    """One tree with its title, laid out at the origin."""

    title: str
    boxes: list[Box]
    edges: list[tuple[Box, Box]]
    width: float
    height: float
    x: float = 0.0
    y: float = 0.0


def _title(result: RefineResult, trace: PatternTrace) -> str:
    count = next((len(r.new_patterns) for r in result.replacements if r.trace is trace), 0)
    return (
        f"statement {trace.statement_index + 1}: {trace.original_pattern} "
        f"({RULES[trace.rule]}) -> {_plural(count, 'pattern')}"
    )


def _box_width(box: Box) -> float:
    label = min(len(box.label), _LABEL_CHARS) * _CHAR_W
    detail = min(len(box.detail), _DETAIL_CHARS) * _SMALL_W
    return max(label, detail) + 2 * _PAD_X


def _block(title: str, root: Box) -> _Block:
    boxes: list[Box] = []
    edges: list[tuple[Box, Box]] = []
    row = 0

    def visit(box: Box, depth: int) -> None:
        nonlocal row
        box.depth = depth
        boxes.append(box)
        if not box.children:
            box.y = row * _ROW
            row += 1
            return
        for child in box.children:
            visit(child, depth + 1)
            edges.append((box, child))
        box.y = (box.children[0].y + box.children[-1].y) / 2

    visit(root, 0)
    widths: dict[int, float] = {}
    for box in boxes:
        box.width = _box_width(box)
        widths[box.depth] = max(widths.get(box.depth, 0.0), box.width)
    column_x: dict[int, float] = {}
    x = 0.0
    for depth in sorted(widths):
        column_x[depth] = x
        x += widths[depth] + _GAP_X
    for box in boxes:
        box.x = column_x[box.depth]
    width = max(x - _GAP_X, len(title) * _CHAR_W * 1.05)
    return _Block(title, boxes, edges, width, _TITLE_H + row * _ROW)


def _columns(blocks: list[_Block], top: float) -> tuple[float, float]:
    """Place the blocks in reading order in the number of columns that fits the
    screen best; return the picture's width and height."""
    best: tuple[float, int, list[list[_Block]]] | None = None
    for n in range(1, min(4, len(blocks)) + 1):
        target = sum(b.height + _MARGIN for b in blocks) / n
        columns: list[list[_Block]] = [[]]
        height = 0.0
        for block in blocks:
            if columns[-1] and height + block.height > target and len(columns) < n:
                columns.append([])
                height = 0.0
            columns[-1].append(block)
            height += block.height + _MARGIN
        width = sum(max(b.width for b in col) for col in columns)
        width += _COLUMN_GAP * (len(columns) - 1) + 2 * _MARGIN
        tall = top + max(sum(b.height + _MARGIN for b in col) for col in columns) + _MARGIN
        scale = max(width / SCREEN[0], tall / SCREEN[1])
        if best is None or scale < best[0] - 1e-9:
            best = (scale, n, columns)
    assert best is not None
    x = float(_MARGIN)
    height = 0.0
    for col in best[2]:
        y = top
        for block in col:
            block.x, block.y = x, y
            y += block.height + _MARGIN
        height = max(height, y)
        x += max(b.width for b in col) + _COLUMN_GAP
    width = x - _COLUMN_GAP + _MARGIN
    return width, height + _MARGIN


# --- drawing --------------------------------------------------------------------------


def _legend(kinds: set[str]) -> tuple[list[str], float]:
    """The legend of the box kinds in the picture, and the height it takes."""
    parts = []
    y = float(_MARGIN)
    for kind, text in _LEGEND:
        if kind not in kinds:
            continue
        parts.append(
            f'<g class="{kind}"><rect x="{_MARGIN}" y="{y:.1f}" width="22" height="14" rx="3"/>'
            f'<text x="{_MARGIN + 30}" y="{y + 11:.1f}" class="legend">{escape(text)}</text></g>'
        )
        y += 20
    return parts, y + 8


def _draw_block(block: _Block) -> list[str]:
    parts = [
        f'<text x="{block.x:.1f}" y="{block.y + 16:.1f}" class="title">{escape(block.title)}</text>'
    ]
    top = block.y + _TITLE_H
    for a, b in block.edges:
        x1 = block.x + a.x + a.width
        y1 = top + a.y + _BOX_H / 2
        x2 = block.x + b.x
        y2 = top + b.y + _BOX_H / 2
        mid = (x1 + x2) / 2
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} H{mid:.1f} V{y2:.1f} H{x2:.1f}" class="edge"/>')
    for box in block.boxes:
        bx, by = block.x + box.x, top + box.y
        parts.append(
            f'<g class="{box.kind}"><title>{escape(box.tip)}</title>'
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{box.width:.1f}" height="{_BOX_H}" rx="6"/>'
            f'<text x="{bx + _PAD_X:.1f}" y="{by + 14:.1f}">'
            f"{escape(_shorten(box.label, _LABEL_CHARS))}</text>"
            f'<text x="{bx + _PAD_X:.1f}" y="{by + 28:.1f}" class="count">'
            f"{escape(_shorten(box.detail, _DETAIL_CHARS))}</text></g>"
        )
    return parts


def draw(result: RefineResult) -> str:
    """The explanation trees of ``result`` as one standalone SVG document."""
    traces = [t for t in result.traces if t.rule != "exact"]
    roots = [_build(display_tree(t), None) for t in traces]
    _fold(roots, ROW_BUDGET)
    blocks = [_block(_title(result, t), root) for t, root in zip(traces, roots, strict=True)]
    parts, top = _legend({b.kind for block in blocks for b in block.boxes})
    if blocks:
        width, height = _columns(blocks, top)
        for block in blocks:
            parts.extend(_draw_block(block))
    else:
        parts.append(
            f'<text x="{_MARGIN}" y="{top + 16:.1f}" class="title">'
            "nothing to explain: no pattern was refined</text>"
        )
        width, height = 400.0, top + _TITLE_H + _MARGIN
    width = max(width, 2 * _MARGIN + max(len(t) for _, t in _LEGEND) * _CHAR_W + 30)
    style = (
        f"text{{font-family:monospace;font-size:{_FONT}px;fill:#212121}}"
        ".title{font-weight:bold}"
        f".count{{font-size:{_SMALL}px;fill:#424242}}"
        + "".join(
            f".{kind} rect{{fill:{fill};stroke:{line};stroke-width:1.2}}"
            for kind, (fill, line) in _FILL.items()
        )
        + ".kept rect{stroke-width:2.5}"
        ".folded rect{stroke-dasharray:5 3}"
        ".edge{fill:none;stroke:#9e9e9e;stroke-width:1.2}"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">\n'
        f"<style>{style}</style>\n"
        f'<rect width="100%" height="100%" fill="#ffffff"/>\n' + "\n".join(parts) + "\n</svg>\n"
    )
