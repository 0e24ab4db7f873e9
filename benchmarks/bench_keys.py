"""``equiv`` between two heavily conditioned policies (issue 15 item 17): one statement
each, a block of 18 operators x 30 keys x 50 values (string, numeric, date, address and
ARN operators, each family on its own 30 keys, so that a key's operators can hold
together), the two blocks differing in one value. ``iamrefine equiv A B`` runs as a whole
process ``--repeat`` times; the median wall and CPU times (the CPU time of the child,
which a loaded machine inflates far less) and the verdicts of the four claims are
recorded. Target: PROVED or REFUTED in at most 10 s."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import write_result

KEYS, VALUES = 30, 50
TARGET_S = 10.0
FAMILIES = {
    "s": [
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
    ],
    "n": ["NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericGreaterThanEquals"],
    "d": ["DateEquals", "DateNotEquals", "DateLessThan", "DateGreaterThan"],
    "i": ["IpAddress", "NotIpAddress"],
    "a": ["ArnLike", "ArnNotLike"],
}


def _values(op: str, j: int, count: int) -> list[str]:
    r = range(count)
    month = f"{1 + j % 12:02d}"
    table = {
        "StringEquals": [f"v{j}x{i}" for i in r],
        "StringEqualsIgnoreCase": [f"V{j}X{i}" for i in r],
        "StringLike": [f"v{j}x{i}*" for i in r],
        "StringNotEquals": [f"n{j}x{i}" for i in r],
        "StringNotEqualsIgnoreCase": [f"N{j}Y{i}" for i in r],
        "StringNotLike": [f"n{j}*z{i}" for i in r],
        "NumericEquals": [str(1000 * j + i) for i in r],
        "NumericNotEquals": [str(1000 * j + 500 + i) for i in r],
        "NumericLessThan": [str(1000 * j + 900 + i) for i in r],
        "NumericGreaterThanEquals": [str(1000 * j - i) for i in r],
        "DateEquals": [f"2020-{month}-{1 + i % 28:02d}T00:{i % 60:02d}:00Z" for i in r],
        "DateNotEquals": [f"2021-{month}-{1 + i % 28:02d}T00:{i % 60:02d}:00Z" for i in r],
        "DateLessThan": [f"2022-{month}-{1 + i % 28:02d}T00:00:00Z" for i in r],
        "DateGreaterThan": [f"2019-{month}-{1 + i % 28:02d}T00:00:00Z" for i in r],
        "IpAddress": [f"10.{j}.{i}.0/24" for i in r],
        "NotIpAddress": [f"11.{j}.{i}.0/24" for i in r],
        "ArnLike": [f"arn:aws:s3:::b{j}-{i}/*" for i in r],
        "ArnNotLike": [f"arn:aws:s3:::n{j}-{i}/*" for i in r],
    }
    return table[op]


def make_policy(keys: int, values: int, *, changed: bool) -> dict[str, Any]:
    block: dict[str, dict[str, list[str]]] = {}
    for family, ops in FAMILIES.items():
        for op in ops:
            block[op] = {}
            for j in range(keys):
                vs = _values(op, j, values)
                if changed and op == "StringEquals" and j == 0:
                    vs[-1] += "changed"
                block[op][f"aws:PrincipalTag/{family}{j}"] = vs
    st = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": block}
    return {"Version": "2012-10-17", "Statement": [st]}


def run_equiv(a: Path, b: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "iamrefine", "equiv", str(a), str(b), "--json"]
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    try:
        claims = {c["name"]: c["verdict"] for c in json.loads(stdout)["claims"]}
    except (ValueError, KeyError):
        claims = {"error": stderr.strip()[-300:]}
    cpu = usage.ru_utime + usage.ru_stime
    exit_code = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": cpu, "exit": exit_code, "claims": claims}


def run(repeat: int = 3) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a.json"), Path(tmp, "b.json")
        a.write_text(json.dumps(make_policy(KEYS, VALUES, changed=False)), "utf-8")
        b.write_text(json.dumps(make_policy(KEYS, VALUES, changed=True)), "utf-8")
        runs = [run_equiv(a, b) for _ in range(repeat)]
        size = a.stat().st_size
    for r in runs:
        print(json.dumps(r), file=sys.stderr)
    return write_result(
        "keys",
        {
            "operators": sum(len(v) for v in FAMILIES.values()),
            "keys": KEYS,
            "values": VALUES,
            "policy_bytes": size,
            "repeat": repeat,
            "target_s": TARGET_S,
            "wall_median_s": round(statistics.median(r["wall_s"] for r in runs), 2),
            "wall_samples_s": [round(r["wall_s"], 2) for r in runs],
            "cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs), 2),
            "exit_codes": sorted({r["exit"] for r in runs}),
            "claims": runs[-1]["claims"],
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    print(run(parser.parse_args().repeat))
