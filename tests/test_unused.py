"""The three accepted forms of unused-access input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iamrefine.catalog import Catalog
from iamrefine.errors import UnusedInputError
from iamrefine.unused import load_unused, parse_unused

CAT = Catalog.from_names(
    ["s3:GetObject", "s3:GetObjectAcl", "s3:PutObject", "iam:GetUser", "iam:ListUsers"],
    source="test",
)


def test_announcement_list() -> None:
    text = json.dumps([{"serviceNamespace": "s3", "actions": ["GetObjectAcl", "putobject"]}])
    u = parse_unused(text, CAT)
    assert u.actions == {"s3:getobjectacl", "s3:putobject"}
    assert u.canonical(CAT) == ["s3:GetObjectAcl", "s3:PutObject"]
    assert not u.warnings


def test_finding_v2_with_whole_service_and_prefixed_actions() -> None:
    finding = {
        "findingType": "UnusedPermission",
        "findingDetails": [
            {"unusedPermissionDetails": {"serviceNamespace": "iam", "lastAccessed": "2024"}},
            {
                "unusedPermissionDetails": {
                    "serviceNamespace": "s3",
                    "actions": [
                        {"action": "s3:GetObject", "lastAccessed": "2024-01-01T00:00:00Z"},
                        {"action": "PutObject"},
                    ],
                }
            },
        ],
    }
    u = parse_unused(json.dumps(finding), CAT)
    assert u.actions == {"iam:getuser", "iam:listusers", "s3:getobject", "s3:putobject"}
    assert u.services == {"iam"}


def test_services_given_whole_are_remembered() -> None:
    text = json.dumps(
        [
            {"serviceNamespace": "IAM"},
            {"serviceNamespace": "nosuch"},
            {"serviceNamespace": "s3", "actions": ["GetObject"]},
        ]
    )
    u = parse_unused(text, CAT)
    # An unknown service is warned about and ignored, so it is not given whole.
    assert u.services == {"iam"}
    assert u.actions == {"iam:getuser", "iam:listusers", "s3:getobject"}
    assert parse_unused('["iam:GetUser", "iam:ListUsers"]', CAT).services == frozenset()


def test_plain_list_json_and_lines() -> None:
    assert parse_unused('["s3:GetObject", "IAM:GetUser"]', CAT).actions == {
        "s3:getobject",
        "iam:getuser",
    }
    text = "# unused\ns3:GetObject\n\n  iam:ListUsers  \n"
    assert parse_unused(text, CAT).actions == {"s3:getobject", "iam:listusers"}


def test_a_line_of_a_plain_list_is_named_once_by_its_position() -> None:
    """A bad line gets `FILE:LINE:COL` and a message that does not repeat the line
    (issue 19); a JSON item is named by its index, which has no line."""
    text = "s3:GetObject\n  GetObject\n\ts3:Get*\n"
    with pytest.raises(UnusedInputError) as info:
        parse_unused(text, CAT, "noprefix.txt")
    assert [d.render() for d in info.value.diagnostics] == [
        "noprefix.txt:2:3: error: `GetObject` has no service prefix (expected `service:Action`)",
        "noprefix.txt:3:2: error: `Get*` is not an action name",
    ]
    with pytest.raises(UnusedInputError) as info:
        parse_unused('["s3:GetObject", "GetObject"]', CAT, "u.json")
    assert [d.render() for d in info.value.diagnostics] == [
        "u.json: error: `[1]`: `GetObject` has no service prefix (expected `service:Action`)",
    ]


def test_unknown_names_warn_and_carry_on() -> None:
    u = parse_unused('["s3:GetNothing", "nosuch:Thing", "s3:GetObject"]', CAT, "u.json")
    assert u.actions == {"s3:getobject"}
    messages = [w.render() for w in u.warnings]
    assert messages == [
        "u.json: warning: unknown action `s3:GetNothing` (not in the catalog); ignored",
        "u.json: warning: unknown service `nosuch` in unused action `nosuch:Thing`; ignored",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"actions": ["GetObject"]}]', "`[0]`: missing or invalid `serviceNamespace`"),
        (
            '{"findingDetails": [{"unusedPermissionDetails": {"serviceNamespace": "s3", '
            '"actions": [{"lastAccessed": "x"}]}}]}',
            "`findingDetails[0].unusedPermissionDetails.actions[0].action`: "
            "missing or invalid `action`",
        ),
        ('["s3:Get*"]', "`[0]`: `Get*` is not an action name"),
        ('["GetObject"]', "`[0]`: `GetObject` has no service prefix"),
        ("[1]", "`[0]`: expected a `service:Action` string, got `1`"),
        ('{"a": 1}', "unrecognized unused-actions format"),
        ('{"a": 1, "a": 2}', "duplicate key `a`"),
        ("[", "invalid JSON"),
        (
            '[{"serviceNamespace": "s3", "actions": ["iam:GetUser"]}]',
            "`iam:GetUser` is not in service `s3`",
        ),
    ],
)
def test_broken_input_is_an_error(text: str, message: str) -> None:
    with pytest.raises(UnusedInputError) as info:
        parse_unused(text, CAT, "u.json")
    assert message in str(info.value)


def test_non_utf8_file_reports_position(tmp_path: Path) -> None:
    path = tmp_path / "u.txt"
    path.write_bytes(b"s3:GetObject\ns3:Get\xffx\n")
    with pytest.raises(UnusedInputError) as info:
        load_unused(path, CAT)
    assert str(info.value) == f"{path}:2:7: error: file is not valid UTF-8: byte `0xff`"


@pytest.mark.parametrize(
    "text",
    [
        '["s3:GetObject", "iam:GetUser"]',
        '[{"serviceNamespace": "s3", "actions": ["GetObject"]}, "iam:GetUser"]',
        "s3:GetObject\niam:GetUser\n",
    ],
)
def test_a_byte_order_mark_is_skipped(tmp_path: Path, text: str) -> None:
    """Issue 15 item 13: a file starting with a UTF-8 BOM reads as the same file
    without it, whatever its form."""
    plain = tmp_path / "plain"
    plain.write_text(text, encoding="utf-8")
    marked = tmp_path / "marked"
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    expected = load_unused(plain, CAT)
    got = load_unused(marked, CAT)
    assert got.actions == expected.actions == {"s3:getobject", "iam:getuser"}
    assert not got.warnings


@pytest.mark.parametrize(
    ("kind", "advice"),
    [
        ("UnusedIAMRole", "the whole role `arn:aws:iam::1:role/r` is unused"),
        ("UnusedIAMUserAccessKey", "deactivate or delete the key"),
        ("UnusedIAMUserPassword", "remove the password"),
        ("ExternalAccess", "`findingType` is `ExternalAccess`, not `UnusedPermission`"),
    ],
)
def test_a_finding_of_another_type_is_an_error_saying_what_to_do(kind: str, advice: str) -> None:
    """Issue 15 item 14: a finding that is not about unused permissions is refused
    with advice, not skipped with a warning."""
    finding = {
        "resource": "arn:aws:iam::1:role/r",
        "findingType": kind,
        "findingDetails": [{"unusedIamRoleDetails": {"lastAccessed": "2024-01-01T00:00:00Z"}}],
    }
    with pytest.raises(UnusedInputError) as info:
        parse_unused(json.dumps(finding), CAT, "f.json")
    (diag,) = info.value.diagnostics
    assert diag.file == "f.json" and advice in diag.message


def test_unused_inputs_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 item 4: devices are refused and regular files are read up to a limit."""
    from iamrefine import files

    with pytest.raises(UnusedInputError, match="is a character device, not a regular file"):
        load_unused("/dev/zero", CAT)
    big = tmp_path / "big.txt"
    big.write_text("s3:GetObject\n" * 10)
    monkeypatch.setattr(files, "MAX_INPUT_BYTES", 100)
    monkeypatch.setattr("iamrefine.unused.MAX_INPUT_BYTES", 100)
    with pytest.raises(UnusedInputError, match="is 130 bytes, larger than the limit of 100"):
        load_unused(big, CAT)
