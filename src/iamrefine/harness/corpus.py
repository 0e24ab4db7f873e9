"""Test cases and corpora: reading them, and making them from a folder of policies.

A case is a folder holding ``policy.json`` and ``unused.json`` (any accepted
unused-actions form); a corpus is a folder of case folders, taken in name order.
Files at the corpus's top level (such as ``MANIFEST.json``) and hidden folders are
not cases.

``make_corpus`` marks a random fraction of the catalog actions each policy allows
as unused. The random generator of each policy is seeded with the seed and the
policy's name, so the output depends on neither the order of the policies nor
the other policies in the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, overload

from iamrefine.catalog import Catalog
from iamrefine.errors import Diagnostic, InputError
from iamrefine.files import write_atomic
from iamrefine.model import Policy

POLICY_FILE = "policy.json"
UNUSED_FILE = "unused.json"
SOURCE_FILES = (
    POLICY_FILE,
    "policy.yaml",
    "policy.yml",
    "template.json",
    "template.yaml",
    "template.yml",
    "plan.json",
)
"""The names ``refine-batch`` accepts for a case's policy file: a policy document, a
CloudFormation template or a Terraform plan (read by :mod:`iamrefine.sources`)."""
MANIFEST_FILE = "MANIFEST.json"


@dataclass(frozen=True)
class Case:
    """One case folder of a corpus."""

    name: str
    folder: Path
    policy_file: str = POLICY_FILE

    @property
    def policy_path(self) -> Path:
        return self.folder / self.policy_file

    @property
    def unused_path(self) -> Path:
        return self.folder / UNUSED_FILE


@dataclass(frozen=True)
class CaseFiles:
    """The bytes of a case's two files, as sent to a worker that may not see the
    corpus (on another machine); ``problem`` says why they could not be read."""

    case: Case
    policy: bytes = b""
    unused: bytes = b""
    problem: str = ""

    @classmethod
    def read(cls, case: Case) -> CaseFiles:
        try:
            return cls(case, case.policy_path.read_bytes(), case.unused_path.read_bytes())
        except OSError as exc:
            return cls(case, problem=f"cannot read the case's files: {exc.strerror or exc}")

    @contextlib.contextmanager
    def on_disk(self) -> Iterator[Case]:
        """The case itself when its folder holds these very bytes (a shared or local
        filesystem), otherwise a copy in a temporary folder named after the case,
        removed afterwards."""
        try:
            same = (
                self.case.policy_path.read_bytes() == self.policy
                and self.case.unused_path.read_bytes() == self.unused
            )
        except OSError:
            same = False
        if same:
            yield self.case
            return
        with tempfile.TemporaryDirectory(prefix="iamrefine-case-") as tmp:
            folder = Path(tmp) / self.case.name
            folder.mkdir()
            (folder / self.case.policy_file).write_bytes(self.policy)
            (folder / UNUSED_FILE).write_bytes(self.unused)
            yield Case(self.case.name, folder, self.case.policy_file)


U = TypeVar("U")


class LazyInputs(Sequence[U]):
    """``read(case)`` for each of ``cases``, made when asked for, so that a run of 10⁵
    cases never holds them all; the last one made is kept (an executor asks for an
    item again when its result comes back)."""

    def __init__(self, cases: Sequence[Case], read: Callable[[Case], U]) -> None:
        self.cases = cases
        self.read = read
        self._last: tuple[int, U] | None = None

    def __len__(self) -> int:
        return len(self.cases)

    @overload
    def __getitem__(self, index: int) -> U: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[U]: ...
    def __getitem__(self, index: int | slice) -> U | Sequence[U]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        found = self.read(self.cases[index])
        self._last = (index, found)
        return found


def list_cases(corpus: str | Path, *, policy_files: tuple[str, ...] = (POLICY_FILE,)) -> list[Case]:
    """The cases of a corpus folder, sorted by name; each case's policy file is the one
    of ``policy_files`` it holds.

    Raises :class:`InputError` when the folder does not exist, holds no case folder,
    or holds a case folder without ``unused.json`` or without exactly one of
    ``policy_files`` (one diagnostic per problem).
    """
    root = Path(corpus)
    if not root.exists():
        raise InputError.at(str(root), "no such corpus folder")
    if not root.is_dir():
        raise InputError.at(str(root), "a corpus must be a folder of case folders")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    wanted = " or ".join(f"`{n}`" for n in policy_files)
    if not folders:
        raise InputError.at(
            str(root),
            f"corpus folder holds no case folders (each with {wanted} and `{UNUSED_FILE}`)",
        )
    problems: list[Diagnostic] = []
    cases: list[Case] = []
    for folder in folders:
        present = [n for n in policy_files if (folder / n).is_file()]
        before = len(problems)
        if not present:
            problems.append(Diagnostic(str(folder), None, None, f"case folder has no {wanted}"))
        elif len(present) > 1:
            both = " and ".join(f"`{n}`" for n in present)
            problems.append(
                Diagnostic(
                    str(folder), None, None, f"case folder holds {both}; keep one policy file"
                )
            )
        if not (folder / UNUSED_FILE).is_file():
            problems.append(
                Diagnostic(str(folder), None, None, f"case folder has no `{UNUSED_FILE}`")
            )
        if len(problems) == before:
            cases.append(Case(folder.name, folder, present[0]))
    if problems:
        raise InputError(problems)
    return cases


def allowed_actions(policy: Policy, catalog: Catalog) -> set[str]:
    """The lowercase catalog actions that some Allow statement of ``policy`` names.

    An ``Action`` statement contributes the catalog actions its patterns match; a
    ``NotAction`` statement contributes every catalog action it does not exclude.
    Resources, conditions and Deny statements are not considered: this is the set
    from which unused actions are drawn, as Access Analyzer reports them.
    """
    allowed: set[str] = set()
    everything: frozenset[str] | None = None
    for statement in policy.statements:
        if not statement.is_allow:
            continue
        matched = _expand_all(statement.action_element.values, catalog)
        if statement.uses_not_action:
            if everything is None:
                everything = frozenset(catalog.lower_names)
            allowed |= everything - matched
        else:
            allowed |= matched
    return allowed


def _expand_all(patterns: Iterable[str], catalog: Catalog) -> set[str]:
    out: set[str] = set()
    for pattern in patterns:
        out.update(catalog.expand(pattern))
    return out


def pick_unused(name: str, allowed: Iterable[str], ratio: float, seed: int) -> list[str]:
    """A reproducible random ``ratio`` of ``allowed`` (rounded half up), sorted.

    The generator is ``random.Random(f"{seed}:{name}")``, independent of any other
    policy.
    """
    pool = sorted(allowed)
    count = min(len(pool), math.floor(ratio * len(pool) + 0.5))
    rng = random.Random(f"{seed}:{name}")
    return sorted(rng.sample(pool, count))


def sha256_file(path: Path) -> str:
    """``sha256:`` and the hex digest of the file's bytes."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class MadeCorpus:
    """What :func:`make_corpus` wrote, and what it skipped and why."""

    out_dir: Path
    cases: dict[str, int] = field(default_factory=dict)
    skipped: list[Diagnostic] = field(default_factory=list)

    @property
    def unused_total(self) -> int:
        return sum(self.cases.values())


def _make_case(
    path: Path, dest: Path, made: MadeCorpus, *, unused_ratio: float, seed: int, catalog: Catalog
) -> str:
    """Write the case folder of one policy file into ``made``; its label for progress."""
    from iamrefine.parse import parse_policy

    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = f"cannot read policy: {exc.strerror}"
        made.skipped.append(Diagnostic(str(path), None, None, reason))
        return "skipped"
    try:
        policy = parse_policy(raw, str(path))
    except InputError as exc:
        made.skipped.extend(exc.diagnostics)
        return "skipped"
    name = path.stem
    unused = pick_unused(name, allowed_actions(policy, catalog), unused_ratio, seed)
    names = [catalog.by_lower[a] for a in unused]
    write_atomic(dest / name / POLICY_FILE, raw, parents=True)
    write_atomic(dest / name / UNUSED_FILE, json.dumps(names, indent=2) + "\n", parents=True)
    made.cases[name] = len(names)
    return f"{len(names)} unused"


def make_corpus(
    policy_dir: str | Path,
    out_dir: str | Path,
    *,
    unused_ratio: float,
    seed: int,
    catalog: Catalog,
    on_policy: Callable[[str], None] | None = None,
) -> MadeCorpus:
    """Turn every ``*.json`` policy in ``policy_dir`` (but ``MANIFEST.json``) into a case
    folder ``out_dir/<file stem>/`` with a byte copy of the policy and a plain-list
    ``unused.json`` of canonical action names.

    Policies that cannot be read or parsed are skipped and reported in the result.
    A ``MANIFEST.json`` recording the seed, the ratio, the catalog and the cases is
    written last. ``on_policy`` is called with each file's name once it is handled
    (written or skipped). Raises :class:`InputError` for a bad folder or ratio.
    """
    if not 0.0 <= unused_ratio <= 1.0 or math.isnan(unused_ratio):
        raise InputError.at("--unused-ratio", f"`{unused_ratio}` is not between 0 and 1")
    src = Path(policy_dir)
    if not src.is_dir():
        raise InputError.at(str(src), "no such policy folder")
    files = sorted(p for p in src.glob("*.json") if p.is_file() and p.name != MANIFEST_FILE)
    if not files:
        raise InputError.at(str(src), "policy folder holds no `.json` files")
    dest = Path(out_dir)
    if dest.resolve() == src.resolve():
        raise InputError.at(str(dest), "the output folder must differ from the policy folder")
    made = MadeCorpus(dest)
    for path in files:
        label = _make_case(path, dest, made, unused_ratio=unused_ratio, seed=seed, catalog=catalog)
        if on_policy is not None:
            on_policy(f"{path.name}: {label}")
    manifest = {
        "kind": "iamrefine-corpus",
        "source": str(src),
        "seed": seed,
        "unused_ratio": unused_ratio,
        "catalog": catalog.info(),
        "cases": made.cases,
        "skipped": [d.render() for d in made.skipped],
    }
    write_atomic(dest / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n", parents=True)
    return made
