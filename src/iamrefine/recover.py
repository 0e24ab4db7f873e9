"""Recovery from the common JSON syntax errors, so that one scan reports them all.

The Lark LALR parser calls :class:`Recovery` at each syntax error (its ``on_error``
hook). Three mistakes are repaired in the parser's state and the scan goes on:

- a trailing comma before ``]`` or ``}``: a placeholder item (or member) is fed, so
  the list or object closes as if the comma were not there;
- a missing comma between two items or members: the comma is fed, then the token
  that followed;
- an unquoted object key followed by ``:`` (letters, digits and ``_ - . / :``):
  the key is fed as the string it stands for (or as the element name it spells).

Every other error stops the scan. Each error is described (by the caller's
``describe``) when it happens, before the parser's state changes. A document with
syntax errors has no meaning to validate, so the caller reports the syntax errors
only; the placeholders never reach a policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iamrefine.errors import Diagnostic

if TYPE_CHECKING:
    from lark import Token
    from lark.exceptions import UnexpectedInput

MAX_RECOVERED = 100
"""How many syntax errors one scan reports before it stops."""

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-./]*(?::[A-Za-z0-9_\-./]+)*(?=[ \t\r\n]*:)")
_CLOSERS = {"RSQB", "RBRACE"}


class Recovery:
    """An ``on_error`` handler for one parse of ``text``; ``diagnostics`` lists every
    error it repaired, described by ``describe`` (``key`` is the unquoted key, or
    None for the other errors)."""

    def __init__(
        self,
        text: str,
        describe: Callable[[UnexpectedInput, str | None], Diagnostic],
        keywords: dict[str, str],
    ) -> None:
        self.text = text
        self.describe = describe
        self.keywords = keywords
        self.diagnostics: list[Diagnostic] = []

    def __call__(self, exc: UnexpectedInput) -> bool:
        from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

        if len(self.diagnostics) >= MAX_RECOVERED:
            return False
        try:
            if isinstance(exc, UnexpectedToken):
                return self._token(exc)
            if isinstance(exc, UnexpectedCharacters):
                return self._characters(exc)
        except UnexpectedInput:
            # A repair the parser refused after all: the error stops the scan.
            return False
        return False

    # --- trailing and missing commas ---------------------------------------------

    def _token(self, exc: Any) -> bool:

        parser = exc.interactive_parser
        token: Token = exc.token
        if parser is None or token.type == "$END":
            return False
        before = self.text[: token.start_pos].rstrip(" \t\r\n")
        if token.type in _CLOSERS and before.endswith(","):
            placeholder = self._placeholder(parser, token)
            if placeholder is None:
                return False
            found = self.describe(exc, None)
            for fake in placeholder:
                parser.feed_token(fake)
            parser.feed_token(token)
            self.diagnostics.append(found)
            return True
        accepted = parser.accepts()
        if "COMMA" not in accepted:
            return False
        trial = parser.copy()
        comma = _like(token, "COMMA", ",")
        trial.feed_token(comma)
        follow = self._retype(token, trial.accepts())
        if follow is None:
            return False
        found = self.describe(exc, None)
        parser.feed_token(comma)
        parser.feed_token(follow)
        self.diagnostics.append(found)
        return True

    def _placeholder(self, parser: Any, token: Token) -> list[Token] | None:
        """Tokens that complete the item or member a trailing comma started."""
        accepted = parser.accepts()
        if "NULL" in accepted:
            return [_like(token, "NULL", "null")]
        if "STRING" in accepted:
            return [
                _like(token, "STRING", '""'),
                _like(token, "COLON", ":"),
                _like(token, "NULL", "null"),
            ]
        return None

    def _retype(self, token: Token, accepted: set[str]) -> Token | None:
        """``token`` as the parser can take it here: an element name is a plain string
        outside the positions of element names."""
        if token.type in accepted:
            return token
        if token.type in self.keywords.values() and "STRING" in accepted:
            return _like(token, "STRING", str(token))
        return None

    # --- unquoted keys --------------------------------------------------------------

    def _characters(self, exc: Any) -> bool:
        parser = exc.interactive_parser
        if parser is None:
            return False
        match = _KEY.match(self.text, exc.pos_in_stream)
        if match is None:
            return False
        name = match.group()
        accepted = parser.accepts()
        kind = self.keywords.get(name)
        if kind is None or kind not in accepted:
            kind = "STRING"
        if kind not in accepted:
            return False
        from lark import Token

        found = self.describe(exc, name)
        state = parser.lexer_thread.state
        start = state.line_ctr
        token = Token(
            kind,
            f'"{name}"',
            start_pos=start.char_pos,
            line=start.line,
            column=start.column,
            end_line=start.line,
            end_column=start.column + len(name),
            end_pos=start.char_pos + len(name),
        )
        parser.feed_token(token)
        state.line_ctr.feed(name)
        self.diagnostics.append(found)
        return True


def _like(token: Token, kind: str, value: str) -> Token:
    """A token of type ``kind`` at ``token``'s position."""
    from lark import Token

    return Token.new_borrow_pos(kind, value, token)
