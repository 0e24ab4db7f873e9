"""Size on the managed corpus (issue 16): readable word prefixes, the size optimizer and
the policyuniverse peer, side by side, in one run.

Two scenarios over the 1,645 managed policies:

- ``random``: 30% of each policy's allowed actions unused, at random (``bench_corpus``'s
  cases);
- ``realistic``: findings as Access Analyzer gives them: each service the policy allows
  is wholly unused with probability 1/2 (given as a whole service), and 30% of the
  allowed actions of the other services are unused.

For each scenario and policy: the readable refinement (``--optimize readable``), the
optimizer (``--optimize size``) and the default (``--optimize auto``, which also splits a
result over the quota into at most 10 managed policies). Reported: total characters
(non-whitespace, every managed policy written), the characters of the patterns of the
statements that cover unused actions (as ``bench_peer`` counts them), how many
policies the refinement pushes over the 6,144 quota although the original fits, the
optimizer's gap to its LP lower bound, the default's time per policy, and the checker's
verdicts on every optimizer and default result. The peer (policyuniverse's character
prefix minimizer, which over-grants) runs on a seeded sample of the policies, where the
three are compared on the same statements. Needs ``pip install .[bench,optimize]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

from bench_corpus import load_cases
from common import SEED, summarize, write_result

QUOTA = 6144


def realistic_cases(catalog: Any, cases: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    from iamrefine.harness.corpus import allowed_actions
    from iamrefine.unused import UnusedSet

    out = []
    for name, policy, _ in cases:
        allowed = sorted(allowed_actions(policy, catalog))
        by_service: dict[str, list[str]] = {}
        for a in allowed:
            by_service.setdefault(a.partition(":")[0], []).append(a)
        rng = random.Random(f"{SEED}:realistic:{name}")
        whole: list[str] = []
        names: list[str] = []
        for service in sorted(by_service):
            if rng.random() < 0.5:
                whole.append(service)
                names.extend(a for a in catalog.actions if a.lower().startswith(service + ":"))
            else:
                pool = by_service[service]
                names.extend(rng.sample(pool, int(0.3 * len(pool) + 0.5)))
        unused = UnusedSet.from_names([catalog.by_lower.get(a, a) for a in names], catalog)
        out.append((name, policy, replace(unused, services=frozenset(whole))))
    return out


def _touched_patterns(result: Any, touched: set[int]) -> list[str]:
    if result.policy is None:
        return []
    return [
        p
        for j, i in enumerate(result.statement_origin)
        if i in touched
        for p in result.policy.statements[j].action_element.values
    ]


def _chars(patterns: list[str]) -> int:
    return sum(len(p) for p in patterns)


def _written(result: Any) -> int:
    from iamrefine.refine.split import policy_size

    return sum(policy_size(p) for p in result.policies)


def _peer(policy: Any, unused: Any, catalog: Any, touched: set[int]) -> list[str]:
    from policyuniverse import expander_minimizer as em

    out: list[str] = []
    for index in sorted(touched):
        st = policy.statements[index]
        matched: set[str] = set()
        for pattern in st.action_element.values:
            matched.update(catalog.expand(pattern))
        wanted = sorted(matched - unused.actions)
        known = [a for a in wanted if a in em.all_permissions]
        passthrough = [a for a in wanted if a not in em.all_permissions]
        with contextlib.redirect_stdout(io.StringIO()):
            got = (
                em.minimize_statement_actions({"Effect": "Allow", "Action": known}) if known else []
            )
        out.extend(sorted(set(got) | set(passthrough)))
    return out


def scenario(
    catalog: Any, cases: list[tuple[str, Any, Any]], peer_names: set[str], *, prove: bool
) -> dict[str, Any]:
    from iamrefine.choices import Optimize
    from iamrefine.refine import refine_policy
    from iamrefine.refine.split import policy_size
    from iamrefine.verify import verify_result

    totals = {"readable": 0, "size": 0, "auto": 0, "original": 0}
    patterns = {"readable": 0, "size": 0}
    sample = {"readable": 0, "size": 0, "peer": 0, "policies": 0}
    pushed = {"readable": 0, "size_one_policy": 0, "auto": 0}
    split: list[int] = []
    cost = 0
    bound = 0.0
    gaps: list[float] = []
    methods: dict[str, int] = {}
    auto_times: dict[str, float] = {}
    auto_cpu: dict[str, float] = {}
    size_times: dict[str, float] = {}
    verdicts: dict[str, dict[str, int]] = {"size": {}, "auto": {}}
    quota_errors: list[str] = []
    auto_notaction: list[str] = []
    ratios: list[float] = []
    merged = 0
    for n, (name, policy, unused) in enumerate(cases):
        if n % 25 == 0:
            print(f"  {n}/{len(cases)}", file=sys.stderr, flush=True)
        original = policy_size(policy)
        fits = original <= QUOTA
        totals["original"] += original
        readable = refine_policy(
            policy, unused, catalog, optimize=Optimize.readable, strategy="patterns"
        )
        t = time.process_time()
        small = refine_policy(
            policy, unused, catalog, optimize=Optimize.size, max_policies=1, strategy="patterns"
        )
        size_times[name] = time.process_time() - t
        t, c = time.perf_counter(), time.process_time()
        auto = refine_policy(policy, unused, catalog)
        auto_times[name] = time.perf_counter() - t
        auto_cpu[name] = time.process_time() - c
        totals["readable"] += _written(readable)
        totals["size"] += _written(small)
        totals["auto"] += _written(auto)
        if readable.changed and _written(readable):
            ratios.append(_written(small) / _written(readable))
        if fits and readable.size is not None and readable.size > QUOTA:
            pushed["readable"] += 1
        if fits and small.size is not None and small.size > QUOTA:
            pushed["size_one_policy"] += 1
        if auto.quota is not None and not auto.quota.fits:
            quota_errors.append(name)
            if fits:
                pushed["auto"] += 1
        if auto.parts:
            split.append(len(auto.parts))
        if auto.strategy == "notaction":
            auto_notaction.append(name)
        stats = small.quota.optimizer if small.quota is not None else None
        if stats is not None:
            merged += stats.merged
        if stats is not None and stats.cost:
            cost += stats.cost
            bound += stats.lower_bound
            gaps.append(stats.gap)
            for k, v in stats.methods.items():
                methods[k] = methods.get(k, 0) + v
        touched = {r.statement_index for r in readable.replacements}
        if touched:
            patterns["readable"] += _chars(_touched_patterns(readable, touched))
            patterns["size"] += _chars(_touched_patterns(small, touched))
            if name in peer_names:
                sample["policies"] += 1
                sample["readable"] += _chars(_touched_patterns(readable, touched))
                sample["size"] += _chars(_touched_patterns(small, touched))
                sample["peer"] += _chars(_peer(policy, unused, catalog, touched))
        if prove:
            for label, result in (("size", small), ("auto", auto)):
                if (
                    label == "auto"
                    and auto.strategy == "patterns"
                    and auto.quota is not None
                    and auto.quota.optimizer is None
                ):
                    continue  # the readable result, proved by the corpus suite
                verdict = verify_result(result, unused, catalog).verdict.name
                verdicts[label][verdict] = verdicts[label].get(verdict, 0) + 1
    return {
        "policies": len(cases),
        "total_chars": totals,
        "ratio_size_over_readable": round(totals["size"] / max(totals["readable"], 1), 3),
        # Per changed policy: the total is dominated by a few very large policies.
        "per_policy_ratio": {
            "median": round(statistics.median(ratios), 3) if ratios else None,
            "p90": round(sorted(ratios)[int(0.9 * (len(ratios) - 1))], 3) if ratios else None,
            "max": round(max(ratios), 3) if ratios else None,
        },
        "statements_merged": merged,
        "pattern_chars_touched": patterns,
        "pattern_ratio_size_over_readable": round(
            patterns["size"] / max(patterns["readable"], 1), 3
        ),
        "peer_sample": {
            **sample,
            "size_over_peer": round(sample["size"] / max(sample["peer"], 1), 3),
            "readable_over_peer": round(sample["readable"] / max(sample["peer"], 1), 3),
        },
        "pushed_over_quota": pushed,
        "auto_split": {"policies": len(split), "parts": sorted(split)},
        "auto_quota_errors": quota_errors,
        "auto_notaction": auto_notaction,
        "optimizer": {
            "cost": cost,
            "lp_bound": round(bound, 1),
            "gap_total": round((cost - bound) / cost, 4) if cost else 0.0,
            "gap_max": round(max(gaps), 4) if gaps else 0.0,
            "gap_median": round(statistics.median(gaps), 4) if gaps else 0.0,
            "statements_by_method": methods,
            "cpu_time": summarize(size_times),
        },
        "auto_time": summarize(auto_times),
        "auto_cpu_time": summarize(auto_cpu),
        "verdicts": verdicts,
    }


def run(
    limit: int | None = None,
    peer_sample: int = 100,
    prove: bool = True,
    only: str | None = None,
) -> dict[str, Any]:
    catalog, cases = load_cases()
    if limit:
        cases = cases[:: max(1, len(cases) // limit)]
    rng = random.Random(SEED)
    peer_names = set(rng.sample([c[0] for c in cases], min(peer_sample, len(cases))))
    data: dict[str, Any] = {"peer_sample_size": len(peer_names)}
    for label in ("random", "realistic"):
        if only not in (None, label):
            continue
        chosen = cases if label == "random" else realistic_cases(catalog, cases)
        data[label] = scenario(catalog, chosen, peer_names, prove=prove)
        print(label, data[label], flush=True)
    # One scenario alone (to run the two in parallel) is written under its own name.
    write_result("size" if only is None else f"size_{only}", data)
    return data


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="about N policies, evenly")
    parser.add_argument("--peer-sample", type=int, default=100, help="policies for the peer")
    parser.add_argument("--no-prove", action="store_true", help="skip the checker")
    parser.add_argument("--only", choices=["random", "realistic"], help="one scenario")
    args = parser.parse_args()
    run(args.limit, args.peer_sample, not args.no_prove, args.only)
