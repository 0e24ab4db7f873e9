"""Parse and validate IAM policy documents into the :mod:`iamrefine.model` AST.

Parsing runs in three stages:

1. Cheap checks on the raw input: size limit, UTF-8 decoding, the allowed character
   range (tab, LF, CR and U+0020..U+00FF) and a nesting-depth pre-scan, so that
   pathological inputs are rejected quickly and never reach the recursive stages.
2. The Lark LALR parser (grammar ``iam_policy.lark``), whose inline Transformer turns
   the tokens into a small positioned JSON tree. It goes on after a trailing comma, a
   missing comma and an unquoted key (:mod:`iamrefine.recover`) to report every such
   error; any other syntax error stops it, and a document with syntax errors is not
   validated further.
3. A validator that walks that tree and builds :class:`~iamrefine.model.Policy`,
   collecting every diagnostic (duplicate keys, unknown elements, wrong value types,
   missing or conflicting elements, bad action patterns, condition shapes).

Every problem found is reported, in source order, in one
:class:`~iamrefine.errors.PolicyError`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from iamrefine.errors import Diagnostic, PolicyError
from iamrefine.files import read_input
from iamrefine.model import (
    KNOWN_VERSIONS,
    STATEMENT_ELEMENTS,
    TOP_LEVEL_ELEMENTS,
    Condition,
    ConditionClause,
    ConditionEntry,
    Layout,
    Number,
    Policy,
    Scalar,
    Span,
    Statement,
    ValueList,
)

if TYPE_CHECKING:
    from lark import Lark, Token

MAX_POLICY_BYTES = 1024 * 1024
"""Largest accepted policy file. AWS's largest policy quota is 10,240 non-whitespace
characters; one MiB leaves room for any indentation while keeping parse time short."""

MAX_DEPTH = 64
"""Deepest accepted nesting of JSON objects and lists (a valid policy needs 6)."""

MAX_ACTION_LENGTH = 10_240
"""Longest accepted action pattern: the largest AWS policy size quota."""

MAX_CHAR_DIAGNOSTICS = 100
_SID = re.compile(r"[A-Za-z0-9]*")


def _opaque(text: str) -> bool:
    """Whether ``text`` is a template value known only at deploy time
    (:func:`iamrefine.sources.tree.opaque_token`), which AWS checks once it is resolved."""
    return text.startswith("{{") and text.endswith("}}")


"""How many disallowed characters are reported one by one before a summary."""

_BAD_CHAR = re.compile(r"[^\t\n\r\x20-\xff]")
_STRUCTURE = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[\[\]{}]')


# ---------------------------------------------------------------------------
# The positioned JSON tree built by the Transformer.


@dataclass(slots=True)
class _Node:
    """A JSON value with its source span (line None when built from decoded JSON)."""

    kind: str  # object, array, string, number, boolean, null
    value: Any  # list[_Member] | list[_Node] | str | int | float | bool | None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    escaped: bool = False


@dataclass(slots=True)
class _Member:
    """One ``"key": value`` member of an object."""

    key: str
    value: _Node
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

    def span_node(kind: str, value: Any, first: Token, last: Token) -> _Node:
        return _Node(kind, value, first.line, first.column, last.end_line, last.end_column)

    class _ToTree(Transformer[Token, _Node]):
        """Turn parse-tree callbacks into :class:`_Node` values (stateless)."""

        def string(self, children: list[Token]) -> _Node:
            tok = children[0]
            text, escaped = _decode_string(str(tok))
            node = span_node("string", text, tok, tok)
            node.escaped = escaped
            return node

        def number(self, children: list[Token]) -> _Node:
            tok = children[0]
            return span_node("number", Number(str(tok)), tok, tok)

        def true(self, children: list[Token]) -> _Node:
            return span_node("boolean", True, children[0], children[0])

        def false(self, children: list[Token]) -> _Node:
            return span_node("boolean", False, children[0], children[0])

        def null(self, children: list[Token]) -> _Node:
            return span_node("null", None, children[0], children[0])

        def array(self, children: list[Any]) -> _Node:
            first, last = _tokens(children)
            items = [c for c in children if isinstance(c, _Node)]
            return span_node("array", items, first, last)

        def _object(self, children: list[Any]) -> _Node:
            first, last = _tokens(children)
            members = [c for c in children if isinstance(c, _Member)]
            return span_node("object", members, first, last)

        object = top_object = statement_object = _object
        statement_list = array

        def _member(self, children: list[Any]) -> _Member:
            tok = children[0]
            key, escaped = _decode_string(str(tok))
            return _Member(key, children[2], tok.line, tok.column, escaped)

        other_member = element_member = version_member = _member
        id_member = statement_member = _member

        def _single(self, children: list[Any]) -> _Node:
            node: _Node = children[0]
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


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def _describe(node: _Node) -> str:
    return {
        "object": "an object",
        "array": "a list",
        "string": "a string",
        "number": "a number",
        "boolean": "a boolean",
        "null": "null",
    }[node.kind]


def _case_hint(key: str, names: tuple[str, ...]) -> str:
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


def _decode(data: bytes, source: str) -> str:
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


def _check_characters(text: str, source: str) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    matches = _BAD_CHAR.finditer(text)
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
                f"character `{_char_name(match.group())}` is not allowed in a policy "
                "(allowed: tab, line feed, carriage return and U+0020 to U+00FF)",
            )
        )
    return diags


def _check_depth(text: str, source: str) -> Diagnostic | None:
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
                        f"invalid JSON: invalid escape `{_shorten(text[i : i + 6])}` in string",
                    )
                i += 6
                continue
            if nxt and nxt in '"\\/bfnrt':
                i += 2
                continue
            return i, f"invalid JSON: invalid escape `\\{nxt}` in string"
        if ord(ch) < 0x20:
            return i, (
                f"invalid JSON: control character `{_char_name(ch)}` in string "
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
        shown = found if 0x20 <= ord(found) <= 0x7E else _char_name(found)
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
        found = _shorten(str(exc.token))
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


def _parse_json(text: str, source: str, char_diags: list[Diagnostic]) -> _Node:
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
        root: _Node = parser.parse(text, on_error=recovery)  # type: ignore[assignment]
    except UnexpectedInput as exc:
        syntax = [*syntax, _syntax_diagnostic(exc, text, source)]
    if not syntax:
        return root
    marked = {(d.line, d.column) for d in char_diags}
    kept = [d for d in syntax if (d.line, d.column) not in marked]
    raise PolicyError(_ordered([*char_diags, *kept]))


def _keyword_terminals(parser: Lark) -> dict[str, str]:
    """Element name -> the grammar's terminal for it (``Version`` -> ``VERSION``)."""
    return {
        str(t.pattern.value).strip('"'): t.name for t in parser.terminals if t.name in _KEYWORDS
    }


def _detect_layout(text: str) -> Layout:
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
# Validation: positioned JSON tree -> Policy.


@dataclass
class _Builder:
    source: str
    diags: list[Diagnostic] = field(default_factory=list)
    sids: dict[str, _Node] = field(default_factory=dict)
    """Each Sid seen so far, with the node of its first use."""

    def error(self, where: _Node | _Member | None, message: str) -> None:
        line = where.line if where is not None else None
        column = where.column if where is not None else None
        self.diags.append(Diagnostic(self.source, line, column, message))

    @staticmethod
    def span(node: _Node) -> Span | None:
        if node.line is None or node.column is None:
            return None
        assert node.end_line is not None and node.end_column is not None
        return Span(
            line=node.line,
            column=node.column,
            end_line=node.end_line,
            end_column=node.end_column,
        )

    # -- generic checks over the whole tree --------------------------------------------

    def check_tree(self, root: _Node) -> None:
        """Report duplicate keys and escaped characters outside the allowed range."""
        stack = [root]
        while stack:
            node = stack.pop()
            if node.kind == "object":
                seen: dict[str, _Member] = {}
                for member in node.value:
                    if member.escaped:
                        self.check_escaped(member, member.key)
                    first = seen.get(member.key)
                    if first is not None:
                        where = ""
                        if first.line is not None:
                            where = f" (first at {first.line}:{first.column})"
                        self.error(
                            member,
                            f"duplicate key `{_shorten(member.key)}`{where}; "
                            "AWS rejects duplicate keys",
                        )
                    else:
                        seen[member.key] = member
                    stack.append(member.value)
            elif node.kind == "array":
                stack.extend(node.value)
            elif node.kind == "string" and node.escaped:
                self.check_escaped(node, node.value)
            elif node.kind == "number" and not node.value.finite:
                self.error(node, "number is out of range (too many digits or too large)")

    def check_escaped(self, where: _Node | _Member, text: str) -> None:
        match = _BAD_CHAR.search(text)
        if match is not None:
            self.error(
                where,
                f"string contains character `{_char_name(match.group())}` (written as an "
                "escape), which is not allowed in a policy "
                "(allowed: tab, line feed, carriage return and U+0020 to U+00FF)",
            )

    # -- the document --------------------------------------------------------------------

    def members(self, node: _Node, names: tuple[str, ...], what: str) -> dict[str, _Member]:
        """Known members by name (first occurrence); reports unknown ones."""
        found: dict[str, _Member] = {}
        for member in node.value:
            if member.key in names:
                found.setdefault(member.key, member)
            else:
                hint = _case_hint(member.key, names)
                if not hint:
                    hint = " (expected one of " + ", ".join(f"`{n}`" for n in names) + ")"
                self.error(member, f"unknown element `{_shorten(member.key)}` in {what}{hint}")
        return found

    def policy(self, root: _Node) -> Policy | None:
        if root.kind != "object":
            self.error(root, f"a policy must be a JSON object, found {_describe(root)}")
            return None
        self.check_tree(root)
        found = self.members(root, TOP_LEVEL_ELEMENTS, "the policy")
        version = self.optional_string(found.get("Version"))
        if version is not None and version not in KNOWN_VERSIONS:
            assert found["Version"] is not None
            self.error(
                found["Version"].value,
                f"unknown policy version `{_shorten(version)}` "
                f"(expected `{KNOWN_VERSIONS[0]}` or `{KNOWN_VERSIONS[1]}`)",
            )
        policy_id = self.optional_string(found.get("Id"))
        statements: list[Statement | None] = []
        is_list = True
        stmt_member = found.get("Statement")
        if stmt_member is None:
            self.error(root, "the policy has no `Statement` element")
        else:
            value = stmt_member.value
            if value.kind == "object":
                is_list = False
                statements.append(self.statement(value))
            elif value.kind == "array":
                if not value.value:
                    self.error(value, "`Statement` must not be an empty list")
                for item in value.value:
                    if item.kind == "object":
                        statements.append(self.statement(item))
                    else:
                        self.error(item, f"a statement must be an object, found {_describe(item)}")
            else:
                self.error(
                    value,
                    f"`Statement` must be an object or a list of objects, found {_describe(value)}",
                )
        if self.diags:
            return None
        return Policy(
            version=version,
            id=policy_id,
            statements=[s for s in statements if s is not None],
            statement_is_list=is_list,
            keys=list(found),
        )

    def optional_string(self, member: _Member | None) -> str | None:
        if member is None:
            return None
        if member.value.kind != "string":
            self.error(
                member.value, f"`{member.key}` must be a string, found {_describe(member.value)}"
            )
            return None
        value: str = member.value.value
        return value

    # -- statements ----------------------------------------------------------------------

    def statement(self, node: _Node) -> Statement | None:
        before = len(self.diags)
        found = self.members(node, STATEMENT_ELEMENTS, "a statement")
        sid = self.optional_string(found.get("Sid"))
        if sid is not None:
            self.check_sid(found["Sid"].value, sid)
        effect = self.effect(node, found.get("Effect"))
        action = self.value_list(found.get("Action"), actions=True)
        not_action = self.value_list(found.get("NotAction"), actions=True)
        resource = self.value_list(found.get("Resource"), actions=False)
        not_resource = self.value_list(found.get("NotResource"), actions=False)
        principal = self.principal(found.get("Principal"))
        not_principal = self.principal(found.get("NotPrincipal"))
        condition = self.condition(found.get("Condition"))

        self.exclusive(node, found, "Action", "NotAction", required=True)
        has_principal = "Principal" in found or "NotPrincipal" in found
        self.exclusive(node, found, "Resource", "NotResource", required=not has_principal)
        self.exclusive(node, found, "Principal", "NotPrincipal", required=False)

        if len(self.diags) > before or effect is None:
            return None
        return Statement(
            sid=sid,
            effect=effect,
            action=action,
            not_action=not_action,
            resource=resource,
            not_resource=not_resource,
            principal=principal,
            not_principal=not_principal,
            condition=condition,
            keys=list(found),
            span=self.span(node),
        )

    def check_sid(self, node: _Node, sid: str) -> None:
        """IAM takes ASCII letters and digits only in a Sid, and each Sid once per policy
        (see proofs/aws-validation.md)."""
        if any(ord(c) < 0x20 or ord(c) > 0xFF for c in sid) or _opaque(sid):
            return  # the character checks report it already, or it is known at deploy time
        if not _SID.fullmatch(sid):
            self.error(
                node,
                f"`Sid` `{_shorten(sid)}` may hold only ASCII letters and digits "
                "(IAM rejects the policy)",
            )
        elif sid in self.sids:
            first = self.sids[sid]
            where = f"at line {first.line}" if first.line is not None else "by an earlier statement"
            self.error(
                node,
                f"`Sid` `{_shorten(sid)}` is already used {where} "
                "(IAM rejects a policy whose Sids are not unique)",
            )
        else:
            self.sids[sid] = node

    def exclusive(
        self, node: _Node, found: dict[str, _Member], one: str, other: str, *, required: bool
    ) -> None:
        if one in found and other in found:
            later = max(found[one], found[other], key=lambda m: (m.line or 0, m.column or 0))
            self.error(later, f"a statement cannot have both `{one}` and `{other}`")
        elif required and one not in found and other not in found:
            need = "" if one == "Action" else " (a statement without a principal needs one)"
            self.error(node, f"the statement has neither `{one}` nor `{other}`{need}")

    def effect(self, node: _Node, member: _Member | None) -> Literal["Allow", "Deny"] | None:
        if member is None:
            self.error(node, "the statement has no `Effect` element")
            return None
        value = member.value
        if value.kind != "string":
            self.error(value, f"`Effect` must be a string, found {_describe(value)}")
            return None
        if value.value not in ("Allow", "Deny"):
            hint = ""
            if value.value.lower() in ("allow", "deny"):
                hint = f"; values are case-sensitive: did you mean `{value.value.capitalize()}`?"
            self.error(
                value,
                f"invalid `Effect` value `{_shorten(value.value)}` "
                f"(expected `Allow` or `Deny`){hint}",
            )
            return None
        return "Allow" if value.value == "Allow" else "Deny"

    def value_list(self, member: _Member | None, *, actions: bool) -> ValueList | None:
        if member is None:
            return None
        node = member.value
        name = member.key
        if node.kind == "string":
            items, is_list = [node], False
        elif node.kind == "array":
            items, is_list = node.value, True
            if not items:
                self.error(node, f"`{name}` must not be an empty list")
                return None
        else:
            self.error(
                node, f"`{name}` must be a string or a list of strings, found {_describe(node)}"
            )
            return None
        ok = True
        for item in items:
            if item.kind != "string":
                self.error(item, f"`{name}` list items must be strings, found {_describe(item)}")
                ok = False
            elif not (self.action_ok(item) if actions else self.resource_ok(name, item)):
                ok = False
        if not ok:
            return None
        return ValueList(
            values=[item.value for item in items],
            is_list=is_list,
            span=self.span(node),
            spans=[self.span(item) for item in items],
        )

    def resource_ok(self, name: str, node: _Node) -> bool:
        """A resource is `*` or an ARN pattern (``arn:`` and anything, as IAM takes
        `arn:aws:sqs:*`); IAM rejects anything else (see proofs/aws-validation.md)."""
        text: str = node.value
        if text == "*" or text.startswith("arn:") or _opaque(text):
            return True
        hint = " (it has leading or trailing whitespace)" if text != text.strip() else ""
        self.error(
            node,
            f"`{name}` value `{_shorten(text)}` is neither `*` nor an ARN "
            f"(`arn:partition:service:region:account:resource`){hint}",
        )
        return False

    def action_ok(self, node: _Node) -> bool:
        text: str = node.value
        if len(text) > MAX_ACTION_LENGTH:
            self.error(
                node,
                f"action pattern `{_shorten(text)}` is {len(text):,} characters long, "
                f"longer than any AWS policy size quota allows ({MAX_ACTION_LENGTH:,})",
            )
            return False
        if text == "*":
            return True
        if text != text.strip():
            self.error(
                node,
                f"action `{_shorten(text)}` has leading or trailing whitespace, which no "
                f"action name holds (did you mean `{_shorten(text.strip())}`?)",
            )
            return False
        service, colon, _ = text.partition(":")
        if not colon:
            self.error(
                node,
                f"action `{_shorten(text)}` has no service prefix "
                "(expected `service:action` or `*`)",
            )
            return False
        if not service:
            self.error(
                node,
                f"action `{_shorten(text)}` has an empty service prefix "
                "(expected `service:action` or `*`)",
            )
            return False
        return True

    def principal(self, member: _Member | None) -> Any:
        if member is None:
            return None
        node = member.value
        if node.kind == "string":
            return node.value
        if node.kind == "object":
            out: dict[str, Any] = {}
            for entry in node.value:
                value = entry.value
                if value.kind == "string":
                    out[entry.key] = value.value
                elif value.kind == "array" and all(v.kind == "string" for v in value.value):
                    out[entry.key] = [v.value for v in value.value]
                else:
                    bad = value
                    if value.kind == "array":
                        bad = next(v for v in value.value if v.kind != "string")
                    self.error(
                        bad,
                        f"`{member.key}` entry `{_shorten(entry.key)}` must be a string or "
                        f"a list of strings, found {_describe(bad)}",
                    )
            return out
        self.error(
            node,
            f"`{member.key}` must be a string or an object of strings and lists of strings, "
            f"found {_describe(node)}",
        )
        return None

    def condition(self, member: _Member | None) -> Condition | None:
        if member is None:
            return None
        node = member.value
        if node.kind != "object":
            self.error(node, f"`Condition` must be an object of operators, found {_describe(node)}")
            return None
        clauses: list[ConditionClause] = []
        ok = True
        for op in node.value:
            if op.value.kind != "object":
                self.error(
                    op.value,
                    f"condition operator `{_shorten(op.key)}` must map to an object of "
                    f"condition keys, found {_describe(op.value)}",
                )
                ok = False
                continue
            entries: list[ConditionEntry] = []
            for entry in op.value.value:
                built = self.condition_entry(op.key, entry)
                if built is None:
                    ok = False
                else:
                    entries.append(built)
            clauses.append(
                ConditionClause(operator=op.key, entries=entries, span=self.span(op.value))
            )
        if not ok:
            return None
        return Condition(clauses=clauses, span=self.span(node))

    def condition_entry(self, operator: str, entry: _Member) -> ConditionEntry | None:
        value = entry.value
        scalars = ("string", "number", "boolean")
        what = f"condition key `{_shorten(entry.key)}` under `{_shorten(operator)}`"
        if value.kind in scalars:
            items, is_list = [value], False
        elif value.kind == "array":
            items, is_list = value.value, True
        else:
            self.error(
                value,
                f"{what} must have a string, number or boolean value, or a list of them; "
                f"found {_describe(value)}",
            )
            return None
        bad = [item for item in items if item.kind not in scalars]
        for item in bad:
            self.error(
                item,
                f"{what}: list items must be strings, numbers or booleans, found {_describe(item)}",
            )
        if bad:
            return None
        values: list[Scalar] = [item.value for item in items]
        return ConditionEntry(key=entry.key, values=values, is_list=is_list, span=self.span(value))


def _finish(builder: _Builder, root: _Node, extra: list[Diagnostic]) -> Policy:
    policy = builder.policy(root)
    diags = extra + builder.diags
    if diags or policy is None:
        raise PolicyError(_ordered(diags))
    return policy


def _ordered(diags: list[Diagnostic]) -> list[Diagnostic]:
    unique: dict[tuple[int | None, int | None, str], Diagnostic] = {}
    for d in diags:
        unique.setdefault((d.line, d.column, d.message), d)
    return sorted(unique.values(), key=lambda d: (d.line or 0, d.column or 0))


# ---------------------------------------------------------------------------
# Public API.


def _too_large(source: str, size: int) -> PolicyError:
    return PolicyError(
        Diagnostic(
            source,
            None,
            None,
            f"policy file is {size:,} bytes, larger than the limit of {MAX_POLICY_BYTES:,} "
            "bytes (AWS's largest policy quota is 10,240 non-whitespace characters)",
        )
    )


def parse_policy(data: str | bytes, source: str = "<policy>") -> Policy:
    """Parse and validate a policy document.

    ``data`` is the file's bytes (decoded as UTF-8) or text. Raises
    :class:`~iamrefine.errors.PolicyError` with every diagnostic found, in source
    order. The returned policy has ``source`` set and ``layout`` detected from the
    text (indent width, or None for a single-line document; trailing newline).
    """
    if isinstance(data, bytes):
        size = len(data)
    elif len(data) > MAX_POLICY_BYTES:
        size = len(data)  # a lower bound is enough to reject it
    else:
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_POLICY_BYTES:
        raise _too_large(source, size)
    text = _decode(data, source) if isinstance(data, bytes) else data
    if not text.strip(" \t\r\n"):
        raise PolicyError.at(source, "the policy is empty; expected a JSON object", 1, 1)
    char_diags = _check_characters(text, source)
    if text.startswith("\ufeff"):
        # Report the byte order mark once, then parse the rest with columns unchanged.
        char_diags[0] = Diagnostic(
            source,
            1,
            1,
            "character `U+FEFF` is not allowed in a policy (the file starts with a UTF-8 "
            "byte order mark; save it without one)",
        )
        text = " " + text[1:]
    depth_diag = _check_depth(text, source)
    if depth_diag is not None:
        raise PolicyError(_ordered([*char_diags, depth_diag]))

    root = _parse_json(text, source, char_diags)
    policy = _finish(_Builder(source), root, char_diags)
    policy.source = source
    policy.layout = _detect_layout(text)
    policy.source_text = text  # a byte order mark is an error, so text is the source
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and parse the policy file at ``path`` (``-``: standard input)."""
    data = read_input(
        path,
        limit=MAX_POLICY_BYTES,
        what="policy file",
        error=PolicyError,
        why="AWS's largest policy quota is 10,240 non-whitespace characters",
    )
    return parse_policy(data, str(path))


def _from_python(obj: Any, depth: int = 0) -> _Node:
    if depth > MAX_DEPTH:
        raise PolicyError.at("<policy>", f"nesting is deeper than {MAX_DEPTH} levels")
    if isinstance(obj, dict):
        members = []
        for key, value in obj.items():
            if not isinstance(key, str):
                raise PolicyError.at("<policy>", f"object key `{key!r}` is not a string")
            members.append(_Member(key, _from_python(value, depth + 1), escaped=True))
        return _Node("object", members)
    if isinstance(obj, list | tuple):
        return _Node("array", [_from_python(v, depth + 1) for v in obj])
    if isinstance(obj, str):
        return _Node("string", obj, escaped=True)
    if isinstance(obj, bool):
        return _Node("boolean", obj)
    if isinstance(obj, Number):
        return _Node("number", obj)
    if isinstance(obj, int | float):
        if isinstance(obj, float) and not math.isfinite(obj):
            raise PolicyError.at("<policy>", f"number `{obj}` is not a JSON number")
        return _Node("number", Number.of(obj))
    if obj is None:
        return _Node("null", None)
    raise PolicyError.at("<policy>", f"value of type `{type(obj).__name__}` is not JSON")


def policy_from_json(obj: Any, source: str = "<policy>") -> Policy:
    """Build a policy from already-decoded JSON (dicts keep their order).

    Applies the same validation as :func:`parse_policy` (without positions: duplicate
    keys cannot occur in a dict). The layout is the default (indent 2).
    """
    try:
        root = _from_python(obj)
    except PolicyError as exc:
        raise PolicyError(
            [Diagnostic(source, None, None, d.message) for d in exc.diagnostics]
        ) from None
    policy = _finish(_Builder(source), root, [])
    policy.source = source
    return policy


# ---------------------------------------------------------------------------
# Positioned trees built by other readers (YAML, CloudFormation, Terraform).

PositionedNode = _Node
"""A JSON value with its 1-based source span; readers of other formats build these."""

PositionedMember = _Member
"""One ``key: value`` member of a :data:`PositionedNode` object."""


def policy_from_tree(root: _Node, source: str) -> Policy:
    """Validate a positioned tree built by another reader, exactly as a parsed JSON
    policy is validated; diagnostics carry the tree's positions in ``source``."""
    policy = _finish(_Builder(source), root, [])
    policy.source = source
    return policy
