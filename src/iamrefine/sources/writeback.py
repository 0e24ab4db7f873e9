"""Write a refined policy back into a copy of the template (or YAML policy) it came from.

Only the policy document changes; every byte before and after it is kept. When the
refined policy has the same statements with only their ``Action``/``NotAction``
values changed, only those values are rewritten, so comments and layout inside the
document survive too; otherwise the whole document is written anew in the file's
format, at the same indentation. Opaque values are written back as they were
written in the source. The result is read back and must hold exactly the refined
policy, or nothing is written.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from iamrefine.errors import InputError, InternalError

if TYPE_CHECKING:
    from iamrefine.model import Policy, Span, ValueList
    from iamrefine.sources.model import PolicySource

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_\-./*?]*")
_PLACEHOLDER = "IAMREFINE-OPAQUE-{}"


class _Text:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        self.starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + column - 1

    def indent_of(self, line: int) -> str:
        start = self.starts[line - 1]
        rest = self.text[start:]
        return rest[: len(rest) - len(rest.lstrip(" "))]


def _yaml_scalar(value: str, *, flow: bool) -> str:
    import yaml

    if not flow and _PLAIN.fullmatch(value) and not value.endswith(":"):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def _is_yaml(source: PolicySource, text: _Text) -> bool:
    return not source.file.lower().endswith(".json")


def _values_text(
    element: ValueList, old: ValueList, text: _Text, *, yaml_mode: bool
) -> tuple[int, int, str] | None:
    """The replacement ``(start, end, new_text)`` of one Action element's value."""
    span = old.span
    if span is None or not old.spans or any(s is None for s in old.spans):
        return None
    start = text.offset(span.line, span.column)
    last: Span = old.spans[-1]  # type: ignore[assignment]
    block = text.text[start] == "-"
    end = (
        text.offset(last.end_line, last.end_column)
        if block
        else text.offset(span.end_line, span.end_column)
    )
    values = element.values
    single = not element.is_list and len(values) == 1
    if yaml_mode:
        if single:
            return start, end, _yaml_scalar(values[0], flow=False)
        if block:
            pad = "\n" + " " * (span.column - 1)
            return start, end, pad.join("- " + _yaml_scalar(v, flow=False) for v in values)
        return start, end, "[" + ", ".join(_yaml_scalar(v, flow=True) for v in values) + "]"
    if single:
        return start, end, json.dumps(values[0], ensure_ascii=False)
    if span.line == span.end_line:
        return start, end, json.dumps(values, ensure_ascii=False)
    first = old.spans[0]
    assert first is not None
    item_pad = " " * (first.column - 1)
    close_pad = text.indent_of(span.end_line)
    items = ",\n".join(item_pad + json.dumps(v, ensure_ascii=False) for v in values)
    return start, end, "[\n" + items + "\n" + close_pad + "]"


def _same_but_actions(original: Policy, refined: Policy) -> bool:
    from iamrefine.write import statement_to_json

    if len(original.statements) != len(refined.statements):
        return False
    if original.model_dump(exclude={"statements"}) != refined.model_dump(exclude={"statements"}):
        return False
    for old, new in zip(original.statements, refined.statements, strict=True):
        if old.keys != new.keys or old.uses_not_action != new.uses_not_action:
            return False
        a, b = statement_to_json(old), statement_to_json(new)
        for name in ("Action", "NotAction"):
            a.pop(name, None)
            b.pop(name, None)
        if a != b:
            return False
    return True


def _with_placeholders(value: Any, source: PolicySource, used: dict[str, Any]) -> Any:
    from iamrefine.model import Number

    if isinstance(value, Number):
        # A number is written back as its source text.
        placeholder = _PLACEHOLDER.format(len(used))
        used[placeholder] = value
        return placeholder
    if isinstance(value, dict):
        return {k: _with_placeholders(v, source, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_placeholders(v, source, used) for v in value]
    if isinstance(value, str) and value in source.opaque:
        placeholder = _PLACEHOLDER.format(len(used))
        used[placeholder] = value
        return placeholder
    return value


def _document_end(text: _Text, source: PolicySource) -> int:
    assert source.document is not None
    _, _, end_line, end_column = source.document
    end = text.offset(end_line, end_column) if end_line <= len(text.starts) else len(text.text)
    body = text.text[:end]
    # A block mapping ends where the next token starts: give back the blank and
    # comment lines before it.
    while True:
        stripped = body.rstrip()
        last_line = stripped[stripped.rfind("\n") + 1 :]
        if last_line.lstrip().startswith("#"):
            body = stripped[: stripped.rfind("\n") + 1]
            continue
        return len(stripped)


def _whole_document(refined: Policy, source: PolicySource, text: _Text) -> tuple[int, int, str]:
    from iamrefine.write import policy_to_json

    assert source.document is not None
    line, column, _, _ = source.document
    start = text.offset(line, column)
    end = _document_end(text, source)
    used: dict[str, Any] = {}
    data = _with_placeholders(policy_to_json(refined), source, used)
    pad = " " * (column - 1)
    flow = text.text[start] == "{"
    if _is_yaml(source, text) and not flow:
        import yaml

        class Dumper(yaml.SafeDumper):
            def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
                # Indent block sequences under their key, as templates usually do.
                super().increase_indent(flow, False)

        dumped = yaml.dump(
            data,
            Dumper=Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=10**9,
        ).rstrip("\n")
        rendered = ("\n" + pad).join(dumped.split("\n"))
        # Longest first: IAMREFINE-OPAQUE-1 is a prefix of IAMREFINE-OPAQUE-10.
        for placeholder, token in sorted(used.items(), key=lambda kv: -len(kv[0])):
            if not isinstance(token, str):
                rendered = rendered.replace(placeholder, str(token))
                continue
            opaque = source.opaque[token]
            written = opaque.text if "\n" not in opaque.text else json.dumps(opaque.value)
            rendered = rendered.replace(placeholder, written)
        return start, end, rendered
    step = refined.layout.indent or 2
    rendered = json.dumps(data, indent=step, ensure_ascii=False)
    rendered = ("\n" + text.indent_of(line)).join(rendered.split("\n"))
    for placeholder, token in used.items():
        written = source.opaque[token].text if isinstance(token, str) else str(token)
        rendered = rendered.replace(json.dumps(placeholder), written)
    return start, end, rendered


def write_back(source: PolicySource, refined: Policy) -> str:
    """The file's text with the policy document replaced by ``refined``."""
    return write_back_all([(source, refined)])


def write_back_all(changes: list[tuple[PolicySource, Policy]]) -> str:
    """The text of the file that every source of ``changes`` was read from, with each
    source's policy document replaced by its refined policy; read back to check that
    it holds exactly the refined policies and the others unchanged."""
    from iamrefine.sources import read_document

    first = changes[0][0]
    for source, _ in changes:
        if source.text is None or source.document is None:
            raise InputError.at(
                source.file,
                f"`{source.id or source.file}`: the refined policy cannot be written back "
                "into this file; use `--format diff` or `--format recommendation`",
            )
        if source.text != first.text or source.file != first.file:
            raise InternalError("policies written back together must come from one file")
    assert first.text is not None
    text = _Text(first.text)
    edits: list[tuple[int, int, str]] = []
    for source, refined in changes:
        edits.extend(_edits(source, refined, text))
    out = first.text
    for start, end, replacement in sorted(edits, reverse=True):
        out = out[:start] + replacement + out[end:]
    _check(out, changes, read_document)
    return out


def _edits(source: PolicySource, refined: Policy, text: _Text) -> list[tuple[int, int, str]]:
    """The text edits that replace ``source``'s policy document by ``refined``: its
    Action lists alone when nothing else changed, else the whole document."""
    original = source.policy
    edits: list[tuple[int, int, str]] = []
    if _same_but_actions(original, refined):
        yaml_mode = _is_yaml(source, text)
        for old, new in zip(original.statements, refined.statements, strict=True):
            if old.action_element.values == new.action_element.values:
                continue
            edit = _values_text(new.action_element, old.action_element, text, yaml_mode=yaml_mode)
            if edit is None:
                return [_whole_document(refined, source, text)]
            edits.append(edit)
        return edits
    return [_whole_document(refined, source, text)]


def _check(out: str, changes: list[tuple[PolicySource, Policy]], reader: Any) -> None:
    """Read the new text back: it must hold exactly the refined policies, and every
    other policy of the file as it was (or as unreadable as it was)."""
    import tempfile
    from pathlib import Path

    first = changes[0][0]
    suffix = Path(first.file).suffix or ".yaml"
    refined = {source.id: policy for source, policy in changes}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"written{suffix}"
        before = Path(folder) / f"original{suffix}"
        path.write_text(out, encoding="utf-8")
        before.write_text(first.text or "", encoding="utf-8")
        try:
            again = _policies(reader(path))
        except InputError as exc:
            raise InternalError(
                f"the template written back does not read back: {exc.diagnostics[0].message}"
            ) from None
        original = _policies(reader(before))
    if again.keys() != original.keys():
        raise InternalError("the template written back holds other policies")
    for policy_id, policy in again.items():
        if policy != refined.get(policy_id, original[policy_id]):
            raise InternalError(f"the template written back holds a different `{policy_id}`")


def _policies(document: Any) -> dict[str, Policy | None]:
    """Every policy of a file by id (None for one that does not load)."""
    found: dict[str, Policy | None] = {}
    for candidate in document.candidates:
        try:
            found[candidate.id] = candidate.load().policy
        except InputError:
            found[candidate.id] = None
    return found
