"""The obligations: the stored ones compared with the ones re-derived from the inputs,
and the stored SMT-LIB text decided by the solvers."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iamrefine.certificate.report import CertificateReport, clip, first_difference
from iamrefine.certificate.schema import Certificate, ObligationRecord
from iamrefine.choices import SolverStatus

if TYPE_CHECKING:
    from iamrefine.encode import Partition
    from iamrefine.verify import Obligation


def solve_texts(
    cert: Certificate,
    solvers: Sequence[str],
    timeout: float,
    report: CertificateReport,
    same: Mapping[int, Obligation],
) -> dict[int, bool | None]:
    """Decide every obligation the proof rests on (role ``proof``, recorded as unsat)
    once with each solver; map each such obligation's index to True (every solver answers
    unsat), False (some solver answers sat) or None (undecided).

    ``timeout`` is each claim's budget in seconds, as in ``refine`` and ``check``: a
    solver decides the stored texts of one claim against one deadline, and a text left
    when the claim's time has run out is undecided.

    ``same`` maps a stored obligation's index to the re-derived query whose SMT-LIB text
    it equals character for character (:func:`compare_obligations`). The re-derivation
    decided that query with its own solver, not trusting the stored status: when that
    solver is the one asked for here and it answered unsat, that is its answer on the
    stored text, and the text is not decided a second time. Otherwise (another engine
    answered, or none did, or the text is not the re-derived one) the solver decides the
    stored text on its own, as ``z3 FILE`` or ``cvc5 FILE`` would."""
    from iamrefine import solver

    proof = [
        ob for ob in cert.obligations if ob.role == "proof" and ob.status is SolverStatus.UNSAT
    ]
    answers: dict[str, dict[int, SolverStatus]] = {}
    for name in solvers:
        start = time.perf_counter()
        part = f"solver {name}"
        mine = answers.setdefault(name, {})
        reused = 0
        deadlines: dict[str, float] = {}
        for ob in proof:
            derived = same.get(ob.index)
            if (
                derived is not None
                and derived.engine == name
                and derived.status is SolverStatus.UNSAT
            ):
                mine[ob.index] = derived.status
                reused += 1
                continue
            deadline = deadlines.setdefault(ob.claim, time.perf_counter() + timeout)
            left = deadline - time.perf_counter()
            if left <= 0:
                mine[ob.index] = SolverStatus.UNKNOWN
                report.undecided(
                    part,
                    f"obligation {ob.index} `{ob.name}`: `{ob.claim}` used its time budget "
                    f"of {timeout:g} s first",
                )
                continue
            answer = solver.solve_smtlib(ob.smtlib, name, timeout=left)
            mine[ob.index] = answer.status
            if answer.status is SolverStatus.SAT:
                report.fail(
                    part,
                    f"obligation {ob.index} `{ob.name}` is satisfiable: its part of "
                    f"`{ob.claim}` does not hold",
                )
            elif answer.status is not SolverStatus.UNSAT:
                report.undecided(part, f"obligation {ob.index} `{ob.name}`: {answer.reason}")
        if all(v is SolverStatus.UNSAT for v in mine.values()):
            report.ok(
                part,
                f"{len(mine)} proof obligation(s) unsat: {reused} decided by {name} while "
                f"re-deriving them, {len(mine) - reused} from the stored text "
                f"({time.perf_counter() - start:.2f} s)",
            )
    out: dict[int, bool | None] = {}
    for ob in proof:
        states = {answers[name][ob.index] for name in solvers}
        if {SolverStatus.SAT, SolverStatus.UNSAT} <= states:
            report.fail(
                "solvers",
                f"obligation {ob.index} `{ob.name}`: "
                + ", ".join(f"{n} answers {answers[n][ob.index]}" for n in solvers),
            )
        out[ob.index] = (
            False
            if SolverStatus.SAT in states
            else (True if states == {SolverStatus.UNSAT} else None)
        )
    return out


def _obligation_diffs(mine: ObligationRecord, theirs: Obligation) -> list[str]:
    diffs = [
        f"{key} `{getattr(mine, key)}` where the inputs give `{value}`"
        for key, value in (
            ("name", theirs.name),
            ("claim", theirs.claim),
            ("kind", theirs.kind),
            ("role", theirs.role),
            ("premise", theirs.premise),
        )
        if getattr(mine, key) != value
    ]
    # An answer the verifier's solver could not reach is not a difference: it leaves
    # the re-derived claim undecided instead.
    if mine.status != theirs.status and theirs.status is not SolverStatus.UNKNOWN:
        diffs.append(f"status `{mine.status}` where the inputs give `{theirs.status}`")
    if (mine.partition is None) != (theirs.partition is None):
        diffs.append(
            "a partition where the inputs give none"
            if mine.partition is not None
            else "no partition where the inputs give one"
        )
    return diffs


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_obligations` found equal: the re-derived partition of each
    stored partition index, and the re-derived obligation each stored one (by index)
    equals, SMT-LIB text included."""

    partitions: dict[int, Partition]
    same: dict[int, Obligation]


def _by_claim(items: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in items:
        out.setdefault(item.claim, []).append(item)
    return out


def compare_obligations(
    stored: Sequence[ObligationRecord],
    derived: Sequence[Obligation],
    undecided: Iterable[str],
    report: CertificateReport,
) -> Comparison:
    """Compare the stored obligations with the re-derived ones, claim by claim; return
    the re-derived partition of each stored partition index that a matching obligation
    uses, and the re-derived obligation each stored one equals (text included).

    Which query the checker asks next depends on the answers to the earlier ones, so a
    claim whose re-derivation is UNKNOWN (the verifier's solver left some query
    undecided, as under a tiny ``--timeout``) may have taken another path: a difference
    in its obligations makes the check undecided (exit 3, never VALID), not failed.
    Every other claim's obligations must be identical."""
    partitions: dict[int, Partition] = {}
    same: dict[int, Obligation] = {}
    unsure = set(undecided)
    bad = 0
    for k, mine in enumerate(stored):
        if mine.index != k:
            bad += 1
            report.fail("obligations", f"obligation {k} `{mine.name}` has number {mine.index}")
    stored_claims = list(dict.fromkeys(o.claim for o in stored))
    derived_claims = list(dict.fromkeys(o.claim for o in derived))
    runs = [c for i, c in enumerate(o.claim for o in stored) if i == 0 or stored[i - 1].claim != c]
    shared = [c for c in derived_claims if c in stored_claims]
    if runs != stored_claims or [c for c in stored_claims if c in derived_claims] != shared:
        bad += 1
        report.fail(
            "obligations",
            f"the certificate's obligations are ordered by claim as {runs}; the inputs give "
            f"{derived_claims}",
        )
    mine_of, theirs_of = _by_claim(stored), _by_claim(derived)
    undecided_claims = 0
    for claim in [*derived_claims, *(c for c in stored_claims if c not in theirs_of)]:
        ours, theirs_list = mine_of.get(claim, []), theirs_of.get(claim, [])
        problems: list[str] = []
        if len(ours) != len(theirs_list):
            problems.append(
                f"the certificate lists {len(ours)} obligation(s) of `{claim}`; the inputs "
                f"give {len(theirs_list)}"
            )
        for mine, theirs in zip(ours, theirs_list, strict=False):
            where = f"obligation {mine.index} `{mine.name}`"
            diffs = _obligation_diffs(mine, theirs)
            text = theirs.smtlib()
            if not diffs and mine.smtlib != text:
                problems.append(
                    f"{where}: the stored SMT-LIB text differs from the text re-derived from "
                    "the inputs: " + first_difference(mine.smtlib, text)
                )
                continue
            if not diffs and mine.partition is not None and theirs.partition is not None:
                # Stored partition numbers must name the re-derived partitions one to one.
                known = partitions.setdefault(mine.partition, theirs.partition)
                if known is not theirs.partition or any(
                    q is theirs.partition and n != mine.partition for n, q in partitions.items()
                ):
                    diffs.append(
                        f"partition {mine.partition}, which another obligation built on a "
                        "different partition also names (or the other way round)"
                    )
            if diffs:
                problems.append(f"{where} has " + "; ".join(diffs))
            else:
                same[mine.index] = theirs
        if not problems:
            continue
        if claim in unsure:
            undecided_claims += 1
            report.undecided(
                "obligations",
                f"`{claim}` was not decided in the time budget, so its re-derivation may "
                f"have taken another path: {len(problems)} difference(s), e.g. "
                f"{clip(problems[0], 160)}; a larger --timeout decides it",
            )
            continue
        bad += len(problems)
        for message in problems:
            report.fail("obligations", message)
    if not bad and not undecided_claims:
        report.ok(
            "obligations",
            f"{len(stored)} re-derived from the inputs; the stored SMT-LIB text is identical",
        )
    return Comparison(partitions, same)
