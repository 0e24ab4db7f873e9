"""The policy parser: the AST it builds, its diagnostics (golden files), pathological
inputs, the parser cache, and a generated round trip through the writer."""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import corpus_files
from iamrefine import jsontree as parse_module
from iamrefine.cli.app import app
from iamrefine.errors import PolicyError
from iamrefine.model import KNOWN_VERSIONS, Layout, Number
from iamrefine.parse import (
    MAX_ACTION_LENGTH,
    MAX_CHAR_DIAGNOSTICS,
    MAX_POLICY_BYTES,
    load_policy,
    parse_policy,
    policy_from_json,
)
from iamrefine.write import dump_policy

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLE = REPO / "examples" / "access-analyzer-blog" / "policy.json"


def _errors(data: str | bytes) -> list[str]:
    """The rendered diagnostics of a policy that must fail to parse."""
    with pytest.raises(PolicyError) as info:
        parse_policy(data, "p.json")
    return [d.render() for d in info.value.diagnostics]


def _stmt(body: str) -> str:
    return '{"Version": "2012-10-17", "Statement": [' + body + "]}"


def _doc(**elements: Any) -> str:
    """A one-statement policy; Effect, Action and Resource have defaults."""
    statement = {"Effect": "Allow", "Action": "s3:X", "Resource": "*", **elements}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, ensure_ascii=False)


# ---------------------------------------------------------------------------
# Golden diagnostics through `iamrefine parse`.

GOLDEN_CASES = sorted(p.name for p in GOLDEN.glob("*.json"))


def test_golden_directory_is_complete() -> None:
    assert len(GOLDEN_CASES) >= 30
    for name in GOLDEN_CASES:
        assert (GOLDEN / name).with_suffix(".stderr").is_file(), name


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    expected = (GOLDEN / name).with_suffix(".stderr").read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["parse", name])
    assert result.exit_code == 2, result.output
    assert result.stderr == expected
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_golden_multiple_errors_are_all_reported_in_order() -> None:
    lines = (GOLDEN / "multiple_errors.stderr").read_text().splitlines()
    assert len(lines) == 6
    positions = [tuple(int(x) for x in line.split(":")[1:3]) for line in lines]
    assert positions == sorted(positions)


def test_cli_parse_prints_the_normalized_policy(tmp_path: Path) -> None:
    source = tmp_path / "p.json"
    source.write_text('{"Statement": {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}}')
    result = CliRunner().invoke(app, ["parse", str(source)])
    assert result.exit_code == 0, result.output
    assert result.stdout == source.read_text()
    example = CliRunner().invoke(app, ["parse", str(EXAMPLE)])
    assert example.exit_code == 0
    assert example.stdout == EXAMPLE.read_text()


def test_cli_parse_json_report() -> None:
    result = CliRunner().invoke(app, ["parse", "--json", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["statements"] == 2
    assert report["version"] == "2012-10-17"
    assert report["policy"] == json.loads(EXAMPLE.read_text())
    assert report["non_whitespace_length"] == len("".join(EXAMPLE.read_text().split()))


def test_cli_parse_json_report_of_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    result = CliRunner().invoke(app, ["parse", "--json", "multiple_errors.json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    rendered = [
        f"{d['file']}:{d['line']}:{d['column']}: {d['severity']}: {d['message']}"
        for d in report["diagnostics"]
    ]
    assert rendered == (GOLDEN / "multiple_errors.stderr").read_text().splitlines()


def test_cli_parse_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["parse", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{tmp_path / 'nope.json'}: error: cannot read policy file")


# ---------------------------------------------------------------------------
# The AST.


def test_worked_example() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.source == str(EXAMPLE)
    assert policy.version == "2012-10-17"
    assert policy.keys == ["Version", "Statement"]
    assert policy.statement_is_list
    assert policy.layout == Layout(indent=2, trailing_newline=True)
    lam, s3 = policy.statements
    assert lam.keys == ["Effect", "Action", "Resource"]
    assert lam.action is not None and lam.action.is_list and len(lam.action.values) == 9
    assert lam.action.values[-1] == "lambda:Invoke*"
    assert lam.resource is not None and not lam.resource.is_list
    assert s3.action is not None and s3.action.values == ["s3:Get*", "s3:List*"]


def test_bytes_and_text_give_the_same_policy() -> None:
    raw = EXAMPLE.read_bytes()
    assert parse_policy(raw) == parse_policy(raw.decode("utf-8"))


def test_spans_are_one_based_and_point_at_values() -> None:
    text = '{\n  "Statement": {\n    "Effect": "Allow",\n    "Action": ["s3:A", "s3:B"],\n'
    text += '    "Resource": "*"\n  }\n}\n'
    policy = parse_policy(text)
    stmt = policy.statements[0]
    assert stmt.span is not None
    assert (stmt.span.line, stmt.span.column, stmt.span.end_line, stmt.span.end_column) == (
        2,
        16,
        6,
        4,
    )
    action = stmt.action
    assert action is not None and action.span is not None
    assert (action.span.line, action.span.column) == (4, 15)
    second = action.span_of(1)
    assert second is not None
    assert (second.line, second.column, second.end_column) == (4, 24, 30)


def test_single_statement_object_and_missing_version() -> None:
    policy = parse_policy(
        '{"Statement": {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}}'
    )
    assert not policy.statement_is_list
    assert policy.version is None
    assert policy.effective_version == "2008-10-17"
    stmt = policy.statements[0]
    assert stmt.effect == "Deny"
    assert stmt.uses_not_action
    assert stmt.not_action is not None and stmt.not_action.values == ["iam:*"]
    assert policy.layout == Layout(indent=None, trailing_newline=False)


def test_element_names_in_value_positions_are_plain_strings() -> None:
    text = _stmt(
        '{"Sid": "Version", "Effect": "Allow", "Action": "s3:Statement", '
        '"NotResource": ["arn:Resource", "arn:Action"], '
        '"Condition": {"StringEquals": {"Condition": "Effect", "Action": ["Sid"]}}}'
    )
    stmt = parse_policy(text).statements[0]
    assert stmt.sid == "Version"
    assert stmt.not_resource is not None
    assert stmt.not_resource.values == ["arn:Resource", "arn:Action"]
    assert stmt.condition is not None
    assert stmt.condition.to_json() == {"StringEquals": {"Condition": "Effect", "Action": ["Sid"]}}


def test_escaped_element_names_are_the_same_elements() -> None:
    text = _stmt('{"Effect": "Allow", "Acti\\u006fn": "s3:GetObject", "Resource": "*"}')
    stmt = parse_policy(text).statements[0]
    assert stmt.action is not None and stmt.action.values == ["s3:GetObject"]
    assert stmt.keys == ["Effect", "Action", "Resource"]
    escaped_statement = '{"Version": "2012-10-17", "St\\u0061tement": {"Effect": "Allow", '
    escaped_statement += '"Action": "s3:GetObject", "Resource": "*"}}'
    assert len(parse_policy(escaped_statement).statements) == 1


def test_condition_values_keep_their_json_types() -> None:
    cond = {
        "Bool": {"aws:SecureTransport": False, "aws:MultiFactorAuthPresent": "true"},
        "NumericLessThan": {"s3:max-keys": 10, "x:ratio": [1.5, -2, 3e5]},
        "StringLike": {"s3:prefix": ["home/", "home/${aws:username}/*"]},
    }
    doc = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": cond}]}
    stmt = parse_policy(json.dumps(doc)).statements[0]
    assert stmt.condition is not None
    got = stmt.condition.to_json()
    assert got["Bool"] == cond["Bool"]
    assert got["StringLike"] == cond["StringLike"]
    assert got["Bool"]["aws:SecureTransport"] is False
    # Numbers keep the text json.dumps wrote for them.
    assert got["NumericLessThan"] == {
        "s3:max-keys": Number("10"),
        "x:ratio": [Number("1.5"), Number("-2"), Number("300000.0")],
    }
    entries = stmt.condition.clauses[2].entries
    assert entries[0].is_list


@pytest.mark.parametrize(
    "lexeme", ["1.00000000000000000001", "1e2", "1E+2", "-0", "1.50", "0.0", "-12e-3", "10"]
)
def test_numbers_keep_their_source_text(lexeme: str) -> None:
    text = (
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", '
        f'"Resource": "*", "Condition": {{"NumericLessThan": {{"s3:max-keys": {lexeme}}}}}}}}}'
    )
    policy = parse_policy(text)
    condition = policy.statements[0].condition
    assert condition is not None
    value = condition.clauses[0].entries[0].values[0]
    assert value == Number(lexeme)
    assert str(value) == lexeme
    assert dump_policy(policy) == text
    assert parse_policy(dump_policy(policy)) == policy
    assert (
        policy_from_json(json.loads(dump_policy(policy), parse_float=Number, parse_int=Number))
        == policy
    )


def test_numbers_out_of_range_are_errors() -> None:
    text = (
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", '
        '"Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": 1e400}}}}'
    )
    with pytest.raises(PolicyError, match="number is out of range"):
        parse_policy(text)


def test_principals_are_kept_verbatim() -> None:
    principal = {"AWS": ["arn:aws:iam::111122223333:root", "*"], "Service": "s3.amazonaws.com"}
    doc = {"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject"}]}
    stmt = parse_policy(json.dumps(doc)).statements[0]
    assert stmt.principal == principal
    assert stmt.resource is None
    star = {"Statement": {"Effect": "Deny", "NotPrincipal": "*", "Action": "s3:*"}}
    assert parse_policy(json.dumps(star)).statements[0].not_principal == "*"


def test_all_errors_are_reported_in_source_order() -> None:
    text = _stmt(
        '{"Effect": "Allow", "Action": "GetObject", "Resource": "*"},\n'
        '{"Effect": "Permit", "Action": "s3:X", "Resource": []},\n'
        '{"Action": "s3:X", "Resource": "*", "Sid": 1}'
    )
    lines = _errors(text)
    assert len(lines) == 5
    assert "no service prefix" in lines[0]
    assert "invalid `Effect` value `Permit`" in lines[1]
    assert "`Resource` must not be an empty list" in lines[2]
    assert "no `Effect` element" in lines[3]
    assert "`Sid` must be a string, found a number" in lines[4]
    keys = [tuple(int(x) for x in line.split(":")[1:3]) for line in lines]
    assert keys == sorted(keys)


def test_disallowed_characters_and_syntax_errors_are_both_reported() -> None:
    lines = _errors('{"Statement": [{"Sid": "\u2603"}, ]}')
    assert lines[0].startswith("p.json:1:25: error: character `U+2603`")
    assert lines[1] == "p.json:1:30: error: invalid JSON: trailing comma before `]`"


def test_invalid_json_messages() -> None:
    assert _errors('{"Statement": tru}') == [
        "p.json:1:15: error: invalid JSON: unexpected character `t`, expected a value"
    ]
    assert _errors('{"Statement": "a\\x"}') == [
        "p.json:1:17: error: invalid JSON: invalid escape `\\x` in string"
    ]
    assert _errors('{"Statement": 1} 2') == [
        "p.json:1:18: error: invalid JSON: expected end of file, found `2`"
    ]
    assert _errors('{"Statement" 1}') == [
        "p.json:1:14: error: invalid JSON: expected `:`, found `1`"
    ]


def test_numbers_out_of_range_are_rejected() -> None:
    cond = '"Condition": {"NumericEquals": {"k": 1e400}}'
    text = _stmt('{"Effect": "Allow", "Action": "s3:X", "Resource": "*", ' + cond + "}")
    column = text.index("1e400") + 1
    message = "number is out of range (too many digits or too large)"
    assert _errors(text) == [f"p.json:1:{column}: error: {message}"]
    huge = text.replace("1e400", "9" * 5000)
    assert _errors(huge) == [f"p.json:1:{column}: error: {message}"]


def test_action_pattern_length_limit() -> None:
    ok = "s3:" + "a" * (MAX_ACTION_LENGTH - 3)
    assert parse_policy(_doc(Action=ok)).statements[0].action_element.values == [ok]
    lines = _errors(_doc(Action=ok + "b"))
    assert len(lines) == 1
    assert "is 10,241 characters long, longer than any AWS policy size quota allows" in lines[0]


# ---------------------------------------------------------------------------
# policy_from_json and load_policy.


def test_policy_from_json_matches_parse() -> None:
    obj = json.loads(EXAMPLE.read_text())
    policy = policy_from_json(obj, "obj")
    assert policy == load_policy(EXAMPLE)
    assert policy.source == "obj"


def test_policy_from_json_validates_without_positions() -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_json({"Statement": [{"Effect": "Allow", "Action": ["x"], "Bad": 1}]}, "o")
    rendered = [d.render() for d in info.value.diagnostics]
    assert rendered == [
        "o: error: unknown element `Bad` in a statement (expected one of `Sid`, `Effect`, "
        "`Principal`, `NotPrincipal`, `Action`, `NotAction`, `Resource`, `NotResource`, "
        "`Condition`)",
        "o: error: action `x` has no service prefix (expected `service:action` or `*`)",
        "o: error: the statement has neither `Resource` nor `NotResource` "
        "(a statement without a principal needs one)",
    ]
    with pytest.raises(PolicyError, match="`set` is not JSON"):
        policy_from_json({"Statement": {"Effect": "Allow", "Action": {"s3:x"}}})
    with pytest.raises(PolicyError, match="U\\+2603"):
        policy_from_json({"Statement": {"Effect": "Allow", "Action": "s3:\u2603", "Resource": "*"}})


def test_load_policy_reports_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(PolicyError) as info:
        load_policy(missing)
    assert info.value.diagnostics[0].render().startswith(f"{missing}: error: cannot read")


# ---------------------------------------------------------------------------
# Pathological inputs: each gives a clear error, fast.


def _timed_errors(data: str | bytes) -> tuple[list[str], float]:
    start = time.perf_counter()
    lines = _errors(data)
    return lines, time.perf_counter() - start


def test_fifty_megabyte_file_is_rejected_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    start = time.perf_counter()
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert time.perf_counter() - start < 1.0
    assert info.value.diagnostics[0].message.startswith(
        f"policy file is 52,428,800 bytes, larger than the limit of {MAX_POLICY_BYTES:,} bytes"
    )
    lines, seconds = _timed_errors(b" " * (50 * 1024 * 1024))
    assert seconds < 1.0
    assert "larger than the limit" in lines[0]


@pytest.mark.parametrize("opener", ["[", '{"a":', '{"Statement": ['])
def test_deep_nesting_is_rejected_quickly(opener: str) -> None:
    levels = min(100_000, MAX_POLICY_BYTES // len(opener))
    lines, seconds = _timed_errors(opener * levels)
    assert seconds < 2.0
    assert len(lines) == 1
    assert "nesting is deeper than 64 levels" in lines[0]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    resource = "arn:" + "[{" * 200
    assert parse_policy(_doc(Resource=resource)).statements[0].resource.values == [resource]


def test_long_patterns_finish_within_seconds() -> None:
    action = "s3:" + "a" * 100_000
    lines, seconds = _timed_errors(_doc(Action=action))
    assert seconds < 3.0
    assert "is 100,003 characters long" in lines[0]
    resource = "arn:aws:s3:::" + "x*" * 50_000
    start = time.perf_counter()
    policy = parse_policy(_doc(Resource=resource))
    assert time.perf_counter() - start < 3.0
    assert policy.statements[0].resource is not None
    assert policy.statements[0].resource.values == [resource]


def test_many_disallowed_characters_are_summarized() -> None:
    count = MAX_POLICY_BYTES // 4
    lines, seconds = _timed_errors(_doc(Sid="\u2603" * count))
    assert seconds < 3.0
    assert len(lines) == MAX_CHAR_DIAGNOSTICS + 1
    assert lines[-1].endswith(
        f"{count - MAX_CHAR_DIAGNOSTICS} more characters outside the allowed range are not shown"
    )


def test_text_input_with_lone_surrogates_is_rejected_not_crashed() -> None:
    lines = _errors('{"Statement": "\ud800"}')
    assert lines[1].startswith("p.json:1:16: error: character `U+D800` is not allowed")


def test_invalid_utf8_reports_every_bad_byte() -> None:
    data = b'{"Statement":\n "\xff\xfe", "x\xc3"}'
    assert _errors(data) == [
        "p.json:2:3: error: file is not valid UTF-8: byte `0xff`",
        "p.json:2:4: error: file is not valid UTF-8: byte `0xfe`",
        "p.json:2:10: error: file is not valid UTF-8: byte `0xc3`",
    ]


@pytest.mark.slow
def test_largest_accepted_file_parses() -> None:
    unit = '    "s3:GetObject%06d",\n'
    count = (MAX_POLICY_BYTES - 200) // len(unit % 0)
    actions = "".join(unit % i for i in range(count)) + '    "s3:Last"\n'
    text = _stmt('{"Effect": "Allow", "Resource": "*", "Action": [\n' + actions + "]}")
    assert len(text) <= MAX_POLICY_BYTES
    policy = parse_policy(text)
    assert len(policy.statements[0].action_element.values) == count + 1


# ---------------------------------------------------------------------------
# The parser cache.


@pytest.fixture
def fresh_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("IAMREFINE_CACHE_DIR", str(tmp_path))
    parse_module._parser.cache_clear()
    yield tmp_path
    parse_module._parser.cache_clear()


def test_parser_is_saved_and_reloaded_from_the_cache(fresh_parser: Path) -> None:
    first = load_policy(EXAMPLE)
    saved = list(fresh_parser.glob("policy-parser-*.lark"))
    assert len(saved) == 1
    assert not list(fresh_parser.glob("*.tmp"))
    parse_module._parser.cache_clear()
    assert load_policy(EXAMPLE) == first
    saved[0].write_bytes(b"not a pickled parser")
    parse_module._parser.cache_clear()
    assert load_policy(EXAMPLE) == first
    # The damaged file was replaced by freshly built tables.
    assert saved[0].read_bytes() != b"not a pickled parser"


def test_parsing_does_not_load_the_catalog() -> None:
    import subprocess
    import sys

    code = (
        "import sys, iamrefine.parse as p; p.load_policy(sys.argv[1]); "
        "sys.exit('iamrefine.catalog' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code, str(EXAMPLE)], check=False).returncode == 0


def test_parser_works_when_the_cache_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("IAMREFINE_CACHE_DIR", str(blocker / "sub"))
    parse_module._parser.cache_clear()
    try:
        assert len(load_policy(EXAMPLE).statements) == 2
    finally:
        parse_module._parser.cache_clear()


# ---------------------------------------------------------------------------
# Generated round trip: text -> Policy -> text.

_TEXT_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0xFF) | st.sampled_from("\t\n\r")
_text = st.text(_TEXT_CHARS, max_size=12)
_service = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"), min_size=1, max_size=8)
_action = st.just("*") | st.builds(
    lambda s, a: f"{s}:{a}", _service, st.text(_TEXT_CHARS, max_size=10).map(str.strip)
)
_resource = st.just("*") | st.builds(lambda t: f"arn:{t}", _text)
_sid = st.text(st.sampled_from("ABCXYZabcxyz0189"), max_size=8)
_scalar = (
    _text
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
)


def _one_or_list(item: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return item | st.lists(item, min_size=1, max_size=4)


_condition = st.dictionaries(
    _text, st.dictionaries(_text, _scalar | st.lists(_scalar, max_size=3), max_size=3), max_size=3
)
_principal = st.just("*") | st.dictionaries(
    st.sampled_from(["AWS", "Service", "Federated"]), _one_or_list(_text), min_size=1
)


@st.composite
def _statement(draw: st.DrawFn) -> dict[str, Any]:
    elements: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    elements[draw(st.sampled_from(["Action", "NotAction"]))] = draw(_one_or_list(_action))
    with_principal = draw(st.booleans())
    if with_principal:
        elements[draw(st.sampled_from(["Principal", "NotPrincipal"]))] = draw(_principal)
    if not with_principal or draw(st.booleans()):
        elements[draw(st.sampled_from(["Resource", "NotResource"]))] = draw(_one_or_list(_resource))
    if draw(st.booleans()):
        elements["Sid"] = draw(_sid)
    if draw(st.booleans()):
        elements["Condition"] = draw(_condition)
    order = draw(st.permutations(list(elements)))
    return {k: elements[k] for k in order}


@st.composite
def _policy(draw: st.DrawFn) -> dict[str, Any]:
    elements: dict[str, Any] = {}
    statements = draw(
        st.lists(
            _statement(),
            min_size=1,
            max_size=3,
            unique_by=lambda s: s.get("Sid", object()),  # IAM wants each Sid once
        )
    )
    if len(statements) == 1 and draw(st.booleans()):
        elements["Statement"] = statements[0]
    else:
        elements["Statement"] = statements
    if draw(st.booleans()):
        elements["Version"] = draw(st.sampled_from(KNOWN_VERSIONS))
    if draw(st.booleans()):
        elements["Id"] = draw(_text)
    order = draw(st.permutations(list(elements)))
    return {k: elements[k] for k in order}


def _pairs(text: str) -> Any:
    """Decoded JSON in which objects are lists of pairs, so that order is compared."""
    return json.loads(text, object_pairs_hook=list)


def _round_trip(obj: dict[str, Any], indent: int | None, newline: bool) -> None:
    text = json.dumps(obj, indent=indent, ensure_ascii=False) + ("\n" if newline else "")
    policy = parse_policy(text)
    assert policy.layout == Layout(indent=indent, trailing_newline=newline)
    dumped = dump_policy(policy)
    assert dumped == text
    assert parse_policy(dumped) == policy
    assert _pairs(dumped) == _pairs(text)
    assert policy_from_json(obj) == policy


_ROUND_TRIP = {
    "obj": _policy(),
    "indent": st.sampled_from([None, 0, 2, 4]),
    "newline": st.booleans(),
}


# The default run draws a sample; the slow suite draws the full count.
@settings(max_examples=40, derandomize=True, deadline=None)
@given(**_ROUND_TRIP)
def test_generated_round_trip(obj: dict[str, Any], indent: int | None, newline: bool) -> None:
    _round_trip(obj, indent, newline)


@pytest.mark.slow
@settings(max_examples=150, derandomize=True, deadline=None)
@given(**_ROUND_TRIP)
def test_generated_round_trip_150(obj: dict[str, Any], indent: int | None, newline: bool) -> None:
    _round_trip(obj, indent, newline)


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_parse_rejects_what_refine_rejects(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`parse` is the validator: every golden input that `parse` rejects, `refine`
    (which also checks condition operators and values before its proof) rejects
    with the same messages, and the other way round."""
    monkeypatch.chdir(GOLDEN)
    unused = tmp_path / "unused.json"
    unused.write_text('["s3:GetObject"]')
    parsed = CliRunner().invoke(app, ["parse", name])
    refined = CliRunner().invoke(app, ["refine", name, "--unused", str(unused)])
    assert refined.exit_code == parsed.exit_code == 2
    assert refined.stderr == parsed.stderr


# ---------------------------------------------------------------------------
# Recovery from common JSON syntax errors: every one is reported in one scan.


def _inject(text: str, rng: random.Random, count: int) -> tuple[str, Counter[str]]:
    """``text`` (indented JSON) with ``count`` of the recoverable mistakes made at
    distinct places: a trailing comma, a missing comma, an unquoted key."""
    lines = text.split("\n")
    made: Counter[str] = Counter()
    used: set[int] = set()
    for _ in range(count * 20):
        if sum(made.values()) == count:
            break
        i = rng.randrange(len(lines))
        if i in used or i + 1 >= len(lines):
            continue
        line, nxt = lines[i], lines[i + 1].strip()
        kind = rng.choice(["trailing", "missing", "key"])
        key = re.match(r'(\s*)"([A-Za-z][A-Za-z0-9:]*)"(: .*)', line)
        if kind == "trailing" and nxt[:1] in "]}" and not line.rstrip().endswith(("[", "{", ",")):
            lines[i] = line + ","
        elif kind == "missing" and line.endswith(",") and nxt[:1] not in "]}":
            lines[i] = line[:-1]
        elif kind == "key" and key:
            lines[i] = f"{key.group(1)}{key.group(2)}{key.group(3)}"
        else:
            continue
        used.update((i - 1, i, i + 1))
        made[kind] += 1
    return "\n".join(lines), made


def _kinds(messages: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for m in messages:
        if "trailing comma before" in m:
            found["trailing"] += 1
        elif "must be a string in double quotes" in m:
            found["key"] += 1
        elif re.search(r"expected `,` or `[]}]`, found", m):
            found["missing"] += 1
        else:
            found[m] += 1
    return found


@pytest.mark.parametrize("seed", range(40))
def test_every_trailing_comma_missing_comma_and_unquoted_key_is_reported(seed: int) -> None:
    """Mistakes of the three recoverable kinds, made at random places in real
    policies, are each reported once, with nothing else (issue 19)."""
    rng = random.Random(seed)
    sources = [EXAMPLE, *corpus_files("aws-docs")[seed::40][:1]]
    doc = json.loads(rng.choice(sources).read_text())
    text, made = _inject(json.dumps(doc, indent=2), rng, rng.randint(1, 6))
    assert made
    messages = _errors(text)
    assert _kinds(messages) == made, "\n".join([text, *messages])


def test_an_error_that_cannot_be_recovered_from_stops_the_scan() -> None:
    """An error outside the recovered kinds is reported after the recovered ones,
    and nothing after it: the rest of the file is not read."""
    text = '{"Version": "2012-10-17",,\n "Statement": [1,], Id: 3}'
    assert _errors(text) == ["p.json:1:26: error: invalid JSON: expected a string, found `,`"]
    text = '{Version: "2012-10-17", "Statement": [1,], "Id": \'x\', Sid: 1,}'
    assert _errors(text) == [
        "p.json:1:2: error: invalid JSON: key `Version` must be a string in double quotes",
        "p.json:1:41: error: invalid JSON: trailing comma before `]`",
        "p.json:1:50: error: invalid JSON: unexpected character `'`, expected a value",
    ]


def test_a_well_formed_policy_parses_the_same_with_recovery_on() -> None:
    """Recovery only acts on errors: the example parses exactly as before."""
    policy = parse_policy(EXAMPLE.read_text(), "e.json")
    assert dump_policy(policy) == EXAMPLE.read_text()


# --- what IAM rejects (issue 15 items 10-12; see proofs/aws-validation.md) -------------


def _statements(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def _allow(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **elements}


def test_a_sid_used_twice_is_an_error() -> None:
    lines = _errors(_statements(_allow(Sid="Read"), _allow(Sid="Write"), _allow(Sid="Read")))
    assert lines == [
        "p.json:20:14: error: `Sid` `Read` is already used at line 8 "
        "(IAM rejects a policy whose Sids are not unique)"
    ]
    assert len(parse_policy(_statements(_allow(Sid="A"), _allow(), _allow())).statements) == 3


@pytest.mark.parametrize("sid", ["read-only", "Read Only", "S3_Read", "a.b"])
def test_a_sid_with_other_characters_than_letters_and_digits_is_an_error(sid: str) -> None:
    lines = _errors(_statements(_allow(Sid=sid)))
    assert lines == [
        f"p.json:8:14: error: `Sid` `{sid}` may hold only ASCII letters and digits "
        "(IAM rejects the policy)"
    ]


@pytest.mark.parametrize("sid", ["", "Read", "Stmt1700000000000", "0"])
def test_letters_and_digits_make_a_sid(sid: str) -> None:
    assert parse_policy(_statements(_allow(Sid=sid))).statements[0].sid == sid


@pytest.mark.parametrize(
    ("resource", "extra"),
    [("my-bucket", ""), (" *", " (it has leading or trailing whitespace)"), ("s3:::x", "")],
)
def test_a_resource_that_is_neither_star_nor_an_arn_is_an_error(resource: str, extra: str) -> None:
    for element in ("Resource", "NotResource"):
        statement = {"Effect": "Allow", "Action": "s3:GetObject", element: ["*", resource]}
        lines = _errors(_statements(statement))
        assert lines == [
            f"p.json:9:9: error: `{element}` value `{resource}` is neither `*` nor an ARN "
            f"(`arn:partition:service:region:account:resource`){extra}"
        ]


@pytest.mark.parametrize(
    "resource", ["*", "arn:aws:s3:::my-bucket/*", "arn:aws:sqs:*", "arn:${aws:partition}:s3:::b"]
)
def test_stars_and_arn_patterns_are_resources(resource: str) -> None:
    assert parse_policy(_statements(_allow(Resource=resource))).statements[0].resource


@pytest.mark.parametrize("action", ["s3:Get* ", " s3:GetObject", "s3:GetObject\t"])
def test_an_action_with_surrounding_whitespace_is_an_error(action: str) -> None:
    lines = _errors(_statements(_allow(Action=action)))
    assert len(lines) == 1
    assert lines[0].startswith("p.json:6:17: error: action ")
    assert lines[0].endswith(
        "has leading or trailing whitespace, which no action name holds "
        f"(did you mean `{action.strip()}`?)"
    )
