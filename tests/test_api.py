"""The library API (:mod:`iamrefine.api`): the README's example, input forms, and the
refined-output reader behind ``check``."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

import iamrefine
from iamrefine import EngineName, InputError, PolicyError, Verdict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "access-analyzer-blog"
POLICY = EXAMPLE / "policy.json"
UNUSED = EXAMPLE / "unused.json"


def test_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    failures, tried = doctest.testfile(
        str(ROOT / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert tried > 10
    assert failures == 0


def test_public_names_resolve() -> None:
    for name in iamrefine.__all__:
        assert getattr(iamrefine, name) is not None, name


def test_inputs_as_path_text_dict_and_policy_give_one_result() -> None:
    text = POLICY.read_text()
    unused_text = UNUSED.read_text()
    parsed = iamrefine.refine_and_prove(POLICY, UNUSED, prove=False)
    expected = parsed.render("policy")
    for policy, unused in [
        (str(POLICY), str(UNUSED)),
        (text, unused_text),
        (json.loads(text), json.loads(unused_text)),
        (parsed.original, parsed.unused),
        (text.encode(), sorted(parsed.unused.canonical(parsed.catalog))),
    ]:
        outcome = iamrefine.refine_and_prove(policy, unused, prove=False)
        assert outcome.policy == parsed.policy
        assert outcome.verdict is None and outcome.claims == []
    assert expected is not None and '"lambda:Invoke*"' in expected


def test_refine_and_prove_with_certificate_reuses_the_proof() -> None:
    outcome = iamrefine.refine_and_prove(POLICY, UNUSED, certificate=True, engine="z3")
    assert outcome.proved
    assert outcome.certificate is not None and outcome.certificate.proved
    assert outcome.certificate_warnings() == []
    text = outcome.certificate_text()
    assert text is not None and json.loads(text)["format"] == "iamrefine-certificate"


def test_bad_inputs_raise_input_errors_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [}\n')
    with pytest.raises(PolicyError) as info:
        iamrefine.refine_and_prove(bad, UNUSED)
    assert info.value.diagnostics[0].render().startswith(f"{bad}:1:")
    with pytest.raises(InputError):
        iamrefine.refine_and_prove(POLICY, ["no colon here"])
    with pytest.raises(ValueError):
        iamrefine.refine_and_prove(POLICY, UNUSED, engine="z4")
    with pytest.raises(TypeError):
        iamrefine.refine_and_prove(42, UNUSED)


def test_engine_both_must_agree_and_proves() -> None:
    outcome = iamrefine.refine_and_prove(POLICY, UNUSED, engine=EngineName.both)
    assert outcome.verdict is Verdict.PROVED


def _recommendation(*steps: dict[str, str], status: str = "SUCCEEDED") -> dict[str, object]:
    return {
        "recommendationType": "UnusedPermissionRecommendation",
        "status": status,
        "recommendedSteps": [{"unusedPermissionsRecommendedStep": s} for s in steps],
    }


def _create(*actions: str, policy_id: str = "p") -> dict[str, str]:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }
    return {
        "recommendedAction": "CREATE_POLICY",
        "recommendedPolicy": json.dumps(doc),
        "existingPolicyId": policy_id,
    }


ORIGINAL = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
            "Resource": "*",
        }
    ],
}


def test_several_create_policy_steps_stand_for_their_union() -> None:
    split = _recommendation(_create("s3:GetObject"), _create("s3:ListBucket"))
    assert iamrefine.check(ORIGINAL, split, ["s3:PutObject"]).verdict is Verdict.PROVED
    half = _recommendation(_create("s3:GetObject"))
    assert iamrefine.check(ORIGINAL, half, ["s3:PutObject"]).verdict is Verdict.REFUTED


def test_failed_recommendation_keeps_the_original() -> None:
    failed = {
        "recommendationType": "UnusedPermissionRecommendation",
        "status": "FAILED",
        "error": {"code": "X", "message": "no"},
    }
    assert iamrefine.check(ORIGINAL, failed, []).verdict is Verdict.PROVED
    assert iamrefine.check(ORIGINAL, failed, ["s3:PutObject"]).verdict is Verdict.REFUTED


def test_detach_steps_contribute_nothing() -> None:
    detach = {"recommendedAction": "DETACH_POLICY", "existingPolicyId": "p"}
    everything = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
    assert iamrefine.check(ORIGINAL, _recommendation(detach), everything).verdict is Verdict.PROVED
    mixed = _recommendation(detach, _create("s3:GetObject", "s3:ListBucket"))
    assert iamrefine.check(ORIGINAL, mixed, ["s3:PutObject"]).verdict is Verdict.PROVED


def test_recommendation_rules_reject_what_they_cannot_read() -> None:
    two_policies = _recommendation(_create("s3:GetObject"), _create("s3:ListBucket", policy_id="q"))
    with pytest.raises(PolicyError, match="several policies"):
        iamrefine.check(ORIGINAL, two_policies, ["s3:PutObject"])
    with pytest.raises(PolicyError, match="non-empty list"):
        iamrefine.check(ORIGINAL, _recommendation(), ["s3:PutObject"])
    odd = {"recommendedAction": "DELETE_EVERYTHING"}
    with pytest.raises(PolicyError, match="DELETE_EVERYTHING"):
        iamrefine.check(ORIGINAL, _recommendation(odd), ["s3:PutObject"])
    old = _create("s3:ListBucket")
    old["recommendedPolicy"] = old["recommendedPolicy"].replace("2012-10-17", "2008-10-17")
    with pytest.raises(PolicyError, match="Version"):
        iamrefine.check(ORIGINAL, _recommendation(_create("s3:GetObject"), old), ["s3:PutObject"])
    bad = _create("s3:GetObject")
    bad["recommendedPolicy"] = "{"
    with pytest.raises(PolicyError) as info:
        iamrefine.check(ORIGINAL, _recommendation(bad), ["s3:PutObject"])
    assert info.value.diagnostics[0].render().startswith("<refined>:recommendedPolicy:1:")


def test_read_refined_whitespace_is_detached_and_texts_are_kept() -> None:
    original = iamrefine.refine_and_prove(ORIGINAL, [], prove=False).original
    assert iamrefine.read_refined(" \n", "<out>", original).detached
    split = _recommendation(_create("s3:GetObject"), _create("s3:ListBucket"))
    out = iamrefine.read_refined(json.dumps(split), "<out>", original)
    assert out.policy is not None and len(out.policy.statements) == 2
    assert len(out.texts) == 2


def test_equiv_accepts_text_and_dicts() -> None:
    text = json.dumps(ORIGINAL)
    assert iamrefine.equiv(text, ORIGINAL).verdict is Verdict.PROVED


@pytest.mark.parametrize("command", ["refine", "check", "equiv", "refine-batch", "regress"])
def test_timeout_means_one_thing_in_every_command(command: str) -> None:
    from typer.testing import CliRunner

    from iamrefine.cli.app import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "The solver's time budget of each claim, in seconds." in result.stdout
    assert "--check-timeout" not in result.stdout
    if command != "regress":
        assert "--engine" in result.stdout and "both" in result.stdout
