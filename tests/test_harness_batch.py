"""``iamrefine refine-batch``: one result folder per case, a summary by outcome, no
case lost when another fails, and resumption after an interrupted run."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from iamrefine.catalog import load_catalog
from iamrefine.cli.app import app
from iamrefine.harness.batch import BatchOptions, refine_batch
from iamrefine.parse import load_policy
from iamrefine.refine import refine_policy
from iamrefine.render import render_policy
from iamrefine.unused import load_unused


def _doc(*actions: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


CASES: dict[str, tuple[object, object]] = {
    "refined": (_doc("s3:Get*", "s3:ListBucket"), ["s3:GetObjectAcl", "s3:GetBucketTagging"]),
    "unchanged": (_doc("s3:GetObject"), ["iam:GetUser"]),
    "detached": (_doc("iam:GetUser", "iam:ListUsers"), ["iam:GetUser", "iam:ListUsers"]),
    "bad-policy": ('{"Version": "2012-10-17", "Statement": []}', []),
    "bad-unused": (_doc("s3:GetObject"), [42]),
}


def _write_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    for name, (policy, unused) in CASES.items():
        folder = corpus / name
        folder.mkdir(parents=True)
        text = policy if isinstance(policy, str) else json.dumps(policy, indent=2) + "\n"
        (folder / "policy.json").write_text(text)
        (folder / "unused.json").write_text(json.dumps(unused))
    return corpus


def _batch(corpus: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["refine-batch", str(corpus), str(out), *extra])
    return result.exit_code, result.stdout, result.stderr


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_batch_writes_every_result_and_reports_failures(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path)
    out = tmp_path / "out"
    code, stdout, _ = _batch(corpus, out, "--jobs", "2")
    assert code == 1
    assert "5 cases in" in stdout
    assert (
        "1 refined, 1 detached, 1 unchanged, 2 failed, 0 timeout (0 kept from an earlier run)"
        in stdout
    )
    assert _files(out / "refined") == ["done", "recommendation.json", "refined.json"]
    assert _files(out / "unchanged") == ["done", "recommendation.json", "refined.json"]
    assert _files(out / "detached") == ["done", "recommendation.json"]
    assert _files(out / "bad-policy") == ["error.json"]
    assert _files(out / "bad-unused") == ["error.json"]

    catalog = load_catalog()
    case = corpus / "refined"
    expected = refine_policy(
        load_policy(case / "policy.json"), load_unused(case / "unused.json", catalog), catalog
    )
    assert (out / "refined" / "refined.json").read_text() == render_policy(expected)
    rec = json.loads((out / "refined" / "recommendation.json").read_text())
    step = rec["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    assert step["recommendedAction"] == "CREATE_POLICY"
    assert step["existingPolicyId"] == "refined"
    assert "s3:GetObjectAcl" not in step["recommendedPolicy"]
    detached = json.loads((out / "detached" / "recommendation.json").read_text())
    detach_step = detached["recommendedSteps"][0]["unusedPermissionsRecommendedStep"]
    assert detach_step["recommendedAction"] == "DETACH_POLICY"

    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"] == {
        "refined": 1,
        "detached": 1,
        "unchanged": 1,
        "failed": 2,
        "timeout": 0,
        "cases": 5,
        "resumed": 0,
        "pending": 0,
    }
    assert summary["interrupted"] is False
    outcomes = {c["name"]: (c["outcome"], c["verdict"]) for c in summary["cases"]}
    assert outcomes == {
        "bad-policy": ("failed", None),
        "bad-unused": ("failed", None),
        "detached": ("detached", "PROVED"),
        "refined": ("refined", "PROVED"),
        "unchanged": ("unchanged", "PROVED"),
    }
    reasons = {c["name"]: c["reason"] for c in summary["cases"] if c["outcome"] == "failed"}
    bad_policy = corpus / "bad-policy" / "policy.json"
    assert (
        reasons["bad-policy"] == f"{bad_policy}:1:40: error: `Statement` must not be an empty list"
    )
    bad_unused = corpus / "bad-unused" / "unused.json"
    assert reasons["bad-unused"] == (
        f"{bad_unused}: error: `[0]`: expected a `service:Action` string, got `42`"
    )
    error = json.loads((out / "bad-unused" / "error.json").read_text())
    assert error["reason"] == reasons["bad-unused"]
    assert "bad-policy" in stdout and "Failed cases (2)" in stdout


def test_rerun_resumes_and_redoes_what_changed(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path)
    out = tmp_path / "out"
    first = refine_batch(corpus, out)
    assert first.counts == {
        "refined": 1,
        "detached": 1,
        "unchanged": 1,
        "failed": 2,
        "timeout": 0,
    }
    marker = (out / "refined" / "done").read_bytes()

    second = refine_batch(corpus, out)
    assert [c.name for c in second.cases if c.resumed] == ["detached", "refined", "unchanged"]
    assert second.counts == first.counts
    assert (out / "refined" / "done").read_bytes() == marker

    # An interrupted case (no `done`) and an incomplete one (a file missing) are redone;
    # a case whose input changed is redone, and its stale refined policy removed.
    (out / "unchanged" / "done").unlink()
    (out / "refined" / "recommendation.json").unlink()
    (corpus / "refined" / "unused.json").write_text(
        json.dumps([f"s3:{a}" for a in ("GetObject", "ListBucket")])
    )
    (corpus / "bad-unused" / "unused.json").write_text("[]")
    (corpus / "detached" / "unused.json").write_text('["iam:GetUser"]')
    third = refine_batch(corpus, out, jobs=2)
    resumed = {c.name for c in third.cases if c.resumed}
    assert resumed == set()
    assert {c.name: c.outcome for c in third.cases} == {
        "bad-policy": "failed",
        "bad-unused": "unchanged",
        "detached": "refined",
        "refined": "refined",
        "unchanged": "unchanged",
    }
    assert _files(out / "bad-unused") == ["done", "recommendation.json", "refined.json"]
    assert _files(out / "refined") == ["done", "recommendation.json", "refined.json"]
    (corpus / "detached" / "unused.json").write_text('["iam:GetUser", "iam:ListUsers"]')
    fourth = refine_batch(corpus, out)
    assert {c.name for c in fourth.cases if not c.resumed} == {"bad-policy", "detached"}
    assert _files(out / "detached") == ["done", "recommendation.json"]


def test_options_change_what_counts_as_done(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path)
    out = tmp_path / "out"
    unproved = refine_batch(corpus, out, options=BatchOptions(prove=False))
    assert {c.verdict for c in unproved.cases} == {None}
    proved = refine_batch(corpus, out)
    assert not any(c.resumed for c in proved.cases)
    assert {c.verdict for c in proved.cases if c.outcome != "failed"} == {"PROVED"}
    again = refine_batch(corpus, out, options=BatchOptions(prove=False))
    assert sorted(c.name for c in again.cases if c.resumed) == ["detached", "refined", "unchanged"]


def test_bad_invocations_exit_2(tmp_path: Path) -> None:
    corpus = _write_corpus(tmp_path)
    code, _, err = _batch(tmp_path / "missing", tmp_path / "out")
    assert code == 2 and "no such corpus folder" in err
    code, _, err = _batch(corpus, corpus / "out")
    assert code == 2 and "must not be inside the corpus folder" in err
    assert not (corpus / "out").exists()


def test_certificates_are_written_and_verify(tmp_path: Path) -> None:
    from iamrefine import certificate

    corpus = _write_corpus(tmp_path)
    out = tmp_path / "out"
    plain = refine_batch(corpus, out)
    assert not (out / "refined" / "certificate.json").exists()
    with_certs = refine_batch(corpus, out, options=BatchOptions(certificates=True))
    assert not any(c.resumed for c in with_certs.cases)
    assert with_certs.counts == plain.counts
    catalog = load_catalog()
    for name in ("refined", "unchanged", "detached"):
        assert "certificate.json" in _files(out / name)
        cert = certificate.load_certificate(out / name / "certificate.json")
        assert cert.proved
        assert certificate.check_certificate(cert, catalog).valid, name
    again = refine_batch(corpus, out, options=BatchOptions(certificates=True))
    assert sorted(c.name for c in again.cases if c.resumed) == ["detached", "refined", "unchanged"]


def test_size_warnings_are_counted_and_the_largest_cases_shown(tmp_path: Path) -> None:
    """Warnings are printed as a count, with the cases whose refined policy is over
    the managed-policy quota, largest first, also when a rerun resumes (issue 19)."""
    names = [f"svc:Action{i:05d}Name" for i in range(600)]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(names))
    corpus = tmp_path / "corpus"
    for name, allowed, unused in (
        ("big", "svc:*", names[::2]),
        ("bigger", "svc:*", names[::3]),
        ("small", "svc:Action0000*", names[:1]),
    ):
        folder = corpus / name
        folder.mkdir(parents=True)
        (folder / "policy.json").write_text(json.dumps(_doc(allowed)))
        (folder / "unused.json").write_text(json.dumps(unused))
    out = tmp_path / "out"
    for _ in range(2):
        code, stdout, _ = _batch(corpus, out, "--catalog", str(catalog), "--optimize", "readable")
        assert code == 0, stdout
        cases = {c["name"]: c for c in json.loads((out / "summary.json").read_text())["cases"]}
        sizes = {name: c["size"] for name, c in cases.items()}
        assert sizes["bigger"] > sizes["big"] > 6144 > sizes["small"]
        assert [len(c["warnings"]) for c in cases.values()] == [1, 1, 0]
        assert "warnings: 2 in 2 cases, every one in " in stdout
        assert (
            "over the managed-policy quota of 6,144 non-whitespace characters: 2 cases; "
            f"largest: bigger ({sizes['bigger']:,}), big ({sizes['big']:,})"
        ) in stdout.replace("\n", " ")
    assert "(3 kept from an earlier run)" in stdout


def test_batch_output_explains_outcomes_and_warnings() -> None:
    """The text of the batch report (golden file): what each outcome means, the
    warning count and the largest cases over the quota."""
    import io

    from rich.console import Console

    from iamrefine.harness.batch import BatchCase, BatchReport
    from iamrefine.harness.report import print_batch

    cases = [
        BatchCase("a", "refined", size=900),
        BatchCase("b", "detached"),
        BatchCase("c", "failed", "c/policy.json:1:1: error: bad"),
    ]
    cases += [
        BatchCase(f"big{i}", "refined", warnings=["w"] * (1 + i % 2), size=6144 + 100 * i)
        for i in range(1, 8)
    ]
    report = BatchReport("corpus", Path("out"), {}, cases, 1.0)
    buffer = io.StringIO()
    print_batch(report, Console(file=buffer, width=100, color_system=None, force_terminal=False))
    golden = Path(__file__).resolve().parent / "golden" / "batch_report.txt"
    assert buffer.getvalue() == golden.read_text("utf-8")
