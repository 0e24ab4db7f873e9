"""Access Analyzer's unused-permission findings.

- :func:`find_analyzer`: the region's unused-access analyzer (the organization's one
  first, else the account's), when ``--analyzer-arn`` is not given;
- :func:`list_findings`: the active ``UnusedPermission`` findings, through the
  ``list_findings_v2`` paginator;
- :func:`get_finding`: one finding with every page of its details, through the
  ``get_finding_v2`` paginator, as one ``GetFindingV2`` response (the form that
  ``--unused`` reads).

Responses are made JSON-safe (timestamps as ISO 8601 text) and lose botocore's
``ResponseMetadata``, so that a finding is written to disk exactly as fetched.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iamrefine.errors import InputError

UNUSED_PERMISSION = "UnusedPermission"
ANALYZER_TYPES = ("ORGANIZATION_UNUSED_ACCESS", "ACCOUNT_UNUSED_ACCESS")


def jsonable(value: Any) -> Any:
    """``value`` with timestamps as ISO 8601 text and without ``ResponseMetadata``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Analyzer:
    arn: str
    type: str

    @property
    def organization(self) -> bool:
        return self.type.startswith("ORGANIZATION")


def find_analyzer(client: Any, region: str) -> Analyzer:
    """The active unused-access analyzer of the region, the organization's first.
    Raises :class:`InputError` when there is none."""
    for kind in ANALYZER_TYPES:
        for page in client.get_paginator("list_analyzers").paginate(type=kind):
            for analyzer in page.get("analyzers", []):
                if analyzer.get("status") == "ACTIVE":
                    return Analyzer(str(analyzer["arn"]), str(analyzer["type"]))
    raise InputError.at(
        "--analyzer-arn",
        f"no active unused-access analyzer in {region}: create one, or pass `--analyzer-arn`",
    )


def list_findings(
    client: Any, analyzer_arn: str, accounts: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The active ``UnusedPermission`` findings of the analyzer (of ``accounts`` only,
    when given), sorted by account, resource and id."""
    criteria: dict[str, Any] = {
        "status": {"eq": ["ACTIVE"]},
        "findingType": {"eq": [UNUSED_PERMISSION]},
    }
    if accounts:
        criteria["resourceOwnerAccount"] = {"eq": list(accounts)}
    found: list[dict[str, Any]] = []
    paginator = client.get_paginator("list_findings_v2")
    for page in paginator.paginate(analyzerArn=analyzer_arn, filter=criteria):
        for item in page.get("findings", []):
            # The filter is the service's; the check is ours, so that a finding of
            # another kind or account never reaches the refiner.
            if item.get("findingType") != UNUSED_PERMISSION or item.get("status") != "ACTIVE":
                continue
            if accounts and item.get("resourceOwnerAccount") not in accounts:
                continue
            found.append(jsonable(item))
    found.sort(key=lambda f: (f.get("resourceOwnerAccount", ""), f.get("resource", ""), f["id"]))
    return found


def get_finding(client: Any, analyzer_arn: str, finding_id: str) -> dict[str, Any]:
    """The finding with all pages of its ``findingDetails``, as one response."""
    merged: dict[str, Any] = {}
    details: list[Any] = []
    paginator = client.get_paginator("get_finding_v2")
    for page in paginator.paginate(analyzerArn=analyzer_arn, id=finding_id):
        data = jsonable(page)
        details.extend(data.pop("findingDetails", []))
        data.pop("nextToken", None)
        merged = {**data, **merged}
    merged["findingDetails"] = details
    return merged
