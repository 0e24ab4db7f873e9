"""Which condition keys may carry several values in a request (the request model).

AWS's IAM User Guide classifies every global condition key as *single-valued* (at most
one value in a request context) or *multivalued* ("Single-valued vs. multivalued context
keys"; the "Value type" line of each key in "AWS global condition context keys"). Tag
keys such as ``aws:PrincipalTag/tag-key`` are single-valued: a tag key has one value.
The same guide says that only single-valued keys can be policy variables.

iamrefine models a key as single-valued only when AWS documents it so, or when a policy
variable names it. Every other key, every service-specific key and every key AWS has not
defined included, may carry any finite set of values (``proofs/THEOREMS.md`` §11).
"""

from __future__ import annotations

from iamrefine.glob import ascii_lower

SINGLE_VALUED_GLOBAL_KEYS = frozenset(
    ascii_lower(k)
    for k in (
        "aws:CalledViaFirst",
        "aws:CalledViaLast",
        "aws:CurrentTime",
        "aws:Ec2InstanceSourcePrivateIPv4",
        "aws:Ec2InstanceSourceVpc",
        "aws:EpochTime",
        "aws:FederatedProvider",
        "aws:MultiFactorAuthAge",
        "aws:MultiFactorAuthPresent",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalIsAWSService",
        "aws:PrincipalOrgID",
        "aws:PrincipalServiceName",
        "aws:PrincipalType",
        "aws:Referer",
        "aws:RequestedRegion",
        "aws:ResourceAccount",
        "aws:ResourceOrgID",
        "aws:SecureTransport",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceIdentity",
        "aws:SourceIp",
        "aws:SourceOrgID",
        "aws:SourceVpc",
        "aws:SourceVpcArn",
        "aws:SourceVpce",
        "aws:TokenIssueTime",
        "aws:UserAgent",
        "aws:userid",
        "aws:username",
        "aws:ViaAWSService",
        "aws:VpcSourceIp",
    )
)
"""Global keys that the IAM User Guide documents as single-valued."""

SINGLE_VALUED_TAG_PREFIXES = ("aws:principaltag/", "aws:requesttag/", "aws:resourcetag/")
"""``aws:PrincipalTag/k``, ``aws:RequestTag/k`` and ``aws:ResourceTag/k``: one value per
tag key (the guide's example of a single-valued key)."""


def documented_single_valued(key: str) -> bool:
    """Does AWS document the (any-case) condition key ``key`` as single-valued?"""
    k = ascii_lower(key)
    return k in SINGLE_VALUED_GLOBAL_KEYS or k.startswith(SINGLE_VALUED_TAG_PREFIXES)
