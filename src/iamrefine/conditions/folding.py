"""Case folding for the ``*IgnoreCase`` operators, under two readings.

AWS documents that ``StringEqualsIgnoreCase`` ignores case, but not which characters it
folds. Two readings are plausible, and they differ beyond ASCII:

- :attr:`Folding.ASCII`: only ``A``-``Z`` fold to ``a``-``z``;
- :attr:`Folding.UNICODE`: each character folds on its own, as Java's
  ``String.equalsIgnoreCase`` does: two characters are equal when they are, or when
  their upper cases are, or when the lower cases of their upper cases are
  (single-character mappings only). So ``é`` equals ``É``, and ``k`` equals the
  Kelvin sign U+212A.

The checker decides every query that reads an ``*IgnoreCase`` entry under both readings
and reports PROVED or REFUTED only where they agree (``proofs/THEOREMS.md`` §11).
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache

MAX_CHAR = 0x2FFFF
"""The largest character both solvers model (SMT-NOTES §8)."""


class Folding(Enum):
    ASCII = "ascii"
    UNICODE = "unicode"


def _one(mapped: str, ch: str) -> str:
    return mapped if len(mapped) == 1 else ch


def fold_key(ch: str, folding: Folding) -> str:
    """The character ``ch`` stands for under ``folding``: equal keys, equal characters."""
    if folding is Folding.ASCII:
        return chr(ord(ch) + 32) if "A" <= ch <= "Z" else ch
    upper = _one(ch.upper(), ch)
    return _one(upper.lower(), upper)


@lru_cache(maxsize=1)
def _unicode_classes() -> dict[str, tuple[str, ...]]:
    classes: dict[str, list[str]] = {}
    for code in range(MAX_CHAR + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        ch = chr(code)
        key = fold_key(ch, Folding.UNICODE)
        if key != ch or ch.upper() != ch or ch.lower() != ch:
            classes.setdefault(key, []).append(ch)
    return {k: tuple(sorted(set(v) | {k})) for k, v in classes.items()}


LATIN1_UNICODE_CLASSES: dict[str, str] = {
    "I": "Iiı",
    "K": "KkK",
    "S": "Ssſ",
    "i": "Iiı",
    "k": "KkK",
    "s": "Ssſ",
    "µ": "µΜμ",
    "À": "Àà",
    "Á": "Áá",
    "Â": "Ââ",
    "Ã": "Ãã",
    "Ä": "Ää",
    "Å": "ÅåÅ",
    "Æ": "Ææ",
    "Ç": "Çç",
    "È": "Èè",
    "É": "Éé",
    "Ê": "Êê",
    "Ë": "Ëë",
    "Ì": "Ìì",
    "Í": "Íí",
    "Î": "Îî",
    "Ï": "Ïï",
    "Ð": "Ðð",
    "Ñ": "Ññ",
    "Ò": "Òò",
    "Ó": "Óó",
    "Ô": "Ôô",
    "Õ": "Õõ",
    "Ö": "Öö",
    "Ø": "Øø",
    "Ù": "Ùù",
    "Ú": "Úú",
    "Û": "Ûû",
    "Ü": "Üü",
    "Ý": "Ýý",
    "Þ": "Þþ",
    "ß": "ßẞ",
    "à": "Àà",
    "á": "Áá",
    "â": "Ââ",
    "ã": "Ãã",
    "ä": "Ää",
    "å": "ÅåÅ",
    "æ": "Ææ",
    "ç": "Çç",
    "è": "Èè",
    "é": "Éé",
    "ê": "Êê",
    "ë": "Ëë",
    "ì": "Ìì",
    "í": "Íí",
    "î": "Îî",
    "ï": "Ïï",
    "ð": "Ðð",
    "ñ": "Ññ",
    "ò": "Òò",
    "ó": "Óó",
    "ô": "Ôô",
    "õ": "Õõ",
    "ö": "Öö",
    "ø": "Øø",
    "ù": "Ùù",
    "ú": "Úú",
    "û": "Ûû",
    "ü": "Üü",
    "ý": "Ýý",
    "þ": "Þþ",
    "ÿ": "ÿŸ",
}
"""For each policy character (U+0020 to U+00FF) whose Unicode class is larger than its
ASCII class, that class; :func:`unicode_class_scan` recomputes it (a test compares)."""


def unicode_class_scan(ch: str) -> tuple[str, ...]:
    """The Unicode class of ``ch`` by scanning every character up to :data:`MAX_CHAR`."""
    return _unicode_classes().get(fold_key(ch, Folding.UNICODE), (ch,))


def fold_class(ch: str, folding: Folding) -> tuple[str, ...]:
    """Every character (up to :data:`MAX_CHAR`) equal to ``ch`` under ``folding``."""
    low = fold_key(ch, Folding.ASCII)
    ascii_class = tuple(sorted({low, low.upper() if "a" <= low <= "z" else low}))
    if folding is Folding.ASCII:
        return ascii_class
    if ord(ch) <= 0xFF:
        found = LATIN1_UNICODE_CLASSES.get(ch)
        return tuple(found) if found is not None else ascii_class
    return unicode_class_scan(ch)


def equal_ignoring_case(a: str, b: str, folding: Folding) -> bool:
    """Are ``a`` and ``b`` equal under ``folding``, character by character?"""
    return len(a) == len(b) and all(
        fold_key(x, folding) == fold_key(y, folding) for x, y in zip(a, b, strict=True)
    )


def folds_differ(text: str) -> bool:
    """Can the two readings tell some string apart from ``text``? (True when ``text`` has
    a character whose Unicode class holds more than its ASCII class.)"""
    return any(
        len(fold_class(ch, Folding.UNICODE)) > len(fold_class(ch, Folding.ASCII)) for ch in text
    )
