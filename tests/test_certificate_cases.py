"""Certificates beyond the worked example: the glob inclusion check, small catalogs with
Deny, NotAction, conditions and detached policies, determinism, and the `verify` and
`refine --certificate` commands."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from iamrefine.catalog import Catalog
from iamrefine.certificate import (
    build_certificate,
    certificate_text,
    check_certificate,
    glob_counterexample,
    glob_included,
    load_certificate,
    parse_certificate,
)
from iamrefine.cli.app import app
from iamrefine.glob import action_matches
from iamrefine.parse import parse_policy
from iamrefine.refine import refine_policy
from iamrefine.unused import UnusedSet

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "access-analyzer-blog"

# --- glob inclusion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub", "sup", "included"),
    [
        ("s3:GetAccess*", "s3:Get*", True),
        ("s3:Get*", "s3:GetAccess*", False),
        ("s3:GetObj*", "s3:*Object", False),
        ("s3:GetObject", "s3:*Object", True),
        ("?*", "*?", True),
        ("*?", "?*", True),
        ("*", "?*", False),
        ("a*b*c", "a*c", True),
        ("a*c", "a*b*c", False),
        ("*x*", "*x*x*", False),
        ("x*x", "*x", True),
        ("S3:GETOBJECT", "s3:get*", True),
        ("s3:[a]", "s3:?a?", True),
        ("s3:[a]", "s3:a", False),
        ("*:Get*", "s3:Get*", False),
        ("s3:Get*", "*:Get*", True),
        ("s3:Get??", "s3:Get*", True),
        ("s3:Get*", "s3:Get??", False),
    ],
)
def test_glob_inclusion_examples(sub: str, sup: str, included: bool) -> None:
    assert glob_included(sub, sup) is included
    cex = glob_counterexample(sub, sup)
    if not included:
        assert cex is not None
        assert action_matches(sub, cex) and not action_matches(sup, cex)


_PATTERN = st.text(alphabet="ab:*?", max_size=5)
_SUBJECTS = ["".join(p) for n in range(6) for p in itertools.product("ab:z", repeat=n)]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_PATTERN, _PATTERN)
def test_glob_inclusion_agrees_with_enumeration(sub: str, sup: str) -> None:
    cex = glob_counterexample(sub, sup)
    if cex is not None:
        assert action_matches(sub, cex) and not action_matches(sup, cex)
    else:
        for s in _SUBJECTS:
            if action_matches(sub, s):
                assert action_matches(sup, s), (sub, sup, s)


# --- small catalogs ---------------------------------------------------------------------------

NAMES = [
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectTagging",
    "s3:GetBucketAcl",
    "s3:GetBucketPolicy",
    "s3:ListBucket",
    "s3:PutObject",
    "iam:GetUser",
    "iam:ListUsers",
    "iam:PassRole",
    "ec2:RunInstances",
    "ec2:DescribeInstances",
]


@pytest.fixture(scope="module")
def small() -> Catalog:
    return Catalog.from_names(NAMES, source="test", version="1")


def _certify(
    small: Catalog, statements: list[dict[str, Any]], unused: list[str], **kw: Any
) -> tuple[Any, Any]:
    doc = {"Version": "2012-10-17", "Statement": statements}
    policy = parse_policy(json.dumps(doc, indent=2), "p.json")
    uset = UnusedSet.from_names(unused, small)
    result = refine_policy(policy, uset, small, **kw)
    return result, build_certificate(result, uset, small)


CASES: dict[str, tuple[list[dict[str, Any]], list[str], dict[str, Any]]] = {
    "deny and condition": (
        [
            {
                "Effect": "Allow",
                "Action": ["s3:Get*", "iam:*"],
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
            {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"},
        ],
        ["s3:GetBucketAcl", "iam:ListUsers"],
        {},
    ),
    "not action": (
        [{"Effect": "Allow", "NotAction": ["ec2:*"], "Resource": "*"}],
        ["s3:PutObject", "iam:PassRole"],
        {},
    ),
    "star as not action": (
        [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        ["s3:PutObject", "iam:PassRole"],
        {"strategy": "notaction"},
    ),
    "star as patterns": (
        [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        ["s3:PutObject", "iam:PassRole"],
        {},
    ),
    "service wildcard and question mark": (
        [
            {
                "Effect": "Allow",
                "Action": ["*:Get*", "s3:Get?bject*"],
                "Resource": "arn:aws:s3:::b/*",
            }
        ],
        ["s3:GetObjectAcl", "iam:GetUser"],
        {},
    ),
    "char granularity": (
        [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        ["s3:GetObjectAcl"],
        {"granularity": "char"},
    ),
    "nothing unused": (
        [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        [],
        {},
    ),
    "detached": (
        [{"Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:Describe*"], "Resource": "*"}],
        ["ec2:RunInstances", "ec2:DescribeInstances"],
        {},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_small_catalog_certificates_verify(small: Catalog, name: str) -> None:
    statements, unused, kw = CASES[name]
    _, cert = _certify(small, statements, unused, **kw)
    assert cert.proved, [c for c in cert.claims if c.verdict != "PROVED"]
    assert (cert.inputs.refined is None) == (name == "detached")
    again = parse_certificate(certificate_text(cert))
    report = check_certificate(again, small, solvers=("z3", "cvc5"))
    assert report.status == "VALID", report.render()


def test_a_wrong_refinement_yields_a_certificate_that_does_not_verify(small: Catalog) -> None:
    result, _ = _certify(
        small, [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}], ["s3:GetBucketAcl"]
    )
    assert result.policy is not None
    bad = result.policy.model_copy(
        update={"statements": [result.policy.statements[0].with_actions(["s3:GetObject*"])]}
    )
    result.policy = bad
    uset = UnusedSet.from_names(["s3:GetBucketAcl"], small)
    cert = build_certificate(result, uset, small)
    verdicts = {c.name: c.verdict for c in cert.claims}
    assert verdicts["exact over the catalog"] == "REFUTED"
    assert verdicts["least general"] == "REFUTED"
    report = check_certificate(cert, small)
    assert report.status == "INVALID"
    assert "claims" in report.failed_parts


def test_obligations_do_not_depend_on_the_hash_seed(small: Catalog, tmp_path: Path) -> None:
    statements, unused, _ = CASES["deny and condition"]
    _, cert = _certify(small, statements, unused)
    script = (
        "import json,sys\n"
        "from iamrefine.catalog import Catalog\n"
        "from iamrefine.certificate import build_certificate\n"
        "from iamrefine.parse import parse_policy\n"
        "from iamrefine.refine import refine_policy\n"
        "from iamrefine.unused import UnusedSet\n"
        "names, doc, unused = json.load(sys.stdin)\n"
        "cat = Catalog.from_names(names, source='test', version='1')\n"
        "p = parse_policy(json.dumps(doc, indent=2), 'p.json')\n"
        "u = UnusedSet.from_names(unused, cat)\n"
        "c = build_certificate(refine_policy(p, u, cat), u, cat)\n"
        "print(json.dumps([o.smtlib for o in c.obligations]))\n"
    )
    doc = {"Version": "2012-10-17", "Statement": statements}
    env = dict(os.environ, PYTHONHASHSEED="12345")
    run = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([NAMES, doc, unused]),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert json.loads(run.stdout) == [o.smtlib for o in cert.obligations]


# --- the commands -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_files(small: Catalog, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("small")
    catalog = folder / "catalog.json"
    catalog.write_text(json.dumps(NAMES), encoding="utf-8")
    policy = folder / "policy.json"
    statements, unused, _ = CASES["deny and condition"]
    policy.write_text(
        json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2), encoding="utf-8"
    )
    unused_file = folder / "unused.json"
    unused_file.write_text(json.dumps(unused), encoding="utf-8")
    return {"catalog": catalog, "policy": policy, "unused": unused_file, "folder": folder}


def _refine_with_certificate(files: dict[str, Path], cert: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        app,
        [
            "refine",
            str(files["policy"]),
            "--unused",
            str(files["unused"]),
            "--catalog",
            str(files["catalog"]),
            "--certificate",
            str(cert),
            "-o",
            str(files["folder"] / "refined.json"),
            *extra,
        ],
    )


def test_refine_writes_a_certificate_that_verify_accepts(small_files: dict[str, Path]) -> None:
    cert = small_files["folder"] / "cert.json"
    run = _refine_with_certificate(small_files, cert)
    assert run.exit_code == 0, run.output
    refined = json.loads((small_files["folder"] / "refined.json").read_text("utf-8"))
    embedded = load_certificate(cert).inputs.refined
    assert embedded is not None
    assert embedded.document == json.loads(json.dumps(refined, sort_keys=True))
    out = CliRunner().invoke(app, ["verify", str(cert), "--catalog", str(small_files["catalog"])])
    assert out.exit_code == 0, out.output
    assert "VALID" in out.output


def test_verify_reports_json_and_engine_both(small_files: dict[str, Path]) -> None:
    cert = small_files["folder"] / "cert-json.json"
    assert _refine_with_certificate(small_files, cert).exit_code == 0
    out = CliRunner().invoke(
        app,
        [
            "verify",
            str(cert),
            "--catalog",
            str(small_files["catalog"]),
            "--json",
            "--engine",
            "both",
        ],
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["status"] == "VALID"
    assert report["solvers"] == ["z3", "cvc5"]
    assert report["claims"]["least general"] == "PROVED"


def test_verify_exit_codes(small_files: dict[str, Path]) -> None:
    cert = small_files["folder"] / "cert-codes.json"
    assert _refine_with_certificate(small_files, cert).exit_code == 0
    data = json.loads(cert.read_text("utf-8"))
    data["least_general"][0]["witness"] = "s3:GetObject"
    tampered = small_files["folder"] / "tampered.json"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["verify", str(tampered), "--catalog", str(small_files["catalog"])])
    assert out.exit_code == 1, out.output
    assert "least generality  FAILED" in out.output
    assert "failed: least generality" in out.output

    malformed = small_files["folder"] / "malformed.json"
    malformed.write_text('{"format": "iamrefine-certificate", "schema_version": 2}', "utf-8")
    out = runner.invoke(app, ["verify", str(malformed), "--catalog", str(small_files["catalog"])])
    assert out.exit_code == 2
    assert "`tools`: field required" in out.stderr

    out = runner.invoke(app, ["verify", str(small_files["folder"] / "missing.json")])
    assert out.exit_code == 2
    assert "cannot read certificate" in out.stderr


def test_verify_refuses_a_catalog_that_is_not_the_one_named(
    small_files: dict[str, Path],
) -> None:
    """A compact certificate names its catalog; any other is bad input (exit 2)."""
    cert = small_files["folder"] / "cert-named.json"
    assert _refine_with_certificate(small_files, cert).exit_code == 0
    assert json.loads(cert.read_text("utf-8"))["catalog"]["embedded"] is None
    other = small_files["folder"] / "other-named.json"
    other.write_text(json.dumps([*NAMES, "s3:GetObjectRetention"]), encoding="utf-8")
    out = CliRunner().invoke(app, ["verify", str(cert), "--catalog", str(other)])
    assert out.exit_code == 2, out.output
    assert out.stdout == ""
    assert "the certificate was made against the catalog" in out.stderr
    assert "pass the named catalog with `--catalog PATH`" in out.stderr
    # Nor does the default catalog stand in for the one named.
    out = CliRunner().invoke(app, ["verify", str(cert)])
    assert out.exit_code == 2, out.output


def test_verify_against_another_catalog_fails_on_the_catalog(
    small_files: dict[str, Path],
) -> None:
    """A certificate that embeds its catalog is checked against it, and a different
    catalog given to verify is reported with its differences (exit 1)."""
    cert = small_files["folder"] / "cert-other.json"
    assert _refine_with_certificate(small_files, cert, "--embed-catalog").exit_code == 0
    out = CliRunner().invoke(app, ["verify", str(cert), "--catalog", str(small_files["catalog"])])
    assert out.exit_code == 0, out.output
    other = small_files["folder"] / "other.json"
    other.write_text(json.dumps([*NAMES, "s3:GetObjectRetention"]), encoding="utf-8")
    out = CliRunner().invoke(app, ["verify", str(cert), "--catalog", str(other)])
    assert out.exit_code == 1, out.output
    assert "failed: catalog" in out.output
    assert "`s3:GetObjectRetention`" in out.output


# --- shared corpus -----------------------------------------------------------------------------

CORPUS_SAMPLE = [
    "aws-docs/iam__id_credentials_mfa_enable_fido__0.json",
    "aws-docs/iam__reference_policies_elements_notaction__2.json",
    "aws-docs/dynamodb__ql-iam__4.json",
    "aws-docs/iam__access_policies_boundaries__3.json",
    "aws-docs/dynamodb__security_iam_id-based-policy-examples__0.json",
    "aws-managed/AWSCodeCommitReadOnly.json",
    "aws-managed/AmazonLookoutVisionFullAccess.json",
]


@pytest.fixture(scope="module")
def default_catalog() -> Catalog:
    from iamrefine.catalog import load_catalog

    return load_catalog()


@pytest.mark.corpus
@pytest.mark.parametrize("name", CORPUS_SAMPLE)
def test_corpus_certificates_verify(shared_dir: Path, default_catalog: Catalog, name: str) -> None:
    from iamrefine.parse import load_policy

    policy = load_policy(shared_dir / "corpus" / name)
    # Every third catalog action each pattern matches (at most 50 per pattern) is unused.
    unused: set[str] = set()
    for statement in policy.statements:
        for pattern in statement.action_element.values:
            unused.update(default_catalog.expand(pattern)[::3][:50])
    uset = UnusedSet(frozenset(unused))
    cert = build_certificate(refine_policy(policy, uset, default_catalog), uset, default_catalog)
    assert cert.proved
    report = check_certificate(parse_certificate(certificate_text(cert)), default_catalog)
    assert report.status == "VALID", report.render()


# --- the solver gateway on text -------------------------------------------------------------


@pytest.mark.parametrize("engine", ["z3", "cvc5"])
def test_solve_smtlib_reads_text_on_its_own(engine: str) -> None:
    from iamrefine.solver import solve_smtlib

    if engine == "cvc5":
        pytest.importorskip("cvc5")
    head = "(set-logic ALL)\n(declare-fun x () Int)\n"
    assert solve_smtlib(head + "(assert (> x 0))\n(check-sat)\n", engine, timeout=5).status == "sat"
    unsat = head + "(assert (> x 0))\n(assert (< x 0))\n(check-sat)\n"
    assert solve_smtlib(unsat, engine, timeout=5).status == "unsat"
    unread = solve_smtlib("(set-logic ALL)\n(assert (> y 0))\n(check-sat)\n", engine, timeout=5)
    assert unread.status == "unknown"
    assert unread.reason is not None and "cannot read the text" in unread.reason


def test_verify_with_a_tiny_timeout_is_undecided_not_invalid(small_files: dict[str, Path]) -> None:
    # Issue 13: a valid certificate checked with a budget too small to decide anything is
    # UNKNOWN (exit 3). The re-derivation then takes other paths (an undecided
    # abstraction is followed by the full query), which is no evidence against the
    # certificate.
    cert = small_files["folder"] / "cert-tiny.json"
    assert _refine_with_certificate(small_files, cert).exit_code == 0
    args = ["verify", str(cert), "--catalog", str(small_files["catalog"])]
    out = CliRunner().invoke(app, [*args, "--timeout", "0.001"])
    assert out.exit_code == 3, out.output
    assert "FAILED" not in out.output
    assert "UNDECIDED" in out.output
    assert CliRunner().invoke(app, args).exit_code == 0


def test_verify_timeout_is_each_claims_budget(
    small: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`verify --timeout` means what it means in refine and check (issue 14 item 3): the
    stored texts of one claim share one budget. Each text decided after the first gets
    what is left of its claim's budget, and a text left when it is spent is undecided."""
    from iamrefine import solver
    from iamrefine.certificate.obligations import solve_texts
    from iamrefine.certificate.report import CertificateReport

    statements, unused, kw = CASES["deny and condition"]
    _, cert = _certify(small, statements, unused, **kw)
    claim_of = {o.smtlib: o.claim for o in cert.obligations}
    budget = 0.05
    given: list[tuple[str, float]] = []
    real = solver.solve_smtlib

    def slow_solve(text: str, engine: str, *, timeout: float) -> Any:
        given.append((claim_of[text], timeout))
        time.sleep(budget * 1.2)  # this query alone outlasts its claim's budget
        return real(text, engine, timeout=timeout)

    monkeypatch.setattr(solver, "solve_smtlib", slow_solve)
    report = CertificateReport("<test>", ("z3",))
    decided = solve_texts(cert, ("z3",), budget, report, {})
    claims = list(dict.fromkeys(o.claim for o in cert.obligations))
    per_claim = {c: sum(o.claim == c for o in cert.obligations) for c in claims}
    assert all(n >= 2 for n in per_claim.values())
    # One query per claim ran, on at most the budget; the others found it spent.
    assert [c for c, _ in given] == claims
    assert all(0 < t <= budget for _, t in given)
    spent = [f for f in report.findings if "used its time budget" in f.message]
    assert len(spent) == sum(per_claim.values()) - len(claims)
    assert sum(v is None for v in decided.values()) >= len(spent)
