"""What a policy source holds: the policies found in one file, each with an id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from iamrefine.errors import Diagnostic, InputError, PolicyError

if TYPE_CHECKING:
    from iamrefine.model import Policy
    from iamrefine.sources.tree import Opaque


class SourceKind(StrEnum):
    """The kind of file a policy was read from."""

    POLICY_JSON = "policy-json"
    POLICY_YAML = "policy-yaml"
    CLOUDFORMATION = "cloudformation"
    TERRAFORM_PLAN = "terraform-plan"


@dataclass
class PolicySource:
    """One policy read from a file, with positions relative to that file.

    ``id`` is empty for a file that is one policy; otherwise the CloudFormation logical
    id (``LogicalId`` or ``LogicalId/PolicyName``) or the Terraform address. ``notes``
    say which values are opaque (see :class:`~iamrefine.sources.tree.Opaque`), which
    ``opaque`` maps by token. ``document`` is the 1-based span of the policy document
    in the file's ``text``, for writing a refined document back into a copy of it."""

    file: str
    kind: SourceKind
    id: str
    policy: Policy
    notes: list[Diagnostic] = field(default_factory=list)
    opaque: dict[str, Opaque] = field(default_factory=dict)
    document: tuple[int, int, int, int] | None = None
    text: str | None = None

    @property
    def label(self) -> str:
        """``FILE`` or ``FILE#ID``: how reports name this policy."""
        return f"{self.file}#{self.id}" if self.id else self.file


@dataclass
class Candidate:
    """A policy found in a file, not yet validated (see :meth:`load`)."""

    id: str
    load: Callable[[], PolicySource]


@dataclass
class Document:
    """A file that holds policies: one plain policy, a template or a plan."""

    file: str
    kind: SourceKind
    candidates: list[Candidate]
    text: str | None = None
    empty_reason: str = "holds no IAM policy"
    empty_where: tuple[int, int] | None = None

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.candidates]

    def _none(self) -> InputError:
        line, column = self.empty_where or (None, None)
        return PolicyError(Diagnostic(self.file, line, column, f"the file {self.empty_reason}"))

    def select(self, policy_id: str | None = None) -> PolicySource:
        """The policy named ``policy_id`` (``LogicalId``, ``LogicalId/PolicyName`` or a
        Terraform address); without one, the file's only policy. A logical id alone
        selects a role's or user's inline policy when it has exactly one."""
        if not self.candidates:
            raise self._none()
        if policy_id is None:
            if len(self.candidates) == 1:
                return self.candidates[0].load()
            raise PolicyError.at(
                self.file,
                f"the file holds {len(self.candidates)} policies; pick one with "
                f"`--policy-id` ({_listing(self.ids)}) or use `--all`",
            )
        if self.kind in (SourceKind.POLICY_JSON, SourceKind.POLICY_YAML):
            raise PolicyError.at(
                self.file,
                f"`--policy-id {policy_id}` selects a policy in a template or plan, "
                "but this file is a single policy",
            )
        exact = [c for c in self.candidates if c.id == policy_id]
        if exact:
            return exact[0].load()
        nested = [c for c in self.candidates if c.id.startswith(policy_id + "/")]
        if len(nested) == 1:
            return nested[0].load()
        if nested:
            raise PolicyError.at(
                self.file,
                f"`{policy_id}` holds {len(nested)} policies; pick one with "
                f"`--policy-id` ({_listing([c.id for c in nested])})",
            )
        raise PolicyError.at(
            self.file, f"no policy `{policy_id}` in the file (it holds {_listing(self.ids)})"
        )

    def all(self) -> list[PolicySource]:
        """Every policy of the file, validated; every error of every policy is raised
        together."""
        if not self.candidates:
            raise self._none()
        loaded: list[PolicySource] = []
        errors: list[Diagnostic] = []
        for candidate in self.candidates:
            try:
                loaded.append(candidate.load())
            except InputError as exc:
                errors.extend(exc.diagnostics)
        if errors:
            raise PolicyError(errors)
        return loaded


def _listing(ids: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"`{i}`" for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
