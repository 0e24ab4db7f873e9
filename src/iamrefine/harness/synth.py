"""A synthetic organization: many realistic cases made from real policies
(``iamrefine corpus synth``).

Each case mixes the statements of one to four source policies (the AWS managed and
documentation corpora), the way a customer policy is assembled from examples, and
renames what would identify the originals: every Sid becomes a fresh one (ASCII
letters and digits, unique in the policy), every 12-digit account in an ARN
becomes the case's own account, and every plain name in an ARN's resource part
(a bucket, a table, a role name) becomes a name of the case's own. Wildcards and
policy variables are kept. A mix that does not fit a customer managed policy
(6,144 non-whitespace characters) loses its last statements until it fits.

Its unused actions take one of two shapes, as Access Analyzer reports them:

- whole services: every action of one or two of the services the policy allows,
  written as the announcement's ``{"serviceNamespace": ...}`` entries;
- a share of actions: 10 % to 60 % of the catalog actions the policy allows, as
  a list of names.

The output depends only on the seed, the number of cases, the source policies
and the catalog: case ``i`` is drawn by ``random.Random(f"{seed}:{i}")``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from iamrefine.catalog import Catalog
from iamrefine.errors import Diagnostic, InputError
from iamrefine.files import write_atomic
from iamrefine.harness.corpus import MANIFEST_FILE, POLICY_FILE, UNUSED_FILE, allowed_actions

MAX_CHARS = 6144
"""Non-whitespace characters of a customer managed policy (IAM's quota)."""

MAX_SOURCES = 4
MAX_STATEMENTS = 12
_ATTEMPTS = 20
"""Draws of one case before it is given up (each draw that does not parse, or
allows no catalog action, is redrawn)."""

_ACCOUNT = re.compile(r"\d{12}")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=,@-]*")
_TYPE = re.compile(r"[a-z][a-z-]*")


@dataclass(frozen=True)
class Source:
    """One source policy: its name and statements (as JSON)."""

    name: str
    statements: tuple[dict[str, Any], ...]


@dataclass
class Synthesized:
    """What :func:`synthesize` wrote, and what it could not use and why."""

    out_dir: Path
    cases: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, int] = field(default_factory=lambda: {"services": 0, "actions": 0})
    skipped: list[Diagnostic] = field(default_factory=list)


def read_sources(folders: Sequence[Path]) -> tuple[list[Source], list[Diagnostic]]:
    """The policies of every ``*.json`` file of ``folders`` (but ``MANIFEST.json``), in
    folder then name order, and the files skipped because they do not parse."""
    from iamrefine.parse import parse_policy

    sources: list[Source] = []
    skipped: list[Diagnostic] = []
    for folder in folders:
        if not folder.is_dir():
            raise InputError.at(str(folder), "no such policy folder")
        for path in sorted(folder.glob("*.json")):
            if path.name == MANIFEST_FILE:
                continue
            try:
                raw = path.read_bytes()
                parse_policy(raw, str(path))
                data = json.loads(raw)
            except InputError as exc:
                skipped.extend(exc.diagnostics)
                continue
            except OSError as exc:
                skipped.append(Diagnostic(str(path), None, None, f"cannot read: {exc.strerror}"))
                continue
            statements = data["Statement"]
            if isinstance(statements, dict):
                statements = [statements]
            sources.append(Source(f"{folder.name}/{path.stem}", tuple(statements)))
    if not sources:
        raise InputError.at(
            ", ".join(str(f) for f in folders) or "--source", "no source policy could be read"
        )
    return sources, skipped


def _token(rng: random.Random, length: int = 6) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))


class _Renamer:
    """One case's renaming of accounts and resource names, consistent within it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.account = str(rng.randrange(10**11, 10**12))
        self.names: dict[str, str] = {}

    def name(self, plain: str) -> str:
        if plain not in self.names:
            self.names[plain] = f"org{_token(self.rng)}"
        return self.names[plain]

    def arn(self, value: str) -> str:
        parts = value.split(":", 5)
        if len(parts) < 6:
            return value
        if _ACCOUNT.fullmatch(parts[4]):
            parts[4] = self.account
        segments = re.split(r"([/:])", parts[5])
        for i in range(0, len(segments), 2):
            segment = segments[i]
            # The first word of a multi-part resource is its type (`table`, `log-group`),
            # but for S3, whose ARNs name no type, the bucket.
            is_type = i == 0 and len(segments) > 1 and parts[2] != "s3" and _TYPE.fullmatch(segment)
            if not is_type and _PLAIN.fullmatch(segment):
                segments[i] = self.name(segment)
        parts[5] = "".join(segments)
        return ":".join(parts)

    def resources(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.arn(value) if value.startswith("arn:") else value
        if isinstance(value, list):
            return [self.resources(v) for v in value]
        return value


def mix(sources: Sequence[Source], rng: random.Random) -> dict[str, Any]:
    """One mixed policy document drawn by ``rng``."""
    picked = rng.sample(range(len(sources)), rng.randint(1, min(MAX_SOURCES, len(sources))))
    statements: list[dict[str, Any]] = []
    for index in picked:
        own = sources[index].statements
        count = rng.randint(1, len(own))
        statements.extend(own[i] for i in sorted(rng.sample(range(len(own)), count)))
    statements = statements[:MAX_STATEMENTS]
    renamer = _Renamer(rng)
    prefix = _token(rng, 4).upper()
    renamed = []
    for j, statement in enumerate(statements):
        copy = dict(statement)
        if "Sid" in copy:
            copy["Sid"] = f"S{prefix}{j}"
        for key in ("Resource", "NotResource"):
            if key in copy:
                copy[key] = renamer.resources(copy[key])
        renamed.append(copy)
    while len(renamed) > 1 and _chars(renamed) > MAX_CHARS:
        renamed.pop()
    return {"Version": "2012-10-17", "Statement": renamed}


def _chars(statements: list[dict[str, Any]]) -> int:
    text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    return sum(1 for c in text if not c.isspace())


def unused_for(allowed: set[str], catalog: Catalog, rng: random.Random) -> tuple[str, list[Any]]:
    """The shape and the content of a case's ``unused.json``."""
    by_service: dict[str, list[str]] = {}
    for name in sorted(allowed):
        by_service.setdefault(name.partition(":")[0], []).append(name)
    if rng.random() < 0.5:
        services = sorted(by_service)
        chosen = sorted(rng.sample(services, min(len(services), rng.randint(1, 2))))
        return "services", [{"serviceNamespace": s} for s in chosen]
    share = rng.uniform(0.1, 0.6)
    pool = sorted(allowed)
    picked = sorted(rng.sample(pool, max(1, round(share * len(pool)))))
    return "actions", [catalog.by_lower[a] for a in picked]


def synthesize(
    sources: Sequence[Source],
    out_dir: Path,
    *,
    policies: int,
    seed: int,
    catalog: Catalog,
    on_case: Callable[[str], None] | None = None,
) -> Synthesized:
    """Write ``policies`` cases ``out_dir/org-NNNNNN/`` and a ``MANIFEST.json``."""
    from iamrefine.parse import parse_policy

    if policies < 1:
        raise InputError.at("--policies", f"`{policies}`: make at least one policy")
    made = Synthesized(out_dir)
    expand = lru_cache(maxsize=None)(catalog.expand)

    width = max(6, len(str(policies - 1)))
    for i in range(policies):
        rng = random.Random(f"{seed}:{i}")
        name = f"org-{i:0{width}d}"
        for _ in range(_ATTEMPTS):
            document = mix(sources, rng)
            text = json.dumps(document, indent=2) + "\n"
            try:
                policy = parse_policy(text, f"{name}/{POLICY_FILE}")
            except InputError:
                continue
            allowed = _allowed(policy, catalog, expand)
            if allowed:
                break
        else:
            made.skipped.append(
                Diagnostic(name, None, None, f"no usable mix in {_ATTEMPTS} draws; skipped")
            )
            continue
        shape, unused = unused_for(allowed, catalog, rng)
        write_atomic(out_dir / name / POLICY_FILE, text, parents=True)
        write_atomic(out_dir / name / UNUSED_FILE, json.dumps(unused, indent=2) + "\n")
        made.cases[name] = len(document["Statement"])
        made.shapes[shape] += 1
        if on_case is not None:
            on_case(name)
    digest = hashlib.sha256(
        json.dumps([[s.name, s.statements] for s in sources], sort_keys=True).encode()
    ).hexdigest()
    manifest = {
        "kind": "iamrefine-synthetic-organization",
        "seed": seed,
        "policies": policies,
        "sources": len(sources),
        "sources_sha256": f"sha256:{digest}",
        "catalog": catalog.info(),
        "shapes": made.shapes,
        "cases": made.cases,
        "skipped": [d.render() for d in made.skipped],
    }
    write_atomic(out_dir / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n", parents=True)
    return made


def _allowed(policy: Any, catalog: Catalog, expand: Callable[[str], list[str]]) -> set[str]:
    """:func:`~iamrefine.harness.corpus.allowed_actions`, with each pattern's expansion
    remembered across cases (the same patterns recur in every mix)."""
    if any(s.uses_not_action for s in policy.statements if s.is_allow):
        return allowed_actions(policy, catalog)
    found: set[str] = set()
    for statement in policy.statements:
        if statement.is_allow:
            for pattern in statement.action_element.values:
                found.update(expand(pattern))
    return found
