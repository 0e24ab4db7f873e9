"""The solver gateway (:mod:`iamrefine.solver`): engines, schedules, SMT-LIB text,
models and string constants."""

from __future__ import annotations

import subprocess
import sys

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from iamrefine.solver import (
    ENGINES,
    Session,
    cvc5_available,
    engine_version,
    new_context,
    smtlib,
    solve,
    solve_smtlib,
    string_of,
    string_value,
)

CTX = new_context()


def _query(satisfiable: bool) -> tuple[list[z3.BoolRef], list[z3.ExprRef]]:
    ctx = new_context()
    s = z3.String("s", ctx)
    n = z3.BitVec("n", 8, ctx)
    flag = z3.Bool("flag", ctx)
    wanted = "ab" if satisfiable else "a"
    facts = [
        z3.PrefixOf(string_value("a", ctx), s),
        z3.Length(s) == 2,
        s == string_value(wanted, ctx),
        n == 7,
        flag,
    ]
    return facts, [s, n, flag]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_decides_sat_and_unsat(engine: str) -> None:
    facts, symbols = _query(satisfiable=False)
    assert solve(facts, symbols, timeout=20, engine=engine).status == "unsat"
    facts, symbols = _query(satisfiable=True)
    answer = solve(facts, symbols, timeout=20, engine=engine)
    assert answer.status == "sat"
    assert answer.values == {"s": "ab", "n": 7, "flag": True}


def test_both_names_the_pair_of_engines() -> None:
    facts, symbols = _query(satisfiable=False)
    assert solve(facts, symbols, timeout=20, engine="both").engine == "z3+cvc5"


def test_bad_requests_are_refused() -> None:
    facts, symbols = _query(satisfiable=True)
    with pytest.raises(ValueError, match="unknown engine"):
        solve(facts, symbols, timeout=1, engine="z4")
    with pytest.raises(ValueError, match="at least one assertion"):
        solve([], symbols, timeout=1)
    with pytest.raises(ValueError, match="at least one assertion"):
        smtlib([])


def test_smtlib_text_is_decided_alike_by_both_engines() -> None:
    for satisfiable, expected in ((False, "unsat"), (True, "sat")):
        facts, _ = _query(satisfiable)
        text = smtlib(facts, ["a comment"])
        assert text.startswith("; a comment\n(set-logic ALL)\n")
        for engine in ("z3", "cvc5"):
            assert solve_smtlib(text, engine, timeout=20).status == expected


def test_unreadable_smtlib_is_unknown_with_a_reason() -> None:
    for engine in ("z3", "cvc5"):
        answer = solve_smtlib("(assert (= x", engine, timeout=5)
        assert answer.status == "unknown"
        assert answer.reason is not None and "cannot read" in answer.reason
    with pytest.raises(ValueError):
        solve_smtlib("(check-sat)", "auto", timeout=5)


def test_session_queries_do_not_see_each_other() -> None:
    session = Session(incremental=True)
    x = z3.BitVec("x", 8, session.ctx)
    assert solve([x == 1], [x], timeout=5, session=session).status == "sat"
    assert solve([x == 2], [x], timeout=5, session=session).values == {"x": 2}


def test_cvc5_is_found_without_being_imported() -> None:
    code = (
        "import sys; from iamrefine.solver import cvc5_available; "
        "ok = cvc5_available(); sys.exit(0 if ok and 'cvc5' not in sys.modules else 1)"
    )
    assert cvc5_available()
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_engine_versions() -> None:
    assert engine_version("z3")[0].isdigit()
    assert engine_version("cvc5")[0].isdigit()
    with pytest.raises(ValueError):
        engine_version("both")


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x2FFFF), max_size=12))
def test_string_values_round_trip_by_code_point(text: str) -> None:
    v = string_value(text, CTX)
    assert string_of(z3.simplify(v)) == text


def test_string_values_do_not_read_escapes() -> None:
    # z3.StringVal would read `\u{41}` as `A`.
    assert string_of(string_value("x\\u{41}y", CTX)) == "x\\u{41}y"
