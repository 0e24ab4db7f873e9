"""What checking a certificate found: one :class:`Finding` per part checked, gathered in a
:class:`CertificateReport` that renders as text or JSON, and the helpers that quote
names and texts in its messages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from iamrefine.choices import Verdict

FindingStatus = Literal["ok", "failed", "undecided"]


@dataclass
class Finding:
    """The outcome of checking one part of a certificate."""

    part: str
    status: FindingStatus
    message: str

    def to_json(self) -> dict[str, str]:
        return {"part": self.part, "status": self.status, "message": self.message}


@dataclass
class CertificateReport:
    """Every check :func:`check_certificate` made, and the claims' re-derived verdicts.

    ``status`` is ``VALID`` when every check passed, ``INVALID`` when one failed, and
    ``UNDECIDED`` when none failed but a solver could not decide an obligation.
    """

    source: str
    solvers: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    claims: dict[str, Verdict] = field(default_factory=dict)
    seconds: float = 0.0

    def ok(self, part: str, message: str) -> None:
        self.findings.append(Finding(part, "ok", message))

    def fail(self, part: str, message: str) -> None:
        self.findings.append(Finding(part, "failed", message))

    def undecided(self, part: str, message: str) -> None:
        self.findings.append(Finding(part, "undecided", message))

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "failed"]

    @property
    def failed_parts(self) -> list[str]:
        """The parts that failed, in order, each once."""
        return list(dict.fromkeys(f.part for f in self.failures))

    @property
    def status(self) -> str:
        if self.failures:
            return "INVALID"
        if any(f.status == "undecided" for f in self.findings):
            return "UNDECIDED"
        return "VALID"

    @property
    def valid(self) -> bool:
        return self.status == "VALID"

    def to_json(self) -> dict[str, Any]:
        return {
            "certificate": self.source,
            "status": self.status,
            "failed": self.failed_parts,
            "solvers": list(self.solvers),
            "claims": self.claims,
            "seconds": round(self.seconds, 4),
            "findings": [f.to_json() for f in self.findings],
        }

    def render(self) -> str:
        """A human-readable report, one line per finding and a closing verdict."""
        mark = {"ok": "ok", "failed": "FAILED", "undecided": "UNDECIDED"}
        lines = [f"certificate: {self.source}"]
        width = max((len(f.part) for f in self.findings), default=0)
        for f in self.findings:
            lines.append(f"  {f.part:<{width}}  {mark[f.status]}: {f.message}")
        for name, verdict in self.claims.items():
            lines.append(f"  claim `{name}`: {verdict}")
        tail = f"{self.status} ({self.seconds:.2f} s, solver: {', '.join(self.solvers)})"
        if self.failures:
            tail += "; failed: " + ", ".join(self.failed_parts)
        lines.append(tail)
        return "\n".join(lines) + "\n"


def first_difference(stored: str, derived: str) -> str:
    a, b = stored.splitlines(), derived.splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False), 1):
        if x != y:
            return f"line {i}: stored `{clip(x)}`, re-derived `{clip(y)}`"
    return f"stored text has {len(a)} lines, re-derived {len(b)}"


def clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def examples(names: Iterable[str], limit: int = 5) -> str:
    items = sorted(names)
    shown = ", ".join(f"`{n}`" for n in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
