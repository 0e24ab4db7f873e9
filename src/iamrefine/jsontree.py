"""The positioned JSON tree of a policy document: the raw-input checks (size, UTF-8,
allowed characters, nesting depth), the Lark LALR parser with its syntax diagnostics,
and the tree that :mod:`iamrefine.parse` validates into a policy. Readers of other
formats (YAML, CloudFormation, Terraform) build the same :class:`Node` tree."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iamrefine.errors import Diagnostic, PolicyError
from iamrefine.model import Layout, Number

if TYPE_CHECKING:
    from lark import Lark, Token

MAX_POLICY_BYTES = 1024 * 1024
"""Largest accepted policy file. AWS's largest policy quota is 10,240 non-whitespace
characters; one MiB leaves room for any indentation while keeping parse time short."""

MAX_DEPTH = 64
"""Deepest accepted nesting of JSON objects and lists (a valid policy needs 6)."""

MAX_CHAR_DIAGNOSTICS = 100
"""How many disallowed characters are reported one by one before a summary."""

BAD_CHAR = re.compile(r"[^\t\n\r\x20-\xff]")
_STRUCTURE = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[\[\]{}]')


# ---------------------------------------------------------------------------
# The positioned JSON tree built by the Transformer.


@dataclass(slots=True)
class Node:
    """A JSON value with its source span (line None when built from decoded JSON)."""

    kind: str  # object, array, string, number, boolean, null
    value: Any  # list[Member] | list[Node] | str | int | float | bool | None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    escaped: bool = False


@dataclass(slots=True)
class Member:
    """One ``"key": value`` member of an object."""

    key: str
    value: Node
    line: int | None = None
    column: int | None = None
    escaped: bool = False


def _decode_string(raw: str) -> tuple[str, bool]:
    if "\\" not in raw:
        return raw[1:-1], False
    return json.loads(raw), True


def _tokens(children: list[Any]) -> tuple[Token, Token]:
    return children[0], children[-1]


def _make_transformer() -> Any:
    from lark import Token, Transformer

    def span_node(kind: str, value: Any, first: Token, last: Token) -> Node:
        return Node(kind, value, first.line, first.column, last.end_line, last.end_column)

    class _ToTree(Transformer[Token, Node]):
        """Turn parse-tree callbacks into :class:`Node` values (stateless)."""

        def string(self, children: list[Token]) -> Node:
            tok = children[0]
            text, escaped = _decode_string(str(tok))
            node = span_node("string", text, tok, tok)
            node.escaped = escaped
            return node

        def number(self, children: list[Token]) -> Node:
            tok = children[0]
            return span_node("number", Number(str(tok)), tok, tok)

        def true(self, children: list[Token]) -> Node:
            return span_node("boolean", True, children[0], children[0])

        def false(self, children: list[Token]) -> Node:
            return span_node("boolean", False, children[0], children[0])

        def null(self, children: list[Token]) -> Node:
            return span_node("null", None, children[0], children[0])

        def array(self, children: list[Any]) -> Node:
            first, last = _tokens(children)
            items = [c for c in children if isinstance(c, Node)]
            return span_node("array", items, first, last)

        def _object(self, children: list[Any]) -> Node:
            first, last = _tokens(children)
            members = [c for c in children if isinstance(c, Member)]
            return span_node("object", members, first, last)

        object = top_object = statement_object = _object
        statement_list = array

        def _member(self, children: list[Any]) -> Member:
            tok = children[0]
            key, escaped = _decode_string(str(tok))
            return Member(key, children[2], tok.line, tok.column, escaped)

        other_member = element_member = version_member = _member
        id_member = statement_member = _member

        def _single(self, children: list[Any]) -> Node:
            node: Node = children[0]
            return node

        document = not_object = single_statement = _single
        statement_scalar = statement_item = _single

    return _ToTree()


def _grammar_text() -> str:
    packaged = resources.files("iamrefine").joinpath("_grammar", "iam_policy.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo = Path(__file__).resolve().parents[2] / "grammar" / "iam_policy.lark"
    return repo.read_text(encoding="utf-8")


def _parser_cache_file(grammar: str) -> str | None:
    """Where Lark keeps the built parser tables, or None when the cache folder cannot
    be made (the parser is then built every time)."""
    import hashlib
    import sys

    import lark

    from iamrefine.cache import cache_dir

    ident = f"{grammar}\0{lark.__version__}\0{sys.version_info[:2]}"
    digest = hashlib.sha256(ident.encode()).hexdigest()[:24]
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(folder / f"policy-parser-{digest}.lark")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The process-wide Lark parser.

    Building the LALR tables takes about 75 ms, so Lark's ``cache`` option saves them
    in the cache folder and later processes load them in about 5 ms. Lark stores a
    sha256 of the grammar, its options and the Lark and Python versions with the
    tables and rebuilds them when it does not match, or when the file cannot be read.
    """
    from lark import Lark

    grammar = _grammar_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        transformer=_make_transformer(),
        maybe_placeholders=False,
        cache=_parser_cache_file(grammar) or False,
    )


# ---------------------------------------------------------------------------
# Messages.

_TERMINAL_WORDS = {
    "COMMA": "`,`",
    "RBRACE": "`}`",
    "RSQB": "`]`",
    "COLON": "`:`",
    "STRING": "a string",
    "NUMBER": "a number",
    "LBRACE": "`{`",
    "LSQB": "`[`",
    "TRUE": "`true`",
    "FALSE": "`false`",
    "NULL": "`null`",
    "$END": "end of file",
    "<END-OF-FILE>": "end of file",
}
_VALUE_TERMINALS = {"STRING", "NUMBER", "LBRACE", "LSQB", "TRUE", "FALSE", "NULL"}
_KEYWORDS = {
    "VERSION",
    "ID",
    "STATEMENT",
    "SID",
    "EFFECT",
    "PRINCIPAL",
    "NOT_PRINCIPAL",
    "ACTION",
    "NOT_ACTION",
    "RESOURCE",
    "NOT_RESOURCE",
    "CONDITION",
}
_WORD_ORDER = ["`,`", "`}`", "`]`", "`:`", "a value", *_TERMINAL_WORDS.values()]


def _expected_words(expected: set[str]) -> str:
    names = {"STRING" if n in _KEYWORDS else n for n in expected}
    words: set[str] = set()
    if names >= _VALUE_TERMINALS:
        words.add("a value")
        names -= _VALUE_TERMINALS
    words.update(_TERMINAL_WORDS.get(n, f"`{n}`") for n in names)
    ordered = sorted(words, key=lambda w: (_WORD_ORDER.index(w) if w in _WORD_ORDER else 99, w))
    if len(ordered) <= 1:
        return "".join(ordered)
    return ", ".join(ordered[:-1]) + " or " + ordered[-1]


def shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def char_name(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def describe(node: Node) -> str:
    return {
        "object": "an object",
        "array": "a list",
        "string": "a string",
        "number": "a number",
        "boolean": "a boolean",
        "null": "null",
    }[node.kind]


def case_hint(key: str, names: tuple[str, ...]) -> str:
    for name in names:
        if key.lower() == name.lower():
            return f"; element names are case-sensitive: did you mean `{name}`?"
    return ""


# ---------------------------------------------------------------------------
# Raw-text checks.


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def decode_bytes(data: bytes, source: str) -> str:
    """Decode UTF-8, reporting every invalid byte sequence with its position."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    diags: list[Diagnostic] = []
    start = 0
    line, column = 1, 1
    while start < len(data):
        try:
            data[start:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            good = data[start : start + exc.start].decode("utf-8")
            newlines = good.count("\n")
            if newlines:
                line += newlines
                column = len(good) - good.rfind("\n")
            else:
                column += len(good)
            bad = data[start + exc.start : start + exc.end]
            shown = " ".join(f"0x{b:02x}" for b in bad)
            diags.append(
                Diagnostic(source, line, column, f"file is not valid UTF-8: byte `{shown}`")
            )
            column += 1
            start += exc.end
            if len(diags) >= MAX_CHAR_DIAGNOSTICS:
                break
    raise PolicyError(diags)


def check_characters(text: str, source: str) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    matches = BAD_CHAR.finditer(text)
    for count, match in enumerate(matches):
        line, column = _position(text, match.start())
        if count == MAX_CHAR_DIAGNOSTICS:
            rest = 1 + sum(1 for _ in matches)
            diags.append(
                Diagnostic(
                    source,
                    line,
                    column,
                    f"{rest} more characters outside the allowed range are not shown",
                )
            )
            break
        diags.append(
            Diagnostic(
                source,
                line,
                column,
                f"character `{char_name(match.group())}` is not allowed in a policy "
                "(allowed: tab, line feed, carriage return and U+0020 to U+00FF)",
            )
        )
    return diags


def check_depth(text: str, source: str) -> Diagnostic | None:
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _position(text, match.start())
                return Diagnostic(
                    source,
                    line,
                    column,
                    f"nesting is deeper than {MAX_DEPTH} levels; a policy needs at most 6",
                )
        elif token in "}]":
            depth -= 1
    return None


def _string_problem(text: str, offset: int) -> tuple[int, str]:
    """Explain why the JSON string starting at ``offset`` did not lex."""
    i = offset + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            break
        if ch == "\n" or ch == "\r":
            return offset, "invalid JSON: unterminated string"
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) < 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    return (
                        i,
                        f"invalid JSON: invalid escape `{shorten(text[i : i + 6])}` in string",
                    )
                i += 6
                continue
            if nxt and nxt in '"\\/bfnrt':
                i += 2
                continue
            return i, f"invalid JSON: invalid escape `\\{nxt}` in string"
        if ord(ch) < 0x20:
            return i, (
                f"invalid JSON: control character `{char_name(ch)}` in string "
                "must be written as an escape"
            )
        i += 1
    if i >= len(text):
        return offset, "invalid JSON: unterminated string"
    return offset, "invalid JSON: invalid string"


def _accepted(exc: Any) -> set[str]:
    """The terminals the parser could really take at the error.

    LALR tables merge lookaheads, so ``exc.expected`` may list tokens that would fail
    one reduction later (such as `]` after a member value); the interactive parser
    tries each candidate on a copy of the parser state.
    """
    expected: set[str] = set(exc.expected)
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is None:
        return expected
    try:
        accepted: set[str] = set(interactive.accepts())
    except Exception:
        return expected
    return accepted or expected


def _syntax_diagnostic(exc: Exception, text: str, source: str) -> Diagnostic:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        offset = exc.pos_in_stream
        assert offset is not None
        if text[offset] == '"':
            bad, message = _string_problem(text, offset)
            line, column = _position(text, bad)
            return Diagnostic(source, line, column, message)
        line, column = _position(text, offset)
        found = text[offset]
        shown = found if 0x20 <= ord(found) <= 0x7E else char_name(found)
        message = f"invalid JSON: unexpected character `{shown}`"
        if exc.allowed:
            message += f", expected {_expected_words(set(exc.allowed))}"
        return Diagnostic(source, line, column, message)
    if isinstance(exc, UnexpectedToken):
        expected = _expected_words(_accepted(exc))
        if exc.token.type == "$END":
            line, column = _position(text, len(text))
            return Diagnostic(
                source, line, column, f"invalid JSON: unexpected end of file, expected {expected}"
            )
        found = shorten(str(exc.token))
        if found in ("]", "}") and text[: exc.token.start_pos].rstrip(" \t\r\n").endswith(","):
            return Diagnostic(
                source,
                exc.token.line,
                exc.token.column,
                f"invalid JSON: trailing comma before `{found}`",
            )
        return Diagnostic(
            source,
            exc.token.line,
            exc.token.column,
            f"invalid JSON: expected {expected}, found `{found}`",
        )
    if isinstance(exc, UnexpectedEOF):
        line, column = _position(text, len(text))
        expected = _expected_words(set(exc.expected))
        return Diagnostic(
            source, line, column, f"invalid JSON: unexpected end of file, expected {expected}"
        )
    raise exc


def parse_json(text: str, source: str, char_diags: list[Diagnostic]) -> Node:
    """The positioned JSON tree of ``text``. Raises :class:`PolicyError` with every
    syntax error, going on after the common ones (see :mod:`iamrefine.recover`), and
    with ``char_diags``; a syntax error at a disallowed character is not repeated."""
    from lark.exceptions import UnexpectedInput

    from iamrefine.recover import Recovery

    def describe(exc: UnexpectedInput, key: str | None) -> Diagnostic:
        if key is None:
            return _syntax_diagnostic(exc, text, source)
        line, column = _position(text, exc.pos_in_stream or 0)
        return Diagnostic(
            source, line, column, f"invalid JSON: key `{key}` must be a string in double quotes"
        )

    parser = _parser()
    recovery = Recovery(text, describe, _keyword_terminals(parser))
    syntax = recovery.diagnostics
    try:
        root: Node = parser.parse(text, on_error=recovery)  # type: ignore[assignment]
    except UnexpectedInput as exc:
        syntax = [*syntax, _syntax_diagnostic(exc, text, source)]
    if not syntax:
        return root
    marked = {(d.line, d.column) for d in char_diags}
    kept = [d for d in syntax if (d.line, d.column) not in marked]
    raise PolicyError(ordered([*char_diags, *kept]))


def _keyword_terminals(parser: Lark) -> dict[str, str]:
    """Element name -> the grammar's terminal for it (``Version`` -> ``VERSION``)."""
    return {
        str(t.pattern.value).strip('"'): t.name for t in parser.terminals if t.name in _KEYWORDS
    }


def detect_layout(text: str) -> Layout:
    """The indent unit is the indentation of the first line after the opening line,
    relative to the root's own; a tab counts as four spaces. A document on one line
    has indent None."""
    trailing = text.endswith("\n")
    body = text.strip()
    first_newline = body.find("\n")
    if first_newline < 0:
        return Layout(indent=None, trailing_newline=trailing)
    start = text.find(body[:1])
    root_indent = start - (text.rfind("\n", 0, start) + 1)
    indent = None
    for line in body[first_newline + 1 :].split("\n"):
        stripped = line.lstrip(" \t")
        if stripped.strip():
            lead = line[: len(line) - len(stripped)]
            indent = max(0, len(lead.replace("\t", "    ")) - root_indent)
            break
    return Layout(indent=indent if indent is not None else 2, trailing_newline=trailing)


# ---------------------------------------------------------------------------


def from_python(obj: Any, depth: int = 0) -> Node:
    if depth > MAX_DEPTH:
        raise PolicyError.at("<policy>", f"nesting is deeper than {MAX_DEPTH} levels")
    if isinstance(obj, dict):
        members = []
        for key, value in obj.items():
            if not isinstance(key, str):
                raise PolicyError.at("<policy>", f"object key `{key!r}` is not a string")
            members.append(Member(key, from_python(value, depth + 1), escaped=True))
        return Node("object", members)
    if isinstance(obj, list | tuple):
        return Node("array", [from_python(v, depth + 1) for v in obj])
    if isinstance(obj, str):
        return Node("string", obj, escaped=True)
    if isinstance(obj, bool):
        return Node("boolean", obj)
    if isinstance(obj, Number):
        return Node("number", obj)
    if isinstance(obj, int | float):
        if isinstance(obj, float) and not math.isfinite(obj):
            raise PolicyError.at("<policy>", f"number `{obj}` is not a JSON number")
        return Node("number", Number.of(obj))
    if obj is None:
        return Node("null", None)
    raise PolicyError.at("<policy>", f"value of type `{type(obj).__name__}` is not JSON")


def ordered(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics without repeats, in source order."""
    unique: dict[tuple[int | None, int | None, str], Diagnostic] = {}
    for d in diags:
        unique.setdefault((d.line, d.column, d.message), d)
    return sorted(unique.values(), key=lambda d: (d.line or 0, d.column or 0))
