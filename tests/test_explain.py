"""Explanations: text, DOT and SVG renderings of the refinement traces."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.explain import explain_dot, explain_svg, explain_text
from iamrefine.parse import load_policy, parse_policy
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


def test_svg_is_well_formed_and_colours_nodes(word: RefineResult) -> None:
    svg = explain_svg(word)
    root = ET.fromstring(svg.split("\n", 1)[1])
    assert root.tag == f"{SVG}svg"
    groups = root.findall(f"{SVG}g")
    classes = [g.get("class", "") for g in groups]
    trace = next(r.trace for r in word.replacements if r.original_pattern == "s3:Get*")
    assert sum("chosen" in c for c in classes) == len(trace.chosen()) == 9
    assert sum(c.startswith("unsafe") for c in classes) == sum(not n.safe for n in trace.nodes)
    titles = ["".join(g.find(f"{SVG}title").itertext()) for g in groups]  # type: ignore[union-attr]
    assert any(
        t.startswith("s3:GetAccelerate*: unsafe because of `s3:GetAccelerateConfiguration`")
        for t in titles
    )
    assert "#c8e6c9" in svg and "#ffe0b2" in svg
    rects = root.findall(f"{SVG}g/{SVG}rect")
    width = float(root.get("width", "0"))
    height = float(root.get("height", "0"))
    for rect in rects:
        assert float(rect.get("x", "0")) + float(rect.get("width", "0")) <= width
        assert float(rect.get("y", "0")) + float(rect.get("height", "0")) <= height


def test_svg_boxes_do_not_overlap(char: RefineResult) -> None:
    root = ET.fromstring(explain_svg(char).split("\n", 1)[1])
    boxes = [
        (
            float(r.get("x", "0")),
            float(r.get("y", "0")),
            float(r.get("width", "0")),
            float(r.get("height", "0")),
        )
        for r in root.findall(f"{SVG}g/{SVG}rect")
    ]
    assert len(boxes) > 20
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart


def test_dot_graph(word: RefineResult) -> None:
    dot = explain_dot(word)
    assert dot.startswith("digraph refinement {")
    assert dot.rstrip().endswith("}")
    assert dot.count("penwidth=3") == 9
    assert "->" in dot
    assert '"s3:GetAccelerate*\\n× s3:GetAccelerateConfiguration"' in dot
