"""`iamrefine refine` proves every result before printing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iamrefine import verify
from iamrefine.cli.app import app
from iamrefine.verify import CheckReport, ClaimResult, Verdict

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "examples" / "access-analyzer-blog" / "policy.json"
UNUSED = ROOT / "examples" / "access-analyzer-blog" / "unused.json"
runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["refine", str(POLICY), "--unused", str(UNUSED), *args])
    return result.exit_code, result.stdout, result.stderr


def test_refine_proves_by_default() -> None:
    code, out, err = _invoke()
    assert code == 0, err
    assert f"{POLICY}: note: PROVED" in err
    assert "exact over the catalog" in err and "no escalation" in err
    assert "s3:GetObject*" in json.loads(out)["Statement"][1]["Action"]


def test_no_prove_skips_the_proof() -> None:
    code, out, err = _invoke("--no-prove")
    assert code == 0
    assert "PROVED" not in err
    assert json.loads(out)["Statement"][0]["Action"] == ["lambda:Invoke*"]


def test_refuted_result_prints_no_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    import iamrefine.refine as refine_module

    real = refine_module.refine_policy

    def keeps_an_unused_action(policy, unused, catalog, **kw):  # type: ignore[no-untyped-def]
        result = real(policy, unused, catalog, **kw)
        st = result.policy.statements[1]
        broken = st.with_actions([*st.action_element.values, "s3:GetBucketAcl"])
        result.policy = result.policy.model_copy(
            update={"statements": [result.policy.statements[0], broken]}
        )
        return result

    monkeypatch.setattr(refine_module, "refine_policy", keeps_an_unused_action)
    code, out, err = _invoke()
    assert code == 1
    assert out == ""
    assert "REFUTED" in err
    assert "s3:GetBucketAcl" in err
    assert "no policy written" in err


def _unknown_report(*_args: object, **_kw: object) -> CheckReport:
    return CheckReport(
        [
            ClaimResult(
                "exact over the catalog",
                Verdict.UNKNOWN,
                None,
                "the claim's time budget ran out",
                0.0,
                {"queries": 1},
            )
        ]
    )


def test_unknown_writes_nothing_without_allow_unproved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(verify, "verify_result", _unknown_report)
    out_file = tmp_path / "out.json"
    code, _out, err = _invoke("-o", str(out_file))
    assert code == 3
    assert not out_file.exists()
    assert "UNKNOWN" in err and "--allow-unproved" in err
    assert "PROVED in" not in err


def test_unknown_with_allow_unproved_writes_and_still_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(verify, "verify_result", _unknown_report)
    out_file = tmp_path / "out.json"
    code, _out, _err = _invoke("-o", str(out_file), "--allow-unproved")
    assert code == 3
    assert json.loads(out_file.read_text())["Statement"][0]["Action"] == ["lambda:Invoke*"]
