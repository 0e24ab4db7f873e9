"""Cutting an Allow statement with NotAction by service, when the refined statement is
over the managed-policy quota (refine.split)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from iamrefine.api import check, refine_and_prove
from iamrefine.catalog import Catalog
from iamrefine.certificate import verify_certificate
from iamrefine.choices import Verdict
from iamrefine.cli.app import app
from iamrefine.errors import QuotaError
from iamrefine.glob import action_matches
from iamrefine.parse import parse_policy
from iamrefine.refine.split import merged, outside_services, policy_size
from iamrefine.render import recommendation
from iamrefine.structure import glob_counterexample
from iamrefine.unused import UnusedSet

QUOTA = 6144
# Service names that share prefixes, so that the patterns for "every other service"
# must stop at the right depth (ec2 / ec2messages / ecr, a / ab / ab-c).
SERVICES = [
    "a", "ab", "ab-c", "acm", "b1", "ec2", "ec2messages", "ecr", "ecs", "eks", "iam",
    "kms", "lambda", "logs", "organizations", "s3", "s3-object-lambda", "sqs", "sts", "zz",
]  # fmt: skip
VERBS = ["Get", "Put", "Describe", "List", "Delete", "Create", "Update", "Tag"]
NOUNS = ["Bucket", "Object", "Vpc", "Instance", "Volume", "Snapshot", "Policy", "Role"]


def _catalog() -> tuple[Catalog, list[str]]:
    names = [f"{s}:{v}{n}{m}" for s in SERVICES for v in VERBS for n in NOUNS for m in NOUNS[:3]]
    return Catalog.from_names(names, source="test"), names


def _case(ratio: float = 0.4) -> tuple[Catalog, UnusedSet, object]:
    catalog, names = _catalog()
    rng = random.Random(7)
    candidates = [n for n in names if not n.startswith(("iam:", "organizations:"))]
    unused = UnusedSet.from_names(sorted(rng.sample(candidates, int(len(names) * ratio))), catalog)
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
            {
                "Sid": "PowerUser",
                "Effect": "Allow",
                "NotAction": ["iam:*", "organizations:*"],
                "Resource": "*",
            },
        ],
    }
    return catalog, unused, parse_policy(json.dumps(doc, indent=2), "power.json")


def test_a_notaction_statement_over_the_quota_is_cut_by_service_and_proved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog, unused, policy = _case()
    outcome = refine_and_prove(policy, unused, catalog=catalog, certificate=True)
    result = outcome.result
    assert outcome.verdict is Verdict.PROVED
    assert result.unsplit is not None
    whole = result.unsplit[0]
    assert policy_size(whole) > QUOTA  # one policy cannot hold it
    policies = result.policies
    assert len(policies) > 2 and all(policy_size(p) <= QUOTA for p in policies)
    pieces = [s for p in policies for s in p.statements if s.not_action is not None]
    assert len(pieces) > 2
    for piece in pieces:
        values = piece.not_action.values if piece.not_action else []
        # Every piece still excludes every string the original excludes.
        for excluded in ("iam:*", "organizations:*"):
            assert any(glob_counterexample(excluded, v) is None for v in values)
    # Within one policy no two statements share a Sid.
    for p in policies:
        sids = [s.sid for s in p.statements if s.sid]
        assert len(sids) == len(set(sids))
    # The reader of `check` takes the union of the recommendation's steps.
    text = json.dumps(recommendation(result, "power.json"))
    assert check(policy, text, unused, catalog=catalog).verdict is Verdict.PROVED
    # The certificate records the policy before its split, and re-checks.
    assert merged(result).policy == whole
    cert = tmp_path / "cert.json"
    cert.write_text(outcome.certificate_text() or "")
    assert verify_certificate(cert, catalog=catalog).valid


def test_too_few_policies_for_the_pieces_is_a_clear_error() -> None:
    catalog, unused, policy = _case()
    with pytest.raises(QuotaError, match=r"no split into at most 2 managed policies"):
        refine_and_prove(policy, unused, catalog=catalog, max_policies=2, prove=False)


service_names = st.lists(
    st.text(st.sampled_from(list("abc2-")), min_size=1, max_size=4), min_size=1, max_size=12
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(service_names, st.data())
def test_outside_patterns_cover_exactly_the_other_services(
    services: list[str], data: st.DataObject
) -> None:
    services = sorted(set(services))
    inside = set(data.draw(st.lists(st.sampled_from(services), max_size=len(services))))
    patterns = outside_services(services, inside)
    for s in services:
        name = f"{s}:Action"
        hit = any(action_matches(p, name) for p in patterns)
        assert hit == (s not in inside), (s, patterns)
        if s not in inside:
            # Over all strings: some one pattern holds everything that names the service.
            assert any(glob_counterexample(f"{s}:*", p) is None for p in patterns), (s, patterns)


def _admin_case(share: int) -> tuple[Catalog, UnusedSet, object]:
    """``Action: "*"`` with one name in ``share`` unused."""
    catalog, names = _catalog()
    sample = sorted(random.Random(3).sample(names, len(names) // share))
    unused = UnusedSet.from_names(sample, catalog)
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    return catalog, unused, parse_policy(json.dumps(doc), "admin.json")


def test_the_quota_error_says_when_notaction_would_fit() -> None:
    catalog, unused, admin = _admin_case(20)
    with pytest.raises(QuotaError) as raised:
        refine_and_prove(
            admin, unused, catalog=catalog, max_policies=1, prove=False, strategy="patterns"
        )
    assert str(raised.value).endswith(
        "; with `--strategy notaction` (an Allow statement whose Action is `*` becomes a "
        "NotAction list of the unused actions, cut by service) it fits in 1 managed policy"
    )
    # And it does.
    outcome = refine_and_prove(admin, unused, catalog=catalog, max_policies=1, strategy="notaction")
    assert outcome.verdict is Verdict.PROVED and len(outcome.result.policies) == 1
    # A policy without `Action: "*"` gets no such clause, and `auto` changes nothing.
    catalog, many, power = _case()
    for strategy in ("patterns", "auto"):
        with pytest.raises(QuotaError) as raised:
            refine_and_prove(
                power, many, catalog=catalog, max_policies=1, prove=False, strategy=strategy
            )
        assert "--strategy notaction" not in str(raised.value)


def test_auto_writes_notaction_where_only_that_fits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog, unused, admin = _admin_case(20)
    outcome = refine_and_prove(admin, unused, catalog=catalog, max_policies=1, certificate=True)
    assert outcome.verdict is Verdict.PROVED
    assert outcome.result.strategy == "notaction"
    (statement,) = outcome.result.policies[0].statements
    assert statement.sid == "All" and statement.action is None
    excluded = {
        n for n in catalog.actions if any(action_matches(v, n) for v in statement.not_action.values)
    }
    assert {n.lower() for n in excluded} == set(unused.actions)
    assert any(
        d.severity == "note" and "written as NotAction" in d.message for d in outcome.warnings
    )
    cert = tmp_path / "admin.cert.json"
    cert.write_text(outcome.certificate_text() or "")
    assert verify_certificate(cert, catalog=catalog).valid
    # With room for the Action lists, `auto` keeps them.
    kept = refine_and_prove(admin, unused, catalog=catalog, max_policies=10, prove=False)
    assert kept.result.strategy == "patterns" and kept.result.policies[0].statements[0].action


def test_auto_says_when_neither_form_fits() -> None:
    catalog, unused, admin = _admin_case(2)
    with pytest.raises(QuotaError) as raised:
        refine_and_prove(admin, unused, catalog=catalog, max_policies=1, prove=False)
    message = str(raised.value)
    assert message.endswith("; nor does the NotAction form of `--strategy notaction` fit")
    with pytest.raises(QuotaError):
        refine_and_prove(
            admin, unused, catalog=catalog, max_policies=1, prove=False, strategy="notaction"
        )


def test_refine_cli_defaults_to_auto_and_patterns_keeps_the_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    catalog, unused, _ = _admin_case(20)
    files = {
        "catalog": json.dumps(list(catalog.actions)),
        "policy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
        "unused": json.dumps(sorted(unused.actions)),
    }
    for name, text in files.items():
        (tmp_path / f"{name}.json").write_text(text, encoding="utf-8")
    args = ["refine", str(tmp_path / "policy.json"), "--unused", str(tmp_path / "unused.json")]
    args += ["--catalog", str(tmp_path / "catalog.json"), "--max-policies", "1"]
    runner = CliRunner()
    done = runner.invoke(app, [*args, "--format", "policy"])
    assert done.exit_code == 0, done.output
    assert "NotAction" in json.loads(done.stdout)["Statement"][0]
    assert "written as NotAction of the unused actions" in done.stderr
    refused = runner.invoke(
        app, [*args, "--strategy", "patterns", "--output", str(tmp_path / "o.json")]
    )
    assert refused.exit_code == 2
    assert "with `--strategy notaction`" in refused.stderr and "Traceback" not in refused.output
    assert not (tmp_path / "o.json").exists()


def _admin_beside_reader(share: int) -> tuple[Catalog, UnusedSet, object, list[str]]:
    """``Action: "*"`` beside an Allow statement of the same context (Resource ``*``, no
    condition) that names two wanted actions: the size optimizer's merge of one context
    must leave the statement that became NotAction alone."""
    catalog, unused, _ = _admin_case(share)
    low = set(unused.actions)
    reads = [n for n in catalog.actions if n.startswith("s3:Get") and n.lower() not in low][:2]
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "Read", "Effect": "Allow", "Action": reads, "Resource": "*"},
        ],
    }
    return catalog, unused, parse_policy(json.dumps(doc, indent=2), "admin.json"), reads


@pytest.mark.parametrize(
    "options",
    [
        {"strategy": "notaction", "optimize": "readable"},
        {"strategy": "notaction", "optimize": "size"},
        {"strategy": "auto", "max_policies": 1},
    ],
)
def test_a_star_statement_beside_others_of_its_context(tmp_path, options) -> None:  # type: ignore[no-untyped-def]
    catalog, unused, admin, reads = _admin_beside_reader(20)
    outcome = refine_and_prove(admin, unused, catalog=catalog, certificate=True, **options)
    assert outcome.verdict is Verdict.PROVED
    assert outcome.result.strategy == "notaction"
    for policy in outcome.result.policies:
        for statement in policy.statements:
            assert (statement.action is None) != (statement.not_action is None), statement
    statements = [s for p in outcome.result.policies for s in p.statements]
    assert [s.sid for s in statements if s.not_action is not None] == ["All"] * len(
        [s for s in statements if s.not_action is not None]
    )
    (read,) = [s for s in statements if s.sid == "Read"]
    assert read.action is not None and list(read.action.values) == reads
    cert = tmp_path / "admin.cert.json"
    cert.write_text(outcome.certificate_text() or "")
    assert verify_certificate(cert, catalog=catalog).valid


def test_a_star_statement_beside_others_is_cut_by_service_and_proved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # One name in three unused: no split of the Action lists fits in three policies, the
    # NotAction form is cut by service; the reader keeps its own statement.
    catalog, unused, admin, reads = _admin_beside_reader(3)
    outcome = refine_and_prove(admin, unused, catalog=catalog, certificate=True, max_policies=3)
    assert outcome.verdict is Verdict.PROVED
    assert outcome.result.strategy == "notaction" and len(outcome.result.policies) > 1
    statements = [s for p in outcome.result.policies for s in p.statements]
    assert all((s.action is None) != (s.not_action is None) for s in statements)
    (read,) = [s for s in statements if s.sid == "Read"]
    assert read.action is not None and list(read.action.values) == reads
    cert = tmp_path / "admin.cert.json"
    cert.write_text(outcome.certificate_text() or "")
    assert verify_certificate(cert, catalog=catalog).valid
