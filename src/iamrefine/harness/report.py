"""Showing and saving harness results: rich tables, the JSON report, JUnit XML, and
the progress bar.

The progress bar goes to stderr and is disabled when stderr is not a terminal;
tables go to the console given (stdout by default).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from iamrefine.files import write_atomic
from iamrefine.harness.regress import (
    CRASHED,
    EXACT,
    INVALID,
    PRECEDENCE,
    TIMEOUT,
    CaseResult,
    RatioStats,
    RegressReport,
)

if TYPE_CHECKING:
    from rich.console import Console

    from iamrefine.harness.batch import BatchReport

REPORT_FORMAT = 1
_ERROR_VERDICTS = frozenset({INVALID, CRASHED, TIMEOUT})
_STYLE = {
    EXACT: "green",
    "over-permissive": "red",
    "under-permissive": "red",
    "escalation": "red",
    INVALID: "magenta",
    CRASHED: "magenta",
    TIMEOUT: "yellow",
    "unknown": "yellow",
}


class Progress:
    """A counter shown on stderr: a rich progress bar when stderr is a terminal, else
    one plain line per finished case (``iamrefine: note: TITLE N/TOTAL: LABEL``), which
    a CI log keeps."""

    def __init__(
        self, bar: Any, task: Any, *, total: int = 0, title: str = "", plain: bool = False
    ) -> None:
        self._bar = bar
        self._task = task
        self._title = title
        self._plain = plain
        self._done = 0
        self._total = total

    def advance(self, label: str = "") -> None:
        """Count one finished case; ``label`` is shown next to the bar."""
        self._done += 1
        self._bar.update(self._task, advance=1, description=label[:40])
        if self._plain:
            of = f"/{self._total}" if self._total else ""
            tail = f": {label}" if label else ""
            print(f"iamrefine: note: {self._title} {self._done}{of}{tail}", file=sys.stderr)

    def restart(self, total: int, title: str = "") -> None:
        """Start counting again, up to ``total`` (for a count known only later)."""
        self._done = 0
        self._total = total
        self._bar.reset(self._task, total=total, description=title[:40])


@contextmanager
def progress_bar(total: int, title: str) -> Iterator[Progress]:
    """A progress bar over ``total`` cases, for the duration of the block."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    console = Console(stderr=True)
    bar = RichProgress(
        TextColumn(f"{title} [dim]{{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not sys.stderr.isatty(),
    )
    with bar:
        task = bar.add_task("", total=total)
        yield Progress(bar, task, total=total, title=title, plain=not sys.stderr.isatty())


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ratio_line(label: str, stats: RatioStats) -> str:
    if stats.count == 0:
        return f"{label}: no case to compare"
    return (
        f"{label}: median {_ratio(stats.median)}, worst {_ratio(stats.worst)} ({stats.worst_case})"
    )


def summary_line(report: RegressReport) -> str:
    """One line: cases, counts per verdict (non-zero ones), and the size ratios."""
    counts = ", ".join(f"{n} {v}" for v, n in report.counts.items() if n)
    patterns = report.ratio_stats("pattern_ratio")
    chars = report.ratio_stats("char_ratio")
    return (
        f"{len(report.cases)} cases in {report.seconds:.1f} s: {counts}; "
        f"size vs iamrefine: patterns median {_ratio(patterns.median)} "
        f"worst {_ratio(patterns.worst)}, characters median {_ratio(chars.median)} "
        f"worst {_ratio(chars.worst)}"
    )


def print_regress(
    report: RegressReport, console: Console | None = None, *, max_rows: int = 50
) -> None:
    """Print the failing cases (at most ``max_rows``), the count per verdict with the
    size ratios, and the summary line."""
    from rich.console import Console
    from rich.table import Table

    out = console or Console()
    failing = [c for c in report.cases if c.verdict != EXACT]
    if failing:
        table = Table(title=f"Cases not exact ({len(failing)})", title_justify="left")
        table.add_column("case", overflow="fold")
        table.add_column("verdict")
        table.add_column("findings")
        table.add_column("detail", overflow="fold")
        for case in failing[:max_rows]:
            style = _STYLE.get(case.verdict, "")
            flags = ", ".join(f"[{_STYLE.get(f, '')}]{f}[/]" for f in case.findings) or "-"
            table.add_row(case.name, f"[{style}]{case.verdict}[/]", flags, _escape(case.detail))
        out.print(table)
        if len(failing) > max_rows:
            out.print(f"... and {len(failing) - max_rows} more (see --json)")
    out.print(f"refiner: {_escape(report.refiner)}", soft_wrap=True)
    out.print(f"corpus: {_escape(report.corpus)}", soft_wrap=True)
    table = Table(title="Verdicts", title_justify="left")
    table.add_column("verdict")
    table.add_column("cases", justify="right")
    table.add_column("flagged", justify="right")
    counts, flagged = report.counts, report.finding_counts
    for verdict in PRECEDENCE:
        count = counts[verdict]
        style = _STYLE.get(verdict, "") if count or flagged.get(verdict) else "dim"
        also = str(flagged[verdict]) if verdict in flagged else ""
        table.add_row(f"[{style}]{verdict}[/]", f"[{style}]{count}[/]", f"[{style}]{also}[/]")
    out.print(table)
    for label, which in (
        ("size ratio, patterns", "pattern_ratio"),
        ("size ratio, non-whitespace characters", "char_ratio"),
    ):
        out.print(_escape(_ratio_line(label, report.ratio_stats(which))), soft_wrap=True)
    for line in REGRESS_LEGEND:
        out.print(f"[dim]{_escape(line)}[/]", soft_wrap=True)
    out.print(_escape(summary_line(report)), soft_wrap=True)


REGRESS_LEGEND = (
    "verdicts: each case gets the first that applies, in the order of the table; a "
    "result refuted in several ways is named after the most severe finding; `flagged` "
    "counts every case with that finding, whatever its verdict",
    "size ratio: the refiner's output size over iamrefine's own refinement of the same "
    "case (1.00 = the same size, above 1 = larger); `worst` is the largest ratio, with "
    "its case",
)
"""What the verdict table and the size ratio lines mean, printed under them."""


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def regress_json(report: RegressReport) -> dict[str, Any]:
    """The full report: run parameters, summary and every case."""
    return {
        "format": REPORT_FORMAT,
        "kind": "iamrefine-regress",
        "corpus": report.corpus,
        "refiner": report.refiner,
        "catalog": report.catalog,
        "timeout": report.timeout,
        "seconds": round(report.seconds, 3),
        "summary": {
            "cases": len(report.cases),
            "all_exact": report.all_exact,
            "verdicts": report.counts,
            "findings": report.finding_counts,
            "pattern_ratio": _stats_json(report.ratio_stats("pattern_ratio")),
            "char_ratio": _stats_json(report.ratio_stats("char_ratio")),
        },
        "cases": [c.to_json() for c in report.cases],
    }


def _stats_json(stats: RatioStats) -> dict[str, Any]:
    return {
        "cases": stats.count,
        "median": stats.median,
        "worst": stats.worst,
        "worst_case": stats.worst_case,
    }


def write_json(data: dict[str, Any], path: str | Path) -> None:
    """Write ``data`` as indented JSON, atomically, creating missing folders."""
    write_atomic(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n", parents=True)


def _case_text(case: CaseResult) -> str:
    parts = [case.detail]
    parts.extend(case.errors)
    for cx in case.counterexamples:
        parts.append(json.dumps(cx, indent=2, ensure_ascii=False))
    if case.stderr_tail:
        parts.append("stderr (tail):\n" + case.stderr_tail)
    return "\n".join(p for p in parts if p)


def regress_junit(report: RegressReport) -> bytes:
    """JUnit XML: one test case per corpus case. Refuted and undecided cases are
    failures; timeouts, crashes and invalid outputs are errors."""
    failures = sum(
        1 for c in report.cases if c.verdict != EXACT and c.verdict not in _ERROR_VERDICTS
    )
    errors = sum(1 for c in report.cases if c.verdict in _ERROR_VERDICTS)
    suites = ET.Element(
        "testsuites",
        name="iamrefine regress",
        tests=str(len(report.cases)),
        failures=str(failures),
        errors=str(errors),
        time=f"{report.seconds:.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"regress {report.refiner}",
        tests=str(len(report.cases)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{report.seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("corpus", report.corpus),
        ("refiner", report.refiner),
        ("catalog.digest", str(report.catalog.get("digest", ""))),
        ("catalog.source", str(report.catalog.get("source", ""))),
    ):
        ET.SubElement(props, "property", name=key, value=_xml_safe(value))
    for case in report.cases:
        seconds = case.refiner_seconds + case.check_seconds
        element = ET.SubElement(
            suite,
            "testcase",
            classname="iamrefine.regress",
            name=_xml_safe(case.name),
            time=f"{seconds:.3f}",
        )
        if case.verdict == EXACT:
            continue
        tag = "error" if case.verdict in _ERROR_VERDICTS else "failure"
        child = ET.SubElement(
            element,
            tag,
            type=case.verdict,
            message=_xml_safe(f"{_flags(case)}: {case.detail}"[:500]),
        )
        child.text = _xml_safe(_case_text(case))
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def _flags(case: CaseResult) -> str:
    """The verdict, with the other findings of a case refuted in several ways."""
    others = [f for f in case.findings if f != case.verdict]
    return case.verdict + "".join(f" + {f}" for f in others)


def _xml_safe(text: str) -> str:
    # XML 1.0 cannot carry most control characters, which a crashing refiner may print.
    return "".join(
        ch
        if ch in "\t\n\r"
        or " " <= ch <= "\ud7ff"
        or "\ue000" <= ch <= "\ufffd"
        or "\U00010000" <= ch <= "\U0010ffff"
        else "\ufffd"
        for ch in text
    )


def write_junit(report: RegressReport, path: str | Path) -> None:
    """Write :func:`regress_junit` to ``path``, atomically, creating missing folders."""
    write_atomic(Path(path), regress_junit(report), parents=True)


# --- batch ------------------------------------------------------------------------


def print_batch(report: BatchReport, console: Console | None = None, *, max_rows: int = 50) -> None:
    """Print the failed cases with their reasons, the count per outcome with what each
    outcome means, the number of warnings and the cases over the size quota."""
    from rich.console import Console
    from rich.table import Table

    out = console or Console()
    failed = report.failed
    if failed:
        table = Table(title=f"Failed cases ({len(failed)})", title_justify="left")
        table.add_column("case", overflow="fold")
        table.add_column("reason", overflow="fold")
        for case in failed[:max_rows]:
            table.add_row(case.name, _escape(case.reason))
        out.print(table)
        if len(failed) > max_rows:
            out.print(f"... and {len(failed) - max_rows} more (see the summary file)")
    out.print(f"results: {_escape(str(report.out_dir))}", soft_wrap=True)
    table = Table(title="Outcomes", title_justify="left")
    table.add_column("outcome")
    table.add_column("cases", justify="right")
    table.add_column("meaning")
    for status, count in report.counts.items():
        table.add_row(status, str(count), BATCH_OUTCOMES.get(status, ""))
    out.print(table)
    for line in batch_warning_lines(report):
        out.print(_escape(line), soft_wrap=True)
    out.print(_escape(report.summary_line()), soft_wrap=True)


BATCH_OUTCOMES = {
    "refined": "the unused actions were removed; the result is in refined.json",
    "detached": "every action the policy allows is unused: no statement is left, so the "
    "recommendation is to detach the policy (no refined.json)",
    "unchanged": "the policy allows none of the unused actions",
    "failed": "only error.json is written, with the reason (bad input, or a proof "
    "that is not PROVED)",
    "timeout": "the case ran over its time budget (--case-timeout): verdict UNKNOWN, "
    "only error.json is written",
}
"""What each ``refine-batch`` outcome means, printed in the outcome table."""


def batch_warning_lines(report: BatchReport, *, shown: int = 5) -> list[str]:
    """The number of warnings, and the cases over the managed-policy size quota with
    the largest ``shown`` of them (none when there is no warning)."""
    from iamrefine.refine.engine import MANAGED_POLICY_QUOTA

    warned = [c for c in report.cases if c.warnings]
    if not warned:
        return []
    total = sum(len(c.warnings) for c in warned)
    lines = [
        f"warnings: {total} in {_cases(len(warned))}, every one in "
        f"{report.out_dir / 'summary.json'}"
    ]
    over = report.oversized
    if over:
        largest = ", ".join(f"{c.name} ({c.size:,})" for c in over[:shown])
        more = f", and {len(over) - shown} more" if len(over) > shown else ""
        lines.append(
            f"over the managed-policy quota of {MANAGED_POLICY_QUOTA:,} non-whitespace "
            f"characters: {_cases(len(over))}; largest: {largest}{more}"
        )
    return lines


def _cases(n: int) -> str:
    return "1 case" if n == 1 else f"{n} cases"
