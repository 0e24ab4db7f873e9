"""A principal's identity policies, read from IAM.

- attached managed policies: ``list_attached_role_policies`` (or ``_user_``, through
  their paginators), then ``get_policy`` for the default version and
  ``get_policy_version`` for its document;
- inline policies: ``list_role_policies`` (or ``_user_``) and ``get_role_policy``;
- who else a customer managed policy is attached to: ``list_entities_for_policy``.

IAM returns policy documents URL-encoded (RFC 3986); :func:`decode_document` undoes
that, and the text is kept as IAM stores it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from iamrefine.aws.clients import AwsFailure, aws_errors, failure


class PolicyKind(StrEnum):
    """Customer managed, AWS managed (cannot be edited) or inline."""

    MANAGED = "managed"
    AWS_MANAGED = "aws"
    INLINE = "inline"


class PrincipalKind(StrEnum):
    ROLE = "role"
    USER = "user"


@dataclass(frozen=True, order=True)
class Principal:
    """An IAM role or user; ``folder`` is its output folder name (``role-NAME``)."""

    account: str
    kind: PrincipalKind
    name: str
    arn: str

    @classmethod
    def from_arn(cls, arn: str) -> Principal:
        """The principal of ``arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`` (or
        ``user/``); raises ``ValueError`` for any other ARN."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam":
            raise ValueError(f"`{arn}` is not an IAM role or user ARN")
        kind, _, rest = parts[5].partition("/")
        if kind not in ("role", "user") or not rest:
            raise ValueError(f"`{arn}` is not an IAM role or user ARN")
        return cls(parts[4], PrincipalKind(kind), rest.rsplit("/", 1)[-1], arn)

    @property
    def folder(self) -> str:
        return f"{self.kind.value}-{self.name}"

    def to_json(self) -> dict[str, str]:
        return {
            "account": self.account,
            "kind": self.kind.value,
            "name": self.name,
            "arn": self.arn,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Principal:
        return cls(
            str(data["account"]), PrincipalKind(data["kind"]), str(data["name"]), str(data["arn"])
        )


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FetchedPolicy:
    """One policy document as IAM returned it (decoded), with where it came from.

    ``arn`` and ``version_id`` are those of a managed policy's default version (None
    for an inline policy); ``policy_id`` is what a recommendation's
    ``existingPolicyId`` names: the ARN, or the inline policy's name."""

    kind: PolicyKind
    name: str
    document: str
    arn: str | None = None
    version_id: str | None = None

    @property
    def digest(self) -> str:
        return sha256_text(self.document)

    @property
    def policy_id(self) -> str:
        return self.arn or self.name

    @property
    def folder(self) -> str:
        return f"{self.kind.value}-{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "arn": self.arn,
            "version_id": self.version_id,
            "digest": self.digest,
        }


def decode_document(value: Any) -> str:
    """The policy text of an IAM ``PolicyDocument`` value. IAM URL-encodes documents,
    so an encoded one holds no ``{``; a value that does is already decoded."""
    if not isinstance(value, str):
        raise TypeError(f"a policy document must be text, not {type(value).__name__}")
    return value if "{" in value else unquote(value)


def is_aws_managed(arn: str) -> bool:
    return arn.split(":")[4:5] == ["aws"]


def managed_document(iam: Any, arn: str) -> tuple[str, str]:
    """The default version id and document of a managed policy."""
    version = str(iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"])
    found = iam.get_policy_version(PolicyArn=arn, VersionId=version)
    return version, decode_document(found["PolicyVersion"]["Document"])


def inline_document(iam: Any, principal: Principal, name: str) -> str:
    """The document of an inline policy of ``principal``."""
    if principal.kind is PrincipalKind.ROLE:
        found = iam.get_role_policy(RoleName=principal.name, PolicyName=name)
    else:
        found = iam.get_user_policy(UserName=principal.name, PolicyName=name)
    return decode_document(found["PolicyDocument"])


def _names(iam: Any, principal: Principal) -> tuple[list[tuple[str, str]], list[str]]:
    if principal.kind is PrincipalKind.ROLE:
        key, attached, inline = "RoleName", "list_attached_role_policies", "list_role_policies"
    else:
        key, attached, inline = "UserName", "list_attached_user_policies", "list_user_policies"
    managed = [
        (str(p["PolicyArn"]), str(p["PolicyName"]))
        for page in iam.get_paginator(attached).paginate(**{key: principal.name})
        for p in page.get("AttachedPolicies", [])
    ]
    names = [
        str(n)
        for page in iam.get_paginator(inline).paginate(**{key: principal.name})
        for n in page.get("PolicyNames", [])
    ]
    return managed, names


def principal_policies(
    iam: Any, principal: Principal
) -> tuple[list[FetchedPolicy], list[AwsFailure]]:
    """Every managed and inline policy of ``principal``, sorted by kind and name, and a
    failure for each policy that could not be read (the others are still returned).
    Raises a botocore error when the policies cannot even be listed."""
    managed, names = _names(iam, principal)
    fetched: list[FetchedPolicy] = []
    failures: list[AwsFailure] = []

    def attempt(label: str, operation: str, read: Callable[[], FetchedPolicy]) -> None:
        try:
            fetched.append(read())
        except aws_errors() as exc:
            failures.append(
                failure(
                    exc,
                    account=principal.account,
                    operation=operation,
                    principal=principal.folder,
                    policy=label,
                )
            )

    for arn, name in managed:
        kind = PolicyKind.AWS_MANAGED if is_aws_managed(arn) else PolicyKind.MANAGED

        def read_managed(
            arn: str = arn, name: str = name, kind: PolicyKind = kind
        ) -> FetchedPolicy:
            version, text = managed_document(iam, arn)
            return FetchedPolicy(kind, name, text, arn, version)

        attempt(f"{kind.value}-{name}", "GetPolicyVersion", read_managed)
    for name in names:

        def read_inline(name: str = name) -> FetchedPolicy:
            return FetchedPolicy(PolicyKind.INLINE, name, inline_document(iam, principal, name))

        attempt(f"inline-{name}", "GetRolePolicy", read_inline)
    fetched.sort(key=lambda p: (p.kind.value, p.name))
    return fetched, failures


@dataclass(frozen=True)
class Attachments:
    """Whom a managed policy is attached to: roles and users by name, and groups."""

    roles: frozenset[str]
    users: frozenset[str]
    groups: frozenset[str]

    def principals(self) -> set[tuple[PrincipalKind, str]]:
        return {(PrincipalKind.ROLE, r) for r in self.roles} | {
            (PrincipalKind.USER, u) for u in self.users
        }


def attachments(iam: Any, arn: str) -> Attachments:
    """Every role, user and group that the managed policy ``arn`` is attached to."""
    roles: set[str] = set()
    users: set[str] = set()
    groups: set[str] = set()
    for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
        roles.update(str(r["RoleName"]) for r in page.get("PolicyRoles", []))
        users.update(str(u["UserName"]) for u in page.get("PolicyUsers", []))
        groups.update(str(g["GroupName"]) for g in page.get("PolicyGroups", []))
    return Attachments(frozenset(roles), frozenset(users), frozenset(groups))
