"""From an AWS account to proven recommendations (the optional ``aws`` extra, on boto3).

- :mod:`~iamrefine.aws.clients`: one boto3 session, botocore's adaptive retry mode,
  member accounts reached through STS ``AssumeRole``; credentials stay in memory;
- :mod:`~iamrefine.aws.findings`: Access Analyzer's unused-permission findings;
- :mod:`~iamrefine.aws.policies`: a principal's managed and inline policies from IAM;
- :mod:`~iamrefine.aws.layout`: the output folder, one folder per policy;
- :mod:`~iamrefine.aws.recommend`: ``iamrefine aws recommend``, resumable;
- :mod:`~iamrefine.aws.compare`: AWS's own recommendation, graded by the checker;
- :mod:`~iamrefine.aws.apply`: ``iamrefine aws apply`` and its rollback.
"""

from __future__ import annotations

from iamrefine.errors import InputError


def require_boto3() -> None:
    """Raise :class:`InputError` naming the extra to install when boto3 is missing."""
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise InputError.at(
            "aws",
            "the `aws` commands need boto3: install the extra with `pip install 'iamrefine[aws]'`",
        ) from None
