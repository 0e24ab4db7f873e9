"""Policy sources beyond one JSON file: stdin, YAML, CloudFormation, Terraform plans,
selection by ``--policy-id``, ``--all``, opaque values and template write-back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli as _cli
from iamrefine.errors import InputError, PolicyError
from iamrefine.parse import load_policy
from iamrefine.sources import SourceKind, read_document
from iamrefine.sources.writeback import write_back

HERE = Path(__file__).resolve().parent
IAC = HERE / "fixtures" / "iac"
GOOD = HERE / "bad_inputs" / "good"
CATALOG = GOOD / "catalog.json"
UNUSED = GOOD / "unused.json"


def test_plain_json_policy_goes_through_the_json_parser() -> None:
    document = read_document(GOOD / "policy.json")
    assert document.kind is SourceKind.POLICY_JSON
    assert document.select().policy == load_policy(GOOD / "policy.json")


def test_yaml_policy_keeps_positions(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "Version: 2012-10-17\nStatement:\n  - Effect: Allow\n    Action: [s3:GetObject]\n"
        "    Resource: '*'\n    Bogus: 1\n"
    )
    with pytest.raises(PolicyError) as info:
        read_document(path).select()
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.column) == (6, 5)
    assert "unknown element `Bogus`" in diag.message
    path.write_text(path.read_text().replace("    Bogus: 1\n", ""))
    source = read_document(path).select()
    assert source.kind is SourceKind.POLICY_YAML
    assert source.policy.version == "2012-10-17"  # an unquoted YAML date is the string
    assert source.policy.statements[0].action_element.values == ["s3:GetObject"]


def test_template_policies_opaque_values_and_notes() -> None:
    source = read_document(IAC / "template.yaml").select("Pol")
    first, second = source.policy.statements
    assert first.span is not None and first.span.line == 10
    (resource,) = first.resource.values if first.resource else []
    assert resource.startswith("{{Fn::Sub:") and "*" not in resource
    assert source.opaque[resource].text == '!Sub "arn:aws:s3:::${Bucket}/*"'
    assert second.condition is not None
    assert second.condition.clauses[0].entries[0].values[0] in source.opaque
    notes = [n.render() for n in source.notes]
    assert notes[0].startswith(f"{IAC / 'template.yaml'}:15:23: note: `Statement[0].Resource`")
    assert "unknown string" in notes[0]


def test_same_intrinsic_is_the_same_unknown_and_another_is_not(tmp_path: Path) -> None:
    """equiv proves a template equal to itself, and refutes it against a copy whose
    Resource is another intrinsic function (a different unknown string)."""
    code, out, err = _cli(
        "equiv", IAC / "template.yaml", IAC / "template.yaml", "--catalog", CATALOG
    )
    assert code == 0, err
    assert "note: `Statement[0].Resource`" in err
    other = tmp_path / "other.yaml"
    other.write_text((IAC / "template.yaml").read_text().replace("${Bucket}", "${Other}"))
    code, out, err = _cli("equiv", "--subset", other, IAC / "template.yaml", "--catalog", CATALOG)
    assert code == 1, err
    assert "{{Fn::Sub:arn:aws:s3:::${Other}/%2A" in out


def test_json_template_and_inline_policy_selection() -> None:
    document = read_document(IAC / "template.json")
    assert document.kind is SourceKind.CLOUDFORMATION
    assert document.ids == ["Role/app"]
    assert document.select("Role").id == "Role/app"  # a logical id with one inline policy
    with pytest.raises(PolicyError, match="no policy `Nope`"):
        document.select("Nope")


def test_terraform_plan_with_child_modules_and_computed_values() -> None:
    document = read_document(IAC / "plan.json")
    assert document.kind is SourceKind.TERRAFORM_PLAN
    assert document.ids == [
        "aws_iam_policy.reader",
        "module.app.aws_iam_role_policy.logs",
        "module.app.data.aws_iam_policy_document.bucket",
    ]
    with pytest.raises(PolicyError, match="holds 3 policies"):
        document.select()
    rebuilt = document.select("module.app.data.aws_iam_policy_document.bucket")
    (statement,) = rebuilt.policy.statements
    assert statement.resource is not None
    assert statement.resource.values[0] == "arn:aws:s3:::logs/*"
    assert statement.resource.values[1] in rebuilt.opaque
    assert len(rebuilt.notes) == 2 and all(n.severity == "note" for n in rebuilt.notes)


def test_terraform_computed_action_is_an_error(tmp_path: Path) -> None:
    plan = json.loads((IAC / "plan.json").read_text())
    change = plan["resource_changes"][0]["change"]["after_unknown"]["statement"][0]
    change["actions"] = [False, True]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    with pytest.raises(PolicyError, match=r"statement\[0\]\.actions\[1\]: is computed"):
        read_document(path).select("module.app.data.aws_iam_policy_document.bucket")


def test_intrinsic_in_action_has_a_position() -> None:
    with pytest.raises(PolicyError) as info:
        read_document(HERE / "bad_inputs" / "iac" / "intrinsic-action.yaml").select()
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.column) == (9, 21)


def test_stdin_reads_json_and_yaml() -> None:
    text = (GOOD / "policy.json").read_text()
    code, out, err = _cli("parse", "-", stdin=text)
    assert code == 0, err
    assert json.loads(out) == json.loads(text)
    code, out, err = _cli("parse", "-", stdin=(IAC / "template.yaml").read_text())
    assert code == 0, err
    assert "-:15:23: note:" in err
    code, _, err = _cli("equiv", "-", "-", stdin=text)
    assert code == 2 and "names one input only" in err


def test_check_and_equiv_all_pair_policies_by_id(tmp_path: Path) -> None:
    code, out, err = _cli("equiv", "--all", IAC / "plan.json", IAC / "plan.json", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [p["policy_id"] for p in report["policies"]] == [
        "aws_iam_policy.reader",
        "module.app.aws_iam_role_policy.logs",
        "module.app.data.aws_iam_policy_document.bucket",
    ]
    smaller = json.loads((IAC / "plan.json").read_text())
    del smaller["planned_values"]["root_module"]["child_modules"]
    path = tmp_path / "smaller.json"
    path.write_text(json.dumps(smaller))
    # The smaller plan is within the full one; the full one has policies the smaller lacks.
    code, _, err = _cli("equiv", "--all", "--subset", path, IAC / "plan.json")
    assert code == 0, err
    code, out, _ = _cli("equiv", "--all", "--subset", IAC / "plan.json", path)
    assert code == 1
    assert "== module.app.aws_iam_role_policy.logs" in out


def _refine(path: Path, *extra: object) -> tuple[int, str, str]:
    return _cli("refine", path, "-u", UNUSED, "--catalog", CATALOG, *extra)


def test_refine_writes_back_only_the_changed_actions(tmp_path: Path) -> None:
    original = (IAC / "template.yaml").read_text()
    code, out, err = _refine(IAC / "template.yaml")
    assert code == 0, err
    assert "PROVED" in err
    assert out == original.replace(
        "              - s3:Get*\n",
        "              - s3:GetBucketLocation\n              - s3:GetObject*\n",
    )
    written = tmp_path / "refined.yaml"
    written.write_text(out)
    again = read_document(written).select("Pol")
    assert again.policy.statements[0].action_element.values == [
        "s3:GetBucketLocation",
        "s3:GetObject*",
        "s3:List*",
    ]


def test_refine_rewrites_the_whole_document_when_statements_change() -> None:
    original = (IAC / "template.json").read_text()
    code, out, err = _refine(IAC / "template.json")
    assert code == 0, err
    # Everything outside the policy document is byte-identical.
    start = original.index('"PolicyDocument": ') + len('"PolicyDocument": ')
    assert out[:start] == original[:start]
    tail = original[original.index("\n            }\n          }\n        ]") :]
    assert out.endswith(tail)
    document = json.loads(out)["Resources"]["Role"]["Properties"]["Policies"][0]
    (statement,) = document["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Fn::Sub": "arn:aws:s3:::${B}/*"}
    assert statement["Action"] == ["s3:GetBucketLocation", "s3:GetObject*", "s3:List*"]


def test_write_back_reads_back_or_refuses(tmp_path: Path) -> None:
    source = read_document(IAC / "template.yaml").select()
    assert write_back(source, source.policy) == source.text
    plan = read_document(IAC / "plan.json").select("aws_iam_policy.reader")
    with pytest.raises(InputError, match="cannot be written back"):
        write_back(plan, plan.policy)


def test_refine_of_a_plan_prints_the_refined_policy() -> None:
    code, out, err = _refine(IAC / "plan.json", "--policy-id", "aws_iam_policy.reader")
    assert code == 0, err
    assert json.loads(out)["Statement"][0]["Action"] == [
        "s3:GetBucketLocation",
        "s3:GetObject*",
        "s3:List*",
    ]


def test_yaml_needs_the_iac_extra_message(tmp_path: Path) -> None:
    """Without cfn-lint the YAML path says which extra to install (run in a
    subprocess that hides cfnlint)."""
    code = (
        "import sys; sys.modules['cfnlint'] = None; sys.modules['cfnlint.decode'] = None\n"
        "from iamrefine.sources import read_document\n"
        "from iamrefine.errors import InputError\n"
        "try:\n    read_document(sys.argv[1])\n"
        "except InputError as e:\n    print(e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(IAC / "template.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "pip install 'iamrefine[iac]'" in proc.stdout
