"""iamrefine against a real peer: Netflix policyuniverse's prefix minimizer.

``policyuniverse.expander_minimizer.minimize_statement_actions`` covers a statement's
wanted actions with character prefixes computed against policyuniverse's own (2023)
action list. Per Allow-with-Action statement that covers unused actions, both tools get
the same wanted set: the catalog actions the statement matches minus the unused ones.
iamrefine runs ``refine_policy`` on the policy; the peer runs once per such statement,
in the same process, interleaved policy by policy. Wanted actions missing from the
peer's list are passed through as exact names (the peer raises on them). Both outputs
are then graded by iamrefine's checker. Sizes count every pattern of the compared
statements, kept and new, on both sides; iamrefine's character-granularity output
(``--granularity char``, cuts anywhere, not only between CamelCase words) is measured
and graded too, as the like-for-like size comparison with the peer's character
prefixes. Needs ``pip install .[bench]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from typing import Any

from bench_corpus import load_cases
from common import write_result


def _peer_minimize(wanted: list[str]) -> tuple[list[str], float]:
    from policyuniverse import expander_minimizer as em

    known = [a for a in wanted if a in em.all_permissions]
    passthrough = [a for a in wanted if a not in em.all_permissions]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        out = em.minimize_statement_actions({"Effect": "Allow", "Action": known}) if known else []
    return sorted(set(out) | set(passthrough)), time.perf_counter() - start


def _patterns(result: Any, touched: list[int]) -> list[str]:
    """Every pattern of the refined statements that come from the ``touched`` ones."""
    if result.policy is None:
        return []
    return [
        p
        for j, i in enumerate(result.statement_origin)
        if i in touched
        for p in result.policy.statements[j].action_element.values
    ]


def _count(table: dict[str, int], key: str) -> None:
    table[key] = table.get(key, 0) + 1


def run(limit: int | None = None) -> dict[str, Any]:
    from iamrefine.refine import refine_policy
    from iamrefine.verify import Verdict, verify_refinement, verify_result

    catalog, cases = load_cases()
    if limit:
        cases = cases[:limit]
    ours_t: dict[str, float] = {}
    peer_t: dict[str, float] = {}
    size = {
        "ours_patterns": 0,
        "ours_char_granularity_patterns": 0,
        "peer_patterns": 0,
        "ours_chars": 0,
        "ours_char_granularity_chars": 0,
        "peer_chars": 0,
    }
    peer_verdicts: dict[str, int] = {}
    peer_failed_claims: dict[str, int] = {}
    ours_verdicts: dict[str, int] = {}
    ours_char_verdicts: dict[str, int] = {}
    example: dict[str, Any] | None = None
    compared = 0
    for name, policy, unused in cases:
        t = time.perf_counter()
        ours = refine_policy(policy, unused, catalog)
        ours_time = time.perf_counter() - t
        touched = sorted({r.statement_index for r in ours.replacements})
        if not touched:
            continue
        peer_statements = list(policy.statements)
        peer_time = 0.0
        emptied: set[int] = set()
        for index in touched:
            st = policy.statements[index]
            matched: set[str] = set()
            for pattern in st.action_element.values:
                matched.update(catalog.expand(pattern))
            wanted = sorted(matched - unused.actions)
            out, secs = _peer_minimize(wanted)
            peer_time += secs
            if not out:
                emptied.add(index)
            peer_statements[index] = st.with_actions(out) if out else st.with_actions(["none:none"])
        peer_policy = policy.model_copy(update={"statements": peer_statements})
        compared += 1
        ours_t[name] = ours_time
        peer_t[name] = peer_time
        # A statement left with no wanted action counts on neither side.
        ours_patterns = _patterns(ours, touched)
        size["ours_patterns"] += len(ours_patterns)
        size["ours_chars"] += sum(len(p) for p in ours_patterns)
        fine = refine_policy(policy, unused, catalog, granularity="char")
        fine_patterns = _patterns(fine, touched)
        size["ours_char_granularity_patterns"] += len(fine_patterns)
        size["ours_char_granularity_chars"] += sum(len(p) for p in fine_patterns)
        _count(ours_char_verdicts, verify_result(fine, unused, catalog).verdict.name)
        peer_patterns = [
            p for i in touched if i not in emptied for p in peer_statements[i].action_element.values
        ]
        size["peer_patterns"] += len(peer_patterns)
        size["peer_chars"] += sum(len(p) for p in peer_patterns)
        _count(ours_verdicts, verify_result(ours, unused, catalog).verdict.name)
        peer_report = verify_refinement(policy, peer_policy, unused, catalog)
        _count(peer_verdicts, peer_report.verdict.name)
        for c in peer_report.claims:
            if c.verdict is not Verdict.PROVED:
                _count(peer_failed_claims, f"{c.name}: {c.verdict.name}")
        if peer_report.verdict is not Verdict.PROVED and example is None:
            failing = next(c for c in peer_report.claims if c.verdict is not Verdict.PROVED)
            cex = failing.counterexample
            example = {
                "policy": name,
                "claim": failing.name,
                "counterexample": cex.message if cex is not None else failing.reason,
            }
    ratios = [peer_t[k] / ours_t[k] for k in ours_t if ours_t[k] > 0]
    data = {
        "policies_compared": compared,
        "ours_total_s": round(sum(ours_t.values()), 3),
        "peer_total_s": round(sum(peer_t.values()), 3),
        "total_ratio_peer_over_ours": round(
            sum(peer_t.values()) / max(sum(ours_t.values()), 1e-9), 1
        ),
        "median_ratio_peer_over_ours": round(statistics.median(ratios), 1) if ratios else None,
        "min_ratio_peer_over_ours": round(min(ratios), 2) if ratios else None,
        **size,
        "ours_verdicts": ours_verdicts,
        "ours_char_granularity_verdicts": ours_char_verdicts,
        "peer_verdicts": peer_verdicts,
        "peer_failed_claims": peer_failed_claims,
        "peer_not_exact": compared - peer_verdicts.get("PROVED", 0),
        "peer_example": example,
    }
    write_result("peer", data)
    return data


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N policies")
    args = parser.parse_args()
    print(run(args.limit))
