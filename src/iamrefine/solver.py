"""The solver gateway: the one module that runs Z3 and cvc5.

Everything that decides satisfiability goes through :func:`solve`:

- Z3 is the reference engine. Each query gets its own ``z3.Solver`` with a fixed
  random seed and a timeout; callers build heavy queries in a fresh context
  (:func:`new_context`), because Z3's running time depends on the terms built
  earlier in the same context.
- cvc5 is the second engine. It reads the query as SMT-LIB text (:func:`smtlib`),
  the same text a certificate carries, so both engines decide the very same formula.
- ``engine="auto"`` runs Z3 first on a fixed amount of work (:data:`Z3_FIRST_WORK`
  resource units, not seconds, so that the schedule, and which engine answers, does
  not depend on how loaded the machine is), then cvc5 (when installed) on half of
  the time left, then Z3 again on the rest: each engine has queries the other is
  slow on. ``"z3"`` and ``"cvc5"`` use one engine; ``"both"``
  runs both and raises :class:`~iamrefine.errors.InternalError` when their definite
  answers differ.

Answers are ``unsat`` (the property holds), ``sat`` (a model is returned as plain
Python values keyed by symbol name) or ``unknown`` (timeout, resource limit or an
incomplete engine).

String constants go through :func:`string_value`, and string model values come back
through :func:`string_of`, both by code point: z3's own ``StringVal`` reads backslash
escapes in its input and ``as_string`` returns ``\\u{..}`` escapes.
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import z3

from iamrefine.choices import SolverStatus
from iamrefine.errors import InternalError

DEFAULT_SEED = 0
ENGINES = ("auto", "z3", "cvc5", "both")
Z3_FIRST_WORK = 2_000_000
"""In ``auto`` mode Z3 first gets this many resource units (Z3's ``rlimit``, about 0.8 s
of work on the benchmark machine; the largest query of the managed corpus takes 45,000
and the 5,000-pattern scaling policy 810,000), within a quarter of the time budget (a
bound that only a query Z3 works on without counting resources reaches); then cvc5,
when installed, gets half of the time left, and Z3 the rest."""


@dataclass
class Answer:
    """One engine's (or the gateway's) verdict on one query."""

    status: SolverStatus
    engine: str
    seconds: float
    values: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


def new_context() -> z3.Context:
    """A fresh Z3 context for one obligation."""
    return z3.Context()


def string_value(text: str, ctx: z3.Context) -> z3.SeqRef:
    """A Z3 string constant with exactly the code points of ``text``."""
    escaped = "".join(
        ch if 32 <= ord(ch) < 127 and ch != "\\" else f"\\u{{{ord(ch):x}}}" for ch in text
    )
    return z3.SeqRef(z3.Z3_mk_string(ctx.ref(), escaped), ctx)


def string_of(value: z3.ExprRef) -> str:
    """The exact text of a Z3 string value (code points, no escapes)."""
    ctx = value.ctx_ref()
    ast = value.as_ast()
    n = z3.Z3_get_string_length(ctx, ast)
    buf = (ctypes.c_uint * n)()
    z3.Z3_get_string_contents(ctx, ast, n, buf)
    return "".join(chr(c) for c in buf)


def smtlib(assertions: Sequence[z3.BoolRef], comments: Sequence[str] = ()) -> str:
    """Complete SMT-LIB 2 text of the query: logic, declarations, assertions and
    ``(check-sat)``. ``z3 FILE`` or ``cvc5 FILE`` prints ``unsat`` iff the query is unsat."""
    if not assertions:
        raise ValueError("a query needs at least one assertion")
    s = z3.Solver(ctx=assertions[0].ctx)
    s.add(*assertions)
    body = s.to_smt2()
    head = "".join(f"; {line}\n" for line in comments)
    return f"{head}(set-logic ALL)\n{body}"


def engine_version(engine: str) -> str:
    """The version that engine ``z3`` or ``cvc5`` reports of itself."""
    if engine == "z3":
        return str(z3.get_version_string())
    if engine == "cvc5":
        import cvc5

        return str(cvc5.__version__)
    raise ValueError(f"unknown engine `{engine}`; expected `z3` or `cvc5`")


@functools.cache
def cvc5_available() -> bool:
    """Is the cvc5 Python module installed? Looked up once per process, without
    importing it (the import takes longer than most proofs; the lookup walks sys.path,
    which every query of ``auto`` paid for); it is imported when first used."""
    from importlib.util import find_spec

    return find_spec("cvc5") is not None


def _z3_values(model: z3.ModelRef, symbols: Sequence[z3.ExprRef]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sym in symbols:
        v = model.eval(sym, model_completion=True)
        name = sym.decl().name()
        if z3.is_string_value(v):
            out[name] = string_of(v)
        elif z3.is_bv_value(v):
            out[name] = v.as_long()
        elif z3.is_true(v) or z3.is_false(v):
            out[name] = z3.is_true(v)
        elif z3.is_rational_value(v):
            out[name] = Fraction(v.numerator_as_long(), v.denominator_as_long())
        else:
            raise InternalError(f"z3 model gives `{name}` the non-value `{v}`")
    return out


def solve_z3(
    assertions: Sequence[z3.BoolRef],
    symbols: Sequence[z3.ExprRef],
    *,
    timeout: float,
    seed: int = DEFAULT_SEED,
    session: z3.Solver | None = None,
    work: int = 0,
) -> Answer:
    """Decide the conjunction of ``assertions`` with Z3 (fixed seed, ``timeout`` seconds,
    and with ``work`` > 0 at most that many resource units).

    With ``session`` (an incremental solver of the assertions' context) the query is
    asserted inside a push/pop scope of that solver; otherwise a new solver is made."""
    if session is None:
        s = z3.Solver(ctx=assertions[0].ctx)
        s.set("random_seed", seed)
    else:
        s = session
        s.push()
    try:
        s.set("timeout", max(1, int(timeout * 1000)))
        s.set("rlimit", work)
        s.add(*assertions)
        start = time.perf_counter()
        result = s.check()
        seconds = time.perf_counter() - start
        if result == z3.unsat:
            return Answer(SolverStatus.UNSAT, "z3", seconds)
        if result == z3.sat:
            return Answer(SolverStatus.SAT, "z3", seconds, _z3_values(s.model(), symbols))
        return Answer(SolverStatus.UNKNOWN, "z3", seconds, reason=f"z3: {s.reason_unknown()}")
    finally:
        if session is not None:
            s.pop()


def solve_cvc5(
    text: str, symbols: Sequence[str], *, timeout: float, seed: int = DEFAULT_SEED
) -> Answer:
    """Decide SMT-LIB ``text`` with cvc5 (fixed seed, ``timeout`` seconds); on sat, read
    the values of the declared constants named in ``symbols``."""
    import cvc5

    tm = cvc5.TermManager()
    s = cvc5.Solver(tm)
    s.setOption("produce-models", "true")
    s.setOption("tlimit-per", str(max(1, int(timeout * 1000))))
    s.setOption("seed", str(seed))
    parser = cvc5.InputParser(s)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "query")
    sm = parser.getSymbolManager()
    start = time.perf_counter()
    out = ""
    while True:
        cmd = parser.nextCommand()
        if cmd.isNull():
            break
        out += cmd.invoke(s, sm)
    seconds = time.perf_counter() - start
    status = out.strip().splitlines()[-1] if out.strip() else ""
    if status == "unsat":
        return Answer(SolverStatus.UNSAT, "cvc5", seconds)
    if status == "sat":
        wanted = set(symbols)
        values: dict[str, Any] = {}
        for term in sm.getDeclaredTerms():
            name = term.getSymbol()
            if name not in wanted:
                continue
            v = s.getValue(term)
            if v.isStringValue():
                values[name] = v.getStringValue()
            elif v.isBitVectorValue():
                values[name] = int(v.getBitVectorValue(10))
            elif v.isBooleanValue():
                values[name] = v.getBooleanValue()
            elif v.isRealValue():
                values[name] = Fraction(v.getRealValue())
            else:
                raise InternalError(f"cvc5 model gives `{name}` the non-value `{v}`")
        return Answer(SolverStatus.SAT, "cvc5", seconds, values)
    return Answer(SolverStatus.UNKNOWN, "cvc5", seconds, reason=f"cvc5: {status or 'no answer'}")


def solve_smtlib(text: str, engine: str, *, timeout: float, seed: int = DEFAULT_SEED) -> Answer:
    """Decide SMT-LIB ``text`` read on its own, as ``z3 FILE`` or ``cvc5 FILE`` would:
    Z3 in a fresh context, or a fresh cvc5 solver (``engine`` is ``z3`` or ``cvc5``).
    No model is read. Text that the engine cannot read is ``unknown``, with the reason."""
    if engine == "cvc5":
        try:
            return solve_cvc5(text, (), timeout=timeout, seed=seed)
        except RuntimeError as exc:
            return Answer(
                SolverStatus.UNKNOWN, "cvc5", 0.0, reason=f"cvc5 cannot read the text: {exc}"
            )
    if engine != "z3":
        raise ValueError(f"unknown engine `{engine}`; expected `z3` or `cvc5`")
    s = z3.Solver(ctx=new_context())
    s.set("random_seed", seed)
    s.set("timeout", max(1, int(timeout * 1000)))
    try:
        s.from_string(text)
    except z3.Z3Exception as exc:
        detail = exc.value.decode() if isinstance(exc.value, bytes) else str(exc.value)
        return Answer(
            SolverStatus.UNKNOWN, "z3", 0.0, reason=f"z3 cannot read the text: {detail.strip()}"
        )
    start = time.perf_counter()
    result = s.check()
    seconds = time.perf_counter() - start
    if result == z3.unsat:
        return Answer(SolverStatus.UNSAT, "z3", seconds)
    if result == z3.sat:
        return Answer(SolverStatus.SAT, "z3", seconds)
    return Answer(SolverStatus.UNKNOWN, "z3", seconds, reason=f"z3: {s.reason_unknown()}")


def _default_value(sym: z3.ExprRef) -> Any:
    if z3.is_string(sym):
        return ""
    if z3.is_arith(sym):
        return Fraction(0)
    if z3.is_bv(sym):
        return 0
    return False


def _cvc5(
    assertions: Sequence[z3.BoolRef],
    symbols: Sequence[z3.ExprRef],
    comments: Sequence[str],
    *,
    timeout: float,
    seed: int,
) -> Answer:
    names = [s.decl().name() for s in symbols]
    answer = solve_cvc5(smtlib(assertions, comments), names, timeout=timeout, seed=seed)
    if answer.status == "sat":
        # A symbol that no assertion mentions is not declared in the text; any value
        # satisfies the query, so it gets its sort's default.
        for sym, name in zip(symbols, names, strict=True):
            answer.values.setdefault(name, _default_value(sym))
    return answer


@dataclass(frozen=True)
class Query:
    """One query as the engines see it: the assertions (their conjunction is decided),
    the symbols whose values a model reports, comment lines for the SMT-LIB text, the
    random seed and, for Z3, an optional incremental solver to decide it in."""

    assertions: Sequence[z3.BoolRef]
    symbols: Sequence[z3.ExprRef]
    comments: Sequence[str] = ()
    seed: int = DEFAULT_SEED
    incremental: z3.Solver | None = None


class Engine(Protocol):
    """Anything that decides a :class:`Query` within a time budget (pysmt's ``Solver``;
    a schedule or a pair of engines is just another engine)."""

    name: str

    def decide(self, query: Query, timeout: float) -> Answer: ...


class Z3Engine:
    """Z3, optionally capped at ``work`` resource units (0: no cap)."""

    def __init__(self, work: int = 0) -> None:
        self.name = "z3"
        self.work = work

    def decide(self, query: Query, timeout: float) -> Answer:
        return solve_z3(
            query.assertions,
            query.symbols,
            timeout=timeout,
            seed=query.seed,
            session=query.incremental,
            work=self.work,
        )


class Cvc5Engine:
    """cvc5 on the query's SMT-LIB text."""

    name = "cvc5"

    def decide(self, query: Query, timeout: float) -> Answer:
        return _cvc5(
            query.assertions, query.symbols, query.comments, timeout=timeout, seed=query.seed
        )


class AgreeingPair:
    """Both engines decide the query; definite answers that differ are a bug
    (:class:`~iamrefine.errors.InternalError`); otherwise the first definite answer."""

    def __init__(self, first: Engine, second: Engine) -> None:
        self.first, self.second = first, second
        self.name = f"{first.name}+{second.name}"

    def decide(self, query: Query, timeout: float) -> Answer:
        a = self.first.decide(query, timeout)
        b = self.second.decide(query, timeout)
        definite = {x.status for x in (a, b) if x.status != SolverStatus.UNKNOWN}
        if len(definite) > 1:
            raise InternalError(
                f"{self.first.name} answers {a.status} and {self.second.name} answers "
                f"{b.status} on the same query"
            )
        chosen = a if a.status != SolverStatus.UNKNOWN else b
        reason = None if chosen.status != SolverStatus.UNKNOWN else f"{a.reason}; {b.reason}"
        return Answer(chosen.status, self.name, a.seconds + b.seconds, chosen.values, reason)


class AutoSchedule:
    """Z3 on a fixed amount of work (:data:`Z3_FIRST_WORK`, within a quarter of the
    budget), then cvc5 on half of what is left, then Z3 again on the rest; Z3 alone when
    cvc5 is not installed."""

    name = "auto"

    def decide(self, query: Query, timeout: float) -> Answer:
        if not cvc5_available():
            return Z3Engine().decide(query, timeout)
        start = time.perf_counter()
        steps: list[tuple[Engine, Callable[[float], float]]] = [
            (Z3Engine(Z3_FIRST_WORK), lambda _: timeout / 4),
            (Cvc5Engine(), lambda left: left / 2),
            (Z3Engine(), lambda left: left),
        ]
        reasons: list[str | None] = []
        for i, (engine, share) in enumerate(steps):
            left = timeout - (time.perf_counter() - start)
            if i > 0 and left <= 0:
                break
            answer = engine.decide(query, share(left))
            if answer.status != SolverStatus.UNKNOWN:
                if i > 0:
                    answer.seconds = time.perf_counter() - start
                return answer
            reasons.append(answer.reason)
        return Answer(
            SolverStatus.UNKNOWN,
            "z3+cvc5",
            time.perf_counter() - start,
            reason="; ".join(map(str, reasons)),
        )


def engine_named(name: str) -> Engine:
    """The engine an ``--engine`` name stands for."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine `{name}`; expected one of {', '.join(ENGINES)}")
    engines: dict[str, Callable[[], Engine]] = {
        "z3": Z3Engine,
        "cvc5": Cvc5Engine,
        "both": lambda: AgreeingPair(Z3Engine(), Cvc5Engine()),
        "auto": AutoSchedule,
    }
    return engines[name]()


def solve(
    assertions: Sequence[z3.BoolRef],
    symbols: Sequence[z3.ExprRef],
    *,
    timeout: float,
    engine: str = "auto",
    seed: int = DEFAULT_SEED,
    comments: Sequence[str] = (),
    session: Session | None = None,
) -> Answer:
    """Decide the conjunction of ``assertions`` with the engine named ``engine``:
    ``unsat`` iff no assignment satisfies it.

    ``symbols`` are the constants whose values a ``sat`` answer reports. ``timeout`` is
    the total budget in seconds across engines. With ``session``, Z3 decides the query
    incrementally in the session's solver.
    """
    chosen = engine_named(str(engine))
    if not assertions:
        raise ValueError("a query needs at least one assertion")
    incremental = None if session is None or not session.incremental else session.solver
    query = Query(assertions, symbols, comments, seed, incremental)
    return chosen.decide(query, timeout)


class Session:
    """A Z3 context shared by the light queries of one claim: making a context costs
    more than deciding such a query. With ``incremental``, queries also share one solver,
    each in its own push/pop scope (so no query sees another's assertions); that suits
    tiny string queries, while Boolean and bit-vector queries are faster in a new
    (non-incremental) solver, which Z3 preprocesses more aggressively."""

    def __init__(self, *, incremental: bool, seed: int = DEFAULT_SEED) -> None:
        self.ctx = new_context()
        self.incremental = incremental
        self.solver = z3.Solver(ctx=self.ctx)
        self.solver.set("random_seed", seed)
