"""Reading the unused actions: the three accepted input forms.

1. The announcement's list: ``[{"serviceNamespace": "s3", "actions": ["GetBucketAcl"]}]``.
2. An Access Analyzer ``GetFindingV2`` response, whose
   ``findingDetails[].unusedPermissionDetails`` entries name a service and, optionally,
   its unused ``actions`` (``{"action": "GetObject", "lastAccessed": ...}``). An entry
   without ``actions`` means that the whole service is unused. Actions may be bare
   (``GetObject``) or prefixed (``s3:GetObject``). A finding of another
   ``findingType`` (an unused role, access key or password) is an error that says
   what to do instead: it names no permission to remove.
3. A plain list of ``service:Action`` names, as a JSON list or as text, one per line
   (blank lines and ``#`` comments are skipped).

A file may start with a UTF-8 byte order mark, which is skipped. Names are resolved
against the catalog case-insensitively. A name or service the
catalog does not know is reported as a warning and otherwise ignored, because the
refiner and the checker reason about catalog actions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamrefine.catalog import Catalog
from iamrefine.errors import Diagnostic, UnusedInputError
from iamrefine.files import MAX_INPUT_BYTES, parse_json, read_input
from iamrefine.glob import ascii_lower, has_wildcard


@dataclass(frozen=True)
class UnusedSet:
    """Unused catalog actions (lowercase names), with the warnings raised while reading.

    ``services`` holds the lowercase prefixes of the catalog services given whole (an
    Access Analyzer entry without ``actions``); all their catalog actions are in
    ``actions``. Every other action in ``actions`` was named individually.
    """

    actions: frozenset[str]
    source: str = "<unused>"
    warnings: tuple[Diagnostic, ...] = field(default=())
    services: frozenset[str] = field(default=frozenset())

    def __contains__(self, action: object) -> bool:
        return isinstance(action, str) and ascii_lower(action) in self.actions

    def __len__(self) -> int:
        return len(self.actions)

    def canonical(self, catalog: Catalog) -> list[str]:
        """The unused actions in the catalog's spelling, sorted."""
        return sorted(catalog.by_lower[a] for a in self.actions)

    @classmethod
    def from_names(cls, names: list[str], catalog: Catalog, source: str = "<unused>") -> UnusedSet:
        """Resolve ``service:Action`` names (form 3) against the catalog."""
        reader = _Reader(source, catalog)
        for i, name in enumerate(names):
            reader.add_prefixed(name, f"[{i}]")
        return reader.result()


def _at(where: str, message: str) -> str:
    """``message`` about the JSON item ``where`` (as is when ``where`` is empty)."""
    return f"`{where}`: {message}" if where else message


class _Reader:
    def __init__(self, source: str, catalog: Catalog) -> None:
        self.source = source
        self.catalog = catalog
        self.actions: set[str] = set()
        self.services: set[str] = set()
        self.warnings: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []
        self.seen: set[str] = set()

    def warn(self, message: str, line: int | None = None) -> None:
        self.warnings.append(Diagnostic(self.source, line, None, message, "warning"))

    def error(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.errors.append(Diagnostic(self.source, line, column, message))

    def add_action(
        self,
        service: str,
        action: str,
        where: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        """Add ``service:action``; ``where`` names the item in a JSON input (empty for
        a line of a plain list, whose position is ``line`` and ``column``)."""
        if not action or has_wildcard(action) or any(c.isspace() for c in action):
            self.error(_at(where, f"`{action}` is not an action name"), line, column)
            return
        name = ascii_lower(f"{service}:{action}")
        if name in self.catalog.by_lower:
            self.actions.add(name)
        elif ascii_lower(service) not in self.catalog.services:
            self.warn(
                f"unknown service `{service}` in unused action `{service}:{action}`; ignored", line
            )
        else:
            self.warn(f"unknown action `{service}:{action}` (not in the catalog); ignored", line)

    def add_prefixed(
        self, name: Any, where: str, line: int | None = None, column: int | None = None
    ) -> None:
        if not isinstance(name, str):
            self.error(
                _at(where, f"expected a `service:Action` string, got `{json.dumps(name)}`"),
                line,
                column,
            )
            return
        # A repeated name adds nothing; skipping it keeps huge repetitive inputs fast
        # and reports each problem once.
        if name in self.seen:
            return
        self.seen.add(name)
        service, colon, action = name.strip().partition(":")
        if not colon or not service:
            self.error(
                _at(where, f"`{name}` has no service prefix (expected `service:Action`)"),
                line,
                column,
            )
            return
        self.add_action(service, action, where, line, column)

    def add_service_entry(self, entry: Any, where: str) -> None:
        if not isinstance(entry, dict):
            self.error(f"`{where}`: expected an object with `serviceNamespace`")
            return
        service = entry.get("serviceNamespace")
        if not isinstance(service, str) or not service:
            self.error(f"`{where}`: missing or invalid `serviceNamespace`")
            return
        actions = entry.get("actions")
        if actions is None:
            key = ascii_lower(service)
            members = self.catalog.services.get(key)
            if members is None:
                self.warn(f"unknown service `{service}` (not in the catalog); ignored")
            else:
                self.actions.update(members)
                self.services.add(key)
            return
        if not isinstance(actions, list):
            self.error(f"`{where}.actions`: expected a list")
            return
        for j, item in enumerate(actions):
            item_where = f"{where}.actions[{j}]"
            if isinstance(item, dict):
                item = item.get("action")
                item_where += ".action"
                if not isinstance(item, str):
                    self.error(f"`{item_where}`: missing or invalid `action`")
                    continue
            if not isinstance(item, str):
                self.error(f"`{item_where}`: expected an action name, got `{json.dumps(item)}`")
                continue
            if ":" in item:
                prefix, _, bare = item.partition(":")
                if ascii_lower(prefix) != ascii_lower(service):
                    self.error(f"`{item_where}`: `{item}` is not in service `{service}`")
                    continue
                item = bare
            self.add_action(service, item, item_where)

    def result(self) -> UnusedSet:
        if self.errors:
            raise UnusedInputError(self.errors)
        return UnusedSet(
            frozenset(self.actions),
            self.source,
            tuple(self.warnings),
            frozenset(self.services),
        )


_OTHER_FINDINGS = {
    "UnusedIAMRole": "the whole role{resource} is unused, so it needs none of its "
    "permissions: delete the role, or detach all its policies",
    "UnusedIAMUserAccessKey": "an access key of the user{resource} is unused: deactivate "
    "or delete the key; it names no permission to remove from a policy",
    "UnusedIAMUserPassword": "the console password of the user{resource} is unused: "
    "remove the password; it names no permission to remove from a policy",
}


def _check_finding_type(data: dict[str, Any], source: str) -> None:
    """Refuse a finding that is not about unused permissions, saying what it means."""
    kind = data.get("findingType")
    if kind is None or kind == "UnusedPermission":
        return
    resource = data.get("resource")
    named = f" `{resource}`" if isinstance(resource, str) and resource else ""
    advice = _OTHER_FINDINGS.get(str(kind))
    if advice is None:
        message = (
            f"`findingType` is `{str(kind)[:60]}`, not `UnusedPermission`: "
            "this finding names no unused permission to remove"
        )
    else:
        message = f"`findingType` is `{kind}`: {advice.format(resource=named)}"
    raise UnusedInputError.at(source, message)


def parse_unused(text: str, catalog: Catalog, source: str = "<unused>") -> UnusedSet:
    """Parse any accepted form of unused actions from ``text`` (a leading byte order
    mark is skipped)."""
    text = text.removeprefix("\ufeff")
    reader = _Reader(source, catalog)
    stripped = text.lstrip()
    if not stripped.startswith(("[", "{")):
        for lineno, line in enumerate(text.splitlines(), 1):
            item = line.strip()
            if item and not item.startswith("#"):
                column = len(line) - len(line.lstrip()) + 1
                reader.add_prefixed(item, "", lineno, column)
        return reader.result()
    data = parse_json(text, source, UnusedInputError)
    if isinstance(data, list):
        for i, item in enumerate(data):
            if isinstance(item, dict):
                reader.add_service_entry(item, f"[{i}]")
            else:
                reader.add_prefixed(item, f"[{i}]")
    elif isinstance(data, dict) and "findingDetails" in data:
        _check_finding_type(data, source)
        details = data["findingDetails"]
        if not isinstance(details, list):
            raise UnusedInputError.at(source, "`findingDetails` must be a list")
        for i, det in enumerate(details):
            where = f"findingDetails[{i}]"
            if not isinstance(det, dict):
                reader.error(f"`{where}`: expected an object")
                continue
            upd = det.get("unusedPermissionDetails")
            if upd is None:
                # Other finding kinds (unused role, access key, password) carry no actions.
                reader.warn(f"`{where}` has no `unusedPermissionDetails`; skipped")
                continue
            reader.add_service_entry(upd, f"{where}.unusedPermissionDetails")
    elif isinstance(data, dict):
        raise UnusedInputError.at(
            source,
            "unrecognized unused-actions format: expected a list, or a `GetFindingV2` "
            "response with `findingDetails`",
        )
    else:
        raise UnusedInputError.at(
            source, f"unrecognized unused-actions value `{json.dumps(data)[:40]}`"
        )
    return reader.result()


def load_unused(path: str | Path, catalog: Catalog) -> UnusedSet:
    """Read and parse an unused-actions file (``-``: standard input), at most
    :data:`~iamrefine.files.MAX_INPUT_BYTES` long."""
    raw = read_input(
        path, limit=MAX_INPUT_BYTES, what="unused-actions file", error=UnusedInputError
    )
    return unused_of_bytes(raw, catalog, str(Path(path)))


def unused_of_bytes(raw: bytes, catalog: Catalog, source: str) -> UnusedSet:
    """Parse the bytes of an unused-actions file named ``source`` in messages."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UnusedInputError.at(
            source, f"file is not valid UTF-8: byte `0x{raw[exc.start]:02x}`", line, col
        ) from None
    return parse_unused(text, catalog, source)
