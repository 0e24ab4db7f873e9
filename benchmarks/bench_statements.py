"""Many statements in one policy (issue 15 item 16): refine plus prove a policy of N
statements, up to 5,000 (about 825 KB, inside the 1 MB input limit). Target: 5,000
statements PROVED in at most 20 s.

The policy is made of the statements of the shared managed-policy corpus, in file order,
those of at most :data:`MAX_STATEMENT_CHARS` compact characters (the corpus median is
212), repeated as often as needed. Each copy gets a fresh Sid (``S1``, ``S2``, ...:
unique, ASCII letters and digits) and renamed resources, so that no two statements are
the same: an ARN's resource part gets the prefix ``cN-`` in statement N, and ``*`` becomes
an ARN of the statement's first service (``arn:aws:SVC:us-east-1:123456789012:cN-*``).
Condition blocks, NotAction, NotResource and Deny statements stay as the corpus has
them. 30% of the catalog actions the policy allows are unused
(:func:`iamrefine.harness.corpus.pick_unused`, seed ``common.SEED``).

Each point runs ``iamrefine refine --format policy --optimize readable`` in a fresh
process, as a user would (the whole command: parse, refine, both claims proved),
``--repeat`` times; medians of the wall time and the largest peak RSS of the child are
reported, with the verdict. ``--optimize readable``, because such a policy is hundreds of
times the managed-policy quota: the default (``auto``) stops with exit 2 (a NotAction
statement that cannot be cut is over the quota on its own) before any proof. With
``--profile`` one in-process run of the largest point is profiled with cProfile and the
top functions by cumulative time are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SEED, UNUSED_RATIO, policy_files, write_result

COUNTS = [500, 1000, 2000, 3000, 4000, 5000]
MAX_STATEMENT_CHARS = 200
TARGET_S = 20.0
_ARN = re.compile(r"^(arn:[^:]*:[^:]*:[^:]*:[^:]*:)(.*)$")


def corpus_statements() -> list[dict[str, Any]]:
    """The corpus statements used as templates, in file order."""
    out = []
    for path in policy_files():
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        statements = doc["Statement"]
        for st in statements if isinstance(statements, list) else [statements]:
            if "Principal" in st or "NotPrincipal" in st:
                continue
            if len(json.dumps(st, separators=(",", ":"))) <= MAX_STATEMENT_CHARS:
                out.append(st)
    return out


def _service(st: dict[str, Any]) -> str:
    actions = st.get("Action", st.get("NotAction", "*"))
    first = actions if isinstance(actions, str) else (actions[0] if actions else "*")
    service = first.partition(":")[0]
    return service if service.isalnum() or "-" in service else "iam"


def _rename(resource_text: str, copy: int, service: str) -> str:
    if resource_text == "*":
        return f"arn:aws:{service}:us-east-1:123456789012:c{copy}-*"
    m = _ARN.match(resource_text)
    return f"{m.group(1)}c{copy}-{m.group(2)}" if m else resource_text


def make_policy(count: int) -> dict[str, Any]:
    """A policy of ``count`` statements made from the corpus as described above."""
    templates = corpus_statements()
    statements = []
    for i in range(count):
        st = dict(templates[i % len(templates)])
        st["Sid"] = f"S{i + 1}"
        service = _service(st)
        for key in ("Resource", "NotResource"):
            if key in st:
                value = st[key]
                if isinstance(value, str):
                    st[key] = _rename(value, i, service)
                else:
                    st[key] = [_rename(v, i, service) for v in value]
        statements.append(st)
    return {"Version": "2012-10-17", "Statement": statements}


def make_case(count: int, folder: Path) -> tuple[Path, Path, int]:
    """Write the policy of ``count`` statements and its unused actions into ``folder``;
    return both paths and the policy's size in bytes."""
    from iamrefine.catalog import load_catalog
    from iamrefine.harness.corpus import allowed_actions, pick_unused
    from iamrefine.parse import policy_from_json

    doc = make_policy(count)
    text = json.dumps(doc)
    policy_path = folder / f"policy-{count}.json"
    policy_path.write_text(text, encoding="utf-8")
    catalog = load_catalog()
    allowed = allowed_actions(policy_from_json(doc), catalog)
    names = pick_unused(f"statements-{count}", allowed, UNUSED_RATIO, SEED)
    unused_path = folder / f"unused-{count}.json"
    unused_path.write_text(json.dumps([catalog.by_lower[n] for n in names]), encoding="utf-8")
    return policy_path, unused_path, len(text.encode())


def run_cli(policy: Path, unused: Path, out: Path) -> dict[str, Any]:
    """One ``iamrefine refine`` process: wall time, peak RSS, exit code, verdict."""
    cmd = [sys.executable, "-m", "iamrefine", "refine", str(policy), "--unused", str(unused)]
    cmd += ["--format", "policy", "--optimize", "readable", "-o", str(out)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    returncode = os.waitstatus_to_exitcode(status)
    verdict = {0: "PROVED", 1: "REFUTED", 2: "bad input", 3: "UNKNOWN"}.get(returncode, "?")
    return {
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "exit": returncode,
        "verdict": verdict,
        "stderr_tail": stderr.strip().splitlines()[-1:],
    }


def profile(policy_path: Path, unused_path: Path, top: int = 35) -> None:
    import cProfile
    import pstats

    from iamrefine.catalog import load_catalog
    from iamrefine.choices import Optimize
    from iamrefine.parse import load_policy
    from iamrefine.refine import refine_policy
    from iamrefine.unused import load_unused
    from iamrefine.verify import verify_result

    catalog = load_catalog()
    prof = cProfile.Profile()
    prof.enable()
    t0 = time.perf_counter()
    policy = load_policy(policy_path)
    unused = load_unused(unused_path, catalog)
    t1 = time.perf_counter()
    result = refine_policy(policy, unused, catalog, optimize=Optimize.readable)
    t2 = time.perf_counter()
    report = verify_result(result, unused, catalog)
    t3 = time.perf_counter()
    prof.disable()
    print(f"parse {t1 - t0:.2f} s, refine {t2 - t1:.2f} s, prove {t3 - t2:.2f} s")
    for claim in report.claims:
        print(f"  {claim.name}: {claim.verdict.name} {claim.seconds:.2f} s {claim.stats}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


def run(counts: list[int] | None = None, repeat: int = 3) -> Path:
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for count in counts or COUNTS:
            policy, unused, size = make_case(count, folder)
            runs = [run_cli(policy, unused, folder / "out.json") for _ in range(repeat)]
            points.append(
                {
                    "statements": count,
                    "policy_bytes": size,
                    "wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
                    "wall_samples_s": [round(r["wall_s"], 2) for r in runs],
                    "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
                    "verdicts": sorted({r["verdict"] for r in runs}),
                    "stderr_tail": runs[-1]["stderr_tail"],
                }
            )
            print(json.dumps(points[-1]), file=sys.stderr)
    return write_result("statements", {"repeat": repeat, "target_s": TARGET_S, "points": points})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--counts", type=int, nargs="*", default=COUNTS)
    parser.add_argument("--profile", action="store_true", help="cProfile the largest count")
    parser.add_argument("--write", type=Path, help="only write the largest case into a folder")
    args = parser.parse_args()
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        print(make_case(max(args.counts), args.write))
    elif args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            p, u, _ = make_case(max(args.counts), Path(tmp))
            profile(p, u)
    else:
        print(run(args.counts, args.repeat))
