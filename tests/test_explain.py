"""Explanations: text, DOT and SVG renderings of the refinement traces."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from iamrefine import picture
from iamrefine.catalog import Catalog, load_catalog
from iamrefine.choices import Optimize
from iamrefine.explain import display_tree, explain_dot, explain_svg, explain_text
from iamrefine.parse import load_policy, parse_policy
from iamrefine.picture import Box
from iamrefine.refine import RefineResult, refine_policy
from iamrefine.unused import UnusedSet, load_unused

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "access-analyzer-blog"
SVG = "{http://www.w3.org/2000/svg}"


def _example(granularity: str) -> RefineResult:
    catalog = load_catalog()
    policy = load_policy(EXAMPLE / "policy.json")
    unused = load_unused(EXAMPLE / "unused.json", catalog)
    return refine_policy(policy, unused, catalog, granularity=granularity)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def word() -> RefineResult:
    return _example("word")


@pytest.fixture(scope="module")
def char() -> RefineResult:
    return _example("char")


def test_text_names_the_witness_of_each_unsafe_node(word: RefineResult) -> None:
    text = explain_text(word)
    assert "statement 2: `s3:Get*` [shortest safe prefixes] -> `s3:GetAccess*`" in text
    assert (
        "s3:GetAccelerate*  unsafe because of `s3:GetAccelerateConfiguration` "
        "(1 of 1 action unused)" in text
    )
    assert "s3:GetAccess*  safe, chosen as `s3:GetAccess*` (12 actions)" in text
    assert "chosen as `s3:GetAccountPublicAccessBlock`" in text
    assert "statement 1: `lambda:AddPermission` removed (unused)" in text


def test_text_collapses_same_set_chains(char: RefineResult) -> None:
    text = explain_text(char)
    assert "s3:GetAcc*  unsafe because of `s3:GetAccelerateConfiguration`" in text
    assert "s3:GetAc*  " not in text
    assert "s3:GetBucket*  unsafe because of `s3:GetBucketAcl`" in text
    assert "s3:GetBuck*  " not in text


def test_text_when_nothing_changes() -> None:
    cat = Catalog.from_names(["s3:GetObject"], source="t")
    policy = parse_policy('{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}')
    result = refine_policy(policy, UnusedSet.from_names([], cat), cat)
    assert explain_text(result).startswith("nothing to explain")
    root = ET.fromstring(explain_svg(result).split("\n", 1)[1])
    assert "nothing to explain" in "".join(root.itertext())


def test_text_reports_not_action_and_detach() -> None:
    cat = Catalog.from_names(["s3:GetObject", "s3:PutObject"], source="t")
    policy = parse_policy(
        '{"Statement": [{"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}]}'
    )
    result = refine_policy(policy, UnusedSet.from_names(["s3:PutObject"], cat), cat)
    assert "NotAction now also excludes `s3:PutObject`" in explain_text(result)
    policy = parse_policy(
        '{"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}'
    )
    result = refine_policy(policy, UnusedSet.from_names(["s3:PutObject"], cat), cat)
    assert explain_text(result).rstrip().endswith("detach the policy")


def _svg(result: RefineResult) -> ET.Element:
    return ET.fromstring(explain_svg(result).split("\n", 1)[1])


def _boxes(root: ET.Element) -> list[tuple[str, str, list[str]]]:
    """(class, tooltip, text lines) of every box of the trees (not the legend)."""
    found = []
    for g in root.findall(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        if title is not None:
            lines = ["".join(t.itertext()) for t in g.findall(f"{SVG}text")]
            found.append((g.get("class", ""), "".join(title.itertext()), lines))
    return found


def _leaves(box: Box) -> list[Box]:
    return [box] if not box.children else [leaf for c in box.children for leaf in _leaves(c)]


def test_svg_has_a_legend_and_counts_on_every_box(word: RefineResult) -> None:
    """The picture explains its colours, and every box says how many actions it
    stands for; the example is condensed to a handful of boxes (issue 19)."""
    root = _svg(word)
    assert root.tag == f"{SVG}svg"
    text = "".join(root.itertext())
    for kind in ("kept: an emitted pattern", "split: matches used and unused", "removed: every"):
        assert kind in text
    assert "folded:" not in text  # no folded box, so no legend entry for one
    boxes = _boxes(root)
    assert len(boxes) == 6
    for _, _, lines in boxes:
        assert len(lines) == 2 and re.search(r"\d+ (of \d+ unused|actions?|patterns)", lines[1])
    kept = [tip for kind, tip, _ in boxes if kind == "kept"]
    trace = next(r.trace for r in word.replacements if r.original_pattern == "s3:Get*")
    assert trace is not None
    emitted = [n.emitted for n in trace.chosen()]
    assert len(emitted) == 9
    assert all(sum(f"{e}:" in tip for tip in kept) == 1 for e in emitted)
    assert ["s3:Get*", "22 of 60 unused, × s3:GetAccelerateConfiguration"] in [
        lines for kind, _, lines in boxes if kind == "split"
    ]
    width = float(root.get("width", "0"))
    height = float(root.get("height", "0"))
    assert max(width / 1920, height / 1080) <= 1
    for rect in root.findall(f"{SVG}g/{SVG}rect"):
        assert float(rect.get("x", "0")) + float(rect.get("width", "0")) <= width
        assert float(rect.get("y", "0")) + float(rect.get("height", "0")) <= height


def _dev_role() -> RefineResult:
    """A developer role over ten services, with every third allowed action unused:
    hundreds of trie nodes."""
    catalog = load_catalog()
    patterns = ["s3:*", "lambda:*", "dynamodb:*", "logs:*", "sqs:*", "sns:*", "ec2:Describe*"]
    patterns += ["cloudwatch:Get*", "cloudformation:*", "iam:Get*", "iam:List*"]
    doc = {"Statement": [{"Effect": "Allow", "Action": patterns, "Resource": "*"}]}
    policy = parse_policy(json.dumps(doc))
    allowed = sorted(a for p in patterns for a in catalog.expand(p))
    unused = UnusedSet.from_names([catalog.by_lower[a] for a in allowed[::3]], catalog)
    # The trie's decisions, not the size optimizer's (the readable form is over the quota).
    return refine_policy(policy, unused, catalog, optimize=Optimize.readable)


def test_svg_of_a_large_policy_fits_one_screen_and_keeps_every_count() -> None:
    """Condensing and folding keep every count: the leaves of each tree cover the
    pattern's actions and its kept patterns exactly; the picture fits a 1920 x 1080
    screen at 80 % zoom or more, without overlapping boxes."""
    result = _dev_role()
    traces = [t for t in result.traces if t.rule != "exact"]
    assert sum(len(t.nodes) for t in traces) > 300
    roots = [picture._build(display_tree(t), None) for t in traces]
    picture._fold(roots, picture.ROW_BUDGET)
    assert sum(r.rows() for r in roots) <= max(picture.ROW_BUDGET, 3 * len(roots))
    for trace, box in zip(traces, roots, strict=True):
        leaves = _leaves(box)
        assert sum(leaf.actions for leaf in leaves) == trace.nodes[0].actions
        assert sum(leaf.kept_below for leaf in leaves) == len(trace.chosen())
    root = _svg(result)
    width = float(root.get("width", "0"))
    height = float(root.get("height", "0"))
    assert max(width / 1920, height / 1080) <= 1.25, (width, height)
    assert "folded: split further below" in "".join(root.itertext())
    _assert_apart(root)


def _assert_apart(root: ET.Element) -> None:
    boxes = [
        (
            float(r.get("x", "0")),
            float(r.get("y", "0")),
            float(r.get("width", "0")),
            float(r.get("height", "0")),
        )
        for r in root.findall(f"{SVG}g/{SVG}rect")
    ]
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart


def test_svg_boxes_do_not_overlap(char: RefineResult) -> None:
    root = _svg(char)
    assert len(root.findall(f"{SVG}g/{SVG}rect")) > 5
    _assert_apart(root)


def test_dot_graph(word: RefineResult) -> None:
    dot = explain_dot(word)
    assert dot.startswith("digraph refinement {")
    assert dot.rstrip().endswith("}")
    assert dot.count("penwidth=3") == 9
    assert "->" in dot
    assert '"s3:GetAccelerate*\\n× s3:GetAccelerateConfiguration"' in dot
