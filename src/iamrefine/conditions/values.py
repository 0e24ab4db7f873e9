"""Typed condition values: parsing policy and request values (numbers, dates, CIDR
blocks, addresses) exactly, and rendering model values as a user writes them."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import TYPE_CHECKING

from iamrefine.model import Scalar

if TYPE_CHECKING:
    pass


_VAR = re.compile(r"\$\{([^}]*)\}")
_NUMBER = re.compile(r"([+-]?)(\d+)(?:\.(\d*))?|([+-]?)\.(\d+)")
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?"
)


def lower(text: str) -> str:
    """ASCII lowercase (condition keys are case-insensitive; IgnoreCase folds only A-Z)."""
    return text.translate(_FOLD)


_FOLD = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def scalar_text(value: Scalar) -> str:
    """A JSON scalar as the string AWS compares (``true``, ``42``, ``1.5``)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def parse_number(text: str) -> Fraction | None:
    """A decimal number (optional sign, digits, optional fraction; no exponent)."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        return None
    if m.group(2) is not None:
        sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    else:
        sign, whole, frac = m.group(4), "0", m.group(5)
    value = Fraction(int(whole + frac), 10 ** len(frac))
    return -value if sign == "-" else value


def _days(y: int, m: int, d: int) -> int:
    # Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_date(text: str) -> Fraction | None:
    """Seconds since 1970-01-01T00:00:00Z of an ISO 8601 date/time (no offset: UTC) or of
    an integer epoch-seconds value; None when malformed."""
    if re.fullmatch(r"-?\d+", text):
        return Fraction(int(text))
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hh, mm, ss = (int(m.group(i) or 0) for i in (4, 5, 6))
    month_days = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30]
    month_days += [31, 30, 31, 31, 30, 31, 30, 31]
    if not (1 <= mo <= 12 and 1 <= d <= month_days[mo - 1] and hh < 24 and mm < 60 and ss < 60):
        return None
    frac = m.group(7) or ""
    seconds = Fraction(_days(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss)
    seconds += Fraction(int(frac or "0"), 10 ** len(frac))
    zone = m.group(8)
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds


def parse_cidr(text: str) -> tuple[int, int, int] | None:
    """``(version, network, prefix length)`` of an address or CIDR block (host bits
    cleared); None when malformed."""
    addr, slash, bits = text.partition("/")
    parsed = parse_address(addr)
    if parsed is None:
        return None
    version, value = parsed
    width = 32 if version == 4 else 128
    if slash:
        if not bits.isdigit() or int(bits) > width or len(bits) > 3:
            return None
        n = int(bits)
    else:
        n = width
    mask = ((1 << n) - 1) << (width - n)
    return version, value & mask, n


def parse_address(text: str) -> tuple[int, int] | None:
    """``(4, value)`` or ``(6, value)`` of an IP address; None when malformed."""
    if ":" not in text:
        parts = text.split(".")
        if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
            return None
        nums = [int(p) for p in parts]
        if any(n > 255 for n in nums):
            return None
        return 4, (nums[0] << 24) | (nums[1] << 16) | (nums[2] << 8) | nums[3]
    head, double, tail = text.partition("::")
    if "::" in tail:
        return None

    def groups(part: str) -> list[int] | None:
        if not part:
            return []
        out = []
        chunks = part.split(":")
        for i, g in enumerate(chunks):
            if i == len(chunks) - 1 and "." in g:
                v4 = parse_address(g)
                if v4 is None:
                    return None
                out += [v4[1] >> 16, v4[1] & 0xFFFF]
            elif 1 <= len(g) <= 4 and all(c in "0123456789abcdefABCDEF" for c in g):
                out.append(int(g, 16))
            else:
                return None
        return out

    left, right = groups(head), groups(tail)
    if left is None or right is None:
        return None
    missing = 8 - len(left) - len(right)
    if (double and missing < 1) or (not double and missing != 0):
        return None
    value = 0
    for g in [*left, *([0] * missing), *right]:
        value = (value << 16) | g
    return 6, value


# --- rendering ------------------------------------------------------------------------


def render_number(value: Fraction) -> str:
    """A rational as a decimal a user would write (exact when the denominator divides a
    power of ten, else to 30 places)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    whole, rest = divmod(value.numerator, value.denominator)
    if rest == 0:
        return f"{sign}{whole}"
    digits = ""
    while rest and len(digits) < 30:
        rest *= 10
        digits += str(rest // value.denominator)
        rest %= value.denominator
    return f"{sign}{whole}.{digits}"


def render_date(value: Fraction) -> str:
    """Epoch seconds as ISO 8601 UTC (``2026-01-01T00:00:00Z``)."""
    whole = value.numerator // value.denominator
    frac = value - whole
    days, secs = divmod(whole, 86400)
    # Civil date from days since the epoch (inverse of _days).
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (m <= 2)
    text = f"{y:04d}-{m:02d}-{d:02d}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    if frac:
        text += render_number(frac)[1:]
    return text + "Z"


def render_address(value: int, v4: bool) -> str:
    """An address as written: dotted quad, or IPv6 in its compressed form."""
    if v4:
        value &= 0xFFFFFFFF
        return ".".join(str(value >> s & 0xFF) for s in (24, 16, 8, 0))
    groups = [value >> (112 - 16 * i) & 0xFFFF for i in range(8)]
    best, start = (0, -1), -1
    for i in range(9):
        if i < 8 and groups[i] == 0:
            start = i if start < 0 else start
        elif start >= 0:
            if i - start > best[0] and i - start > 1:
                best = (i - start, start)
            start = -1
    hexes = [format(g, "x") for g in groups]
    if best[1] < 0:
        return ":".join(hexes)
    n, s = best
    return ":".join(hexes[:s]) + "::" + ":".join(hexes[s + n :])
