"""Connecting to AWS.

One :class:`Connector` per run holds a boto3 session and makes every client with
botocore's ``adaptive`` retry mode, which retries throttling errors with backoff and
slows the client down to the rate the service accepts. A member account of an
organization is reached through STS ``AssumeRole`` into a role of the same name in
every account (``--assume-role-name``).

Credentials are only ever held in memory, by boto3: nothing here writes, prints or
logs them, and :class:`AwsFailure` keeps only an error's code and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iamrefine import __version__
from iamrefine.errors import InputError

MAX_ATTEMPTS = 10
"""Attempts of one call, the first included, before a throttling error is final."""

SESSION_NAME = "iamrefine"

_ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedAccess",
    }
)


@dataclass(frozen=True)
class AwsFailure:
    """A failed call, recorded so that the run can go on: which account, principal and
    policy it concerned, the operation, and the service's error code and message."""

    account: str
    operation: str
    code: str
    message: str
    principal: str = ""
    policy: str = ""

    @property
    def access_denied(self) -> bool:
        return self.code in _ACCESS_DENIED

    def to_json(self) -> dict[str, str]:
        return {
            "account": self.account,
            "principal": self.principal,
            "policy": self.policy,
            "operation": self.operation,
            "code": self.code,
            "message": self.message,
        }

    def render(self) -> str:
        where = "/".join(p for p in (self.account, self.principal, self.policy) if p)
        return f"{where}: {self.operation}: {self.code}: {self.message}"


def failure(
    exc: Exception, *, account: str, operation: str, principal: str = "", policy: str = ""
) -> AwsFailure:
    """An :class:`AwsFailure` from a botocore error (a ``ClientError`` or any
    ``BotoCoreError``, such as a connection failure)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "ClientError")
        message = str(error.get("Message") or exc)
        op = exc.operation_name or operation
    else:
        code, message, op = type(exc).__name__, str(exc), operation
    return AwsFailure(account, op, code, message, principal, policy)


def aws_errors() -> tuple[type[Exception], ...]:
    """The botocore exceptions that one call can raise for one account or policy."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def client_config(max_attempts: int = MAX_ATTEMPTS) -> Any:
    """The botocore ``Config`` of every client: adaptive retries."""
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "total_max_attempts": max_attempts},
        user_agent_extra=f"iamrefine/{__version__}",
    )


class Connector:
    """Clients for one run: Access Analyzer and STS in the session's account, IAM in
    any account (assuming ``role_name`` there when it is not the session's own)."""

    def __init__(
        self, session: Any, *, role_name: str | None = None, max_attempts: int = MAX_ATTEMPTS
    ) -> None:
        self.session = session
        self.role_name = role_name
        self.config = client_config(max_attempts)
        self._clients: dict[str, Any] = {}
        self._iam: dict[str, Any] = {}
        self._identity: dict[str, str] | None = None

    @classmethod
    def open(cls, *, profile: str | None, region: str | None, role_name: str | None) -> Connector:
        """A connector on a new boto3 session; raises :class:`InputError` when the
        profile does not exist or no region is configured."""
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except BotoCoreError as exc:
            raise InputError.at("--profile", str(exc)) from None
        if session.region_name is None:
            raise InputError.at(
                "--region", "no AWS region: pass `--region` or configure a default region"
            )
        return cls(session, role_name=role_name)

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str) -> Any:
        """A cached client of ``service`` in the session's own account."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self.config)
        return self._clients[service]

    def analyzer(self) -> Any:
        return self.client("accessanalyzer")

    def identity(self) -> dict[str, str]:
        """The caller's ``Account`` and ``Arn`` (STS ``GetCallerIdentity``); raises
        :class:`InputError` when there are no usable credentials."""
        if self._identity is None:
            try:
                found = self.client("sts").get_caller_identity()
            except aws_errors() as exc:
                f = failure(exc, account="", operation="GetCallerIdentity")
                raise InputError.at(
                    "aws", f"cannot use the AWS credentials: {f.code}: {f.message}"
                ) from None
            self._identity = {"Account": str(found["Account"]), "Arn": str(found["Arn"])}
        return self._identity

    @property
    def account(self) -> str:
        return self.identity()["Account"]

    @property
    def partition(self) -> str:
        return self.identity()["Arn"].split(":")[1]

    def iam(self, account: str) -> Any:
        """An IAM client in ``account``. Raises a botocore error when the role cannot be
        assumed, and :class:`MemberAccountError` when no role name was given."""
        if account not in self._iam:
            if account == self.account:
                client = self.session.client("iam", config=self.config)
            else:
                client = self._assumed("iam", account)
            _keep_policy_text(client)
            self._iam[account] = client
        return self._iam[account]

    def _assumed(self, service: str, account: str) -> Any:
        if not self.role_name:
            raise MemberAccountError(account)
        arn = f"arn:{self.partition}:iam::{account}:role/{self.role_name}"
        found = self.client("sts").assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)
        creds = found["Credentials"]
        return self.session.client(
            service,
            config=self.config,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )


class MemberAccountError(Exception):
    """A member account was needed but no ``--assume-role-name`` was given."""

    def __init__(self, account: str) -> None:
        self.account = account
        super().__init__(
            f"account {account} is not the caller's; pass `--assume-role-name` to reach it"
        )


def _keep_policy_text(client: Any) -> None:
    """Stop botocore from decoding IAM policy documents into dicts, so that the
    document is kept as the text IAM stores (for the digest that ``apply`` compares,
    and for the parser's positions and its duplicate-key check)."""
    from botocore.handlers import json_decode_policies

    client.meta.events.unregister("after-call.iam", json_decode_policies)
