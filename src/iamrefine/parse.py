"""Parse and validate IAM policy documents into the :mod:`iamrefine.model` AST.

Parsing runs in three stages; the first two live in :mod:`iamrefine.jsontree`:

1. Cheap checks on the raw input: size limit, UTF-8 decoding, the allowed character
   range (tab, LF, CR and U+0020..U+00FF) and a nesting-depth pre-scan, so that
   pathological inputs are rejected quickly and never reach the recursive stages.
2. The Lark LALR parser (grammar ``iam_policy.lark``), whose inline Transformer turns
   the tokens into a small positioned JSON tree. It goes on after a trailing comma, a
   missing comma and an unquoted key (:mod:`iamrefine.recover`) to report every such
   error; any other syntax error stops it, and a document with syntax errors is not
   validated further.
3. A validator that walks that tree and builds :class:`~iamrefine.model.Policy`,
   collecting every diagnostic (duplicate keys, unknown elements, wrong value types,
   missing or conflicting elements, bad action patterns, condition shapes).

Every problem found is reported, in source order, in one
:class:`~iamrefine.errors.PolicyError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from iamrefine.errors import Diagnostic, PolicyError
from iamrefine.files import read_input
from iamrefine.jsontree import (
    BAD_CHAR,
    MAX_POLICY_BYTES,
    Member,
    Node,
    case_hint,
    char_name,
    check_characters,
    check_depth,
    decode_bytes,
    describe,
    detect_layout,
    from_python,
    ordered,
    parse_json,
    shorten,
)
from iamrefine.jsontree import MAX_CHAR_DIAGNOSTICS as MAX_CHAR_DIAGNOSTICS
from iamrefine.jsontree import MAX_DEPTH as MAX_DEPTH
from iamrefine.model import (
    KNOWN_VERSIONS,
    STATEMENT_ELEMENTS,
    TOP_LEVEL_ELEMENTS,
    Condition,
    ConditionClause,
    ConditionEntry,
    Policy,
    Scalar,
    Span,
    Statement,
    ValueList,
)

MAX_ACTION_LENGTH = 10_240
"""Longest accepted action pattern: the largest AWS policy size quota."""


_SID = re.compile(r"[A-Za-z0-9]*")


def _opaque(text: str) -> bool:
    """Whether ``text`` is a template value known only at deploy time
    (:func:`iamrefine.sources.tree.opaque_token`), which AWS checks once it is resolved."""
    return text.startswith("{{") and text.endswith("}}")


# Validation: positioned JSON tree -> Policy.


@dataclass
class _Builder:
    source: str
    diags: list[Diagnostic] = field(default_factory=list)
    sids: dict[str, Node] = field(default_factory=dict)
    """Each Sid seen so far, with the node of its first use."""

    def error(self, where: Node | Member | None, message: str) -> None:
        line = where.line if where is not None else None
        column = where.column if where is not None else None
        self.diags.append(Diagnostic(self.source, line, column, message))

    @staticmethod
    def span(node: Node) -> Span | None:
        if node.line is None or node.column is None:
            return None
        assert node.end_line is not None and node.end_column is not None
        return Span(
            line=node.line,
            column=node.column,
            end_line=node.end_line,
            end_column=node.end_column,
        )

    # -- generic checks over the whole tree --------------------------------------------

    def check_tree(self, root: Node) -> None:
        """Report duplicate keys and escaped characters outside the allowed range."""
        stack = [root]
        while stack:
            node = stack.pop()
            if node.kind == "object":
                seen: dict[str, Member] = {}
                for member in node.value:
                    if member.escaped:
                        self.check_escaped(member, member.key)
                    first = seen.get(member.key)
                    if first is not None:
                        where = ""
                        if first.line is not None:
                            where = f" (first at {first.line}:{first.column})"
                        self.error(
                            member,
                            f"duplicate key `{shorten(member.key)}`{where}; "
                            "AWS rejects duplicate keys",
                        )
                    else:
                        seen[member.key] = member
                    stack.append(member.value)
            elif node.kind == "array":
                stack.extend(node.value)
            elif node.kind == "string" and node.escaped:
                self.check_escaped(node, node.value)
            elif node.kind == "number" and not node.value.finite:
                self.error(node, "number is out of range (too many digits or too large)")

    def check_escaped(self, where: Node | Member, text: str) -> None:
        match = BAD_CHAR.search(text)
        if match is not None:
            self.error(
                where,
                f"string contains character `{char_name(match.group())}` (written as an "
                "escape), which is not allowed in a policy "
                "(allowed: tab, line feed, carriage return and U+0020 to U+00FF)",
            )

    # -- the document --------------------------------------------------------------------

    def members(self, node: Node, names: tuple[str, ...], what: str) -> dict[str, Member]:
        """Known members by name (first occurrence); reports unknown ones."""
        found: dict[str, Member] = {}
        for member in node.value:
            if member.key in names:
                found.setdefault(member.key, member)
            else:
                hint = case_hint(member.key, names)
                if not hint:
                    hint = " (expected one of " + ", ".join(f"`{n}`" for n in names) + ")"
                self.error(member, f"unknown element `{shorten(member.key)}` in {what}{hint}")
        return found

    def policy(self, root: Node) -> Policy | None:
        if root.kind != "object":
            self.error(root, f"a policy must be a JSON object, found {describe(root)}")
            return None
        self.check_tree(root)
        found = self.members(root, TOP_LEVEL_ELEMENTS, "the policy")
        version = self.optional_string(found.get("Version"))
        if version is not None and version not in KNOWN_VERSIONS:
            assert found["Version"] is not None
            self.error(
                found["Version"].value,
                f"unknown policy version `{shorten(version)}` "
                f"(expected `{KNOWN_VERSIONS[0]}` or `{KNOWN_VERSIONS[1]}`)",
            )
        policy_id = self.optional_string(found.get("Id"))
        statements: list[Statement | None] = []
        is_list = True
        stmt_member = found.get("Statement")
        if stmt_member is None:
            self.error(root, "the policy has no `Statement` element")
        else:
            value = stmt_member.value
            if value.kind == "object":
                is_list = False
                statements.append(self.statement(value))
            elif value.kind == "array":
                if not value.value:
                    self.error(value, "`Statement` must not be an empty list")
                for item in value.value:
                    if item.kind == "object":
                        statements.append(self.statement(item))
                    else:
                        self.error(item, f"a statement must be an object, found {describe(item)}")
            else:
                self.error(
                    value,
                    f"`Statement` must be an object or a list of objects, found {describe(value)}",
                )
        if self.diags:
            return None
        return Policy(
            version=version,
            id=policy_id,
            statements=[s for s in statements if s is not None],
            statement_is_list=is_list,
            keys=list(found),
        )

    def optional_string(self, member: Member | None) -> str | None:
        if member is None:
            return None
        if member.value.kind != "string":
            self.error(
                member.value, f"`{member.key}` must be a string, found {describe(member.value)}"
            )
            return None
        value: str = member.value.value
        return value

    # -- statements ----------------------------------------------------------------------

    def statement(self, node: Node) -> Statement | None:
        before = len(self.diags)
        found = self.members(node, STATEMENT_ELEMENTS, "a statement")
        sid = self.optional_string(found.get("Sid"))
        if sid is not None:
            self.check_sid(found["Sid"].value, sid)
        effect = self.effect(node, found.get("Effect"))
        action = self.value_list(found.get("Action"), actions=True)
        not_action = self.value_list(found.get("NotAction"), actions=True)
        resource = self.value_list(found.get("Resource"), actions=False)
        not_resource = self.value_list(found.get("NotResource"), actions=False)
        principal = self.principal(found.get("Principal"))
        not_principal = self.principal(found.get("NotPrincipal"))
        condition = self.condition(found.get("Condition"))

        self.exclusive(node, found, "Action", "NotAction", required=True)
        has_principal = "Principal" in found or "NotPrincipal" in found
        self.exclusive(node, found, "Resource", "NotResource", required=not has_principal)
        self.exclusive(node, found, "Principal", "NotPrincipal", required=False)

        if len(self.diags) > before or effect is None:
            return None
        return Statement(
            sid=sid,
            effect=effect,
            action=action,
            not_action=not_action,
            resource=resource,
            not_resource=not_resource,
            principal=principal,
            not_principal=not_principal,
            condition=condition,
            keys=list(found),
            span=self.span(node),
        )

    def check_sid(self, node: Node, sid: str) -> None:
        """IAM takes ASCII letters and digits only in a Sid, and each Sid once per policy
        (see proofs/aws-validation.md)."""
        if any(ord(c) < 0x20 or ord(c) > 0xFF for c in sid) or _opaque(sid):
            return  # the character checks report it already, or it is known at deploy time
        if not _SID.fullmatch(sid):
            self.error(
                node,
                f"`Sid` `{shorten(sid)}` may hold only ASCII letters and digits "
                "(IAM rejects the policy)",
            )
        elif sid in self.sids:
            first = self.sids[sid]
            where = f"at line {first.line}" if first.line is not None else "by an earlier statement"
            self.error(
                node,
                f"`Sid` `{shorten(sid)}` is already used {where} "
                "(IAM rejects a policy whose Sids are not unique)",
            )
        else:
            self.sids[sid] = node

    def exclusive(
        self, node: Node, found: dict[str, Member], one: str, other: str, *, required: bool
    ) -> None:
        if one in found and other in found:
            later = max(found[one], found[other], key=lambda m: (m.line or 0, m.column or 0))
            self.error(later, f"a statement cannot have both `{one}` and `{other}`")
        elif required and one not in found and other not in found:
            need = "" if one == "Action" else " (a statement without a principal needs one)"
            self.error(node, f"the statement has neither `{one}` nor `{other}`{need}")

    def effect(self, node: Node, member: Member | None) -> Literal["Allow", "Deny"] | None:
        if member is None:
            self.error(node, "the statement has no `Effect` element")
            return None
        value = member.value
        if value.kind != "string":
            self.error(value, f"`Effect` must be a string, found {describe(value)}")
            return None
        if value.value not in ("Allow", "Deny"):
            hint = ""
            if value.value.lower() in ("allow", "deny"):
                hint = f"; values are case-sensitive: did you mean `{value.value.capitalize()}`?"
            self.error(
                value,
                f"invalid `Effect` value `{shorten(value.value)}` "
                f"(expected `Allow` or `Deny`){hint}",
            )
            return None
        return "Allow" if value.value == "Allow" else "Deny"

    def value_list(self, member: Member | None, *, actions: bool) -> ValueList | None:
        if member is None:
            return None
        node = member.value
        name = member.key
        if node.kind == "string":
            items, is_list = [node], False
        elif node.kind == "array":
            items, is_list = node.value, True
            if not items:
                self.error(node, f"`{name}` must not be an empty list")
                return None
        else:
            self.error(
                node, f"`{name}` must be a string or a list of strings, found {describe(node)}"
            )
            return None
        ok = True
        for item in items:
            if item.kind != "string":
                self.error(item, f"`{name}` list items must be strings, found {describe(item)}")
                ok = False
            elif not (self.action_ok(item) if actions else self.resource_ok(name, item)):
                ok = False
        if not ok:
            return None
        return ValueList(
            values=[item.value for item in items],
            is_list=is_list,
            span=self.span(node),
            spans=[self.span(item) for item in items],
        )

    def resource_ok(self, name: str, node: Node) -> bool:
        """A resource is `*` or an ARN pattern (``arn:`` and anything, as IAM takes
        `arn:aws:sqs:*`); IAM rejects anything else (see proofs/aws-validation.md)."""
        text: str = node.value
        if text == "*" or text.startswith("arn:") or _opaque(text):
            return True
        hint = " (it has leading or trailing whitespace)" if text != text.strip() else ""
        self.error(
            node,
            f"`{name}` value `{shorten(text)}` is neither `*` nor an ARN "
            f"(`arn:partition:service:region:account:resource`){hint}",
        )
        return False

    def action_ok(self, node: Node) -> bool:
        text: str = node.value
        if len(text) > MAX_ACTION_LENGTH:
            self.error(
                node,
                f"action pattern `{shorten(text)}` is {len(text):,} characters long, "
                f"longer than any AWS policy size quota allows ({MAX_ACTION_LENGTH:,})",
            )
            return False
        if text == "*":
            return True
        if text != text.strip():
            self.error(
                node,
                f"action `{shorten(text)}` has leading or trailing whitespace, which no "
                f"action name holds (did you mean `{shorten(text.strip())}`?)",
            )
            return False
        service, colon, _ = text.partition(":")
        if not colon:
            self.error(
                node,
                f"action `{shorten(text)}` has no service prefix "
                "(expected `service:action` or `*`)",
            )
            return False
        if not service:
            self.error(
                node,
                f"action `{shorten(text)}` has an empty service prefix "
                "(expected `service:action` or `*`)",
            )
            return False
        return True

    def principal(self, member: Member | None) -> Any:
        if member is None:
            return None
        node = member.value
        if node.kind == "string":
            return node.value
        if node.kind == "object":
            out: dict[str, Any] = {}
            for entry in node.value:
                value = entry.value
                if value.kind == "string":
                    out[entry.key] = value.value
                elif value.kind == "array" and all(v.kind == "string" for v in value.value):
                    out[entry.key] = [v.value for v in value.value]
                else:
                    bad = value
                    if value.kind == "array":
                        bad = next(v for v in value.value if v.kind != "string")
                    self.error(
                        bad,
                        f"`{member.key}` entry `{shorten(entry.key)}` must be a string or "
                        f"a list of strings, found {describe(bad)}",
                    )
            return out
        self.error(
            node,
            f"`{member.key}` must be a string or an object of strings and lists of strings, "
            f"found {describe(node)}",
        )
        return None

    def condition(self, member: Member | None) -> Condition | None:
        if member is None:
            return None
        node = member.value
        if node.kind != "object":
            self.error(node, f"`Condition` must be an object of operators, found {describe(node)}")
            return None
        clauses: list[ConditionClause] = []
        ok = True
        for op in node.value:
            if op.value.kind != "object":
                self.error(
                    op.value,
                    f"condition operator `{shorten(op.key)}` must map to an object of "
                    f"condition keys, found {describe(op.value)}",
                )
                ok = False
                continue
            entries: list[ConditionEntry] = []
            for entry in op.value.value:
                built = self.condition_entry(op.key, entry)
                if built is None:
                    ok = False
                else:
                    entries.append(built)
            clauses.append(
                ConditionClause(operator=op.key, entries=entries, span=self.span(op.value))
            )
        if not ok:
            return None
        return Condition(clauses=clauses, span=self.span(node))

    def condition_entry(self, operator: str, entry: Member) -> ConditionEntry | None:
        value = entry.value
        scalars = ("string", "number", "boolean")
        what = f"condition key `{shorten(entry.key)}` under `{shorten(operator)}`"
        if value.kind in scalars:
            items, is_list = [value], False
        elif value.kind == "array":
            items, is_list = value.value, True
        else:
            self.error(
                value,
                f"{what} must have a string, number or boolean value, or a list of them; "
                f"found {describe(value)}",
            )
            return None
        bad = [item for item in items if item.kind not in scalars]
        for item in bad:
            self.error(
                item,
                f"{what}: list items must be strings, numbers or booleans, found {describe(item)}",
            )
        if bad:
            return None
        values: list[Scalar] = [item.value for item in items]
        return ConditionEntry(key=entry.key, values=values, is_list=is_list, span=self.span(value))


def _finish(builder: _Builder, root: Node, extra: list[Diagnostic]) -> Policy:
    policy = builder.policy(root)
    diags = extra + builder.diags
    if diags or policy is None:
        raise PolicyError(ordered(diags))
    return policy


# ---------------------------------------------------------------------------
# Public API.


def _too_large(source: str, size: int) -> PolicyError:
    return PolicyError(
        Diagnostic(
            source,
            None,
            None,
            f"policy file is {size:,} bytes, larger than the limit of {MAX_POLICY_BYTES:,} "
            "bytes (AWS's largest policy quota is 10,240 non-whitespace characters)",
        )
    )


def parse_policy(data: str | bytes, source: str = "<policy>") -> Policy:
    """Parse and validate a policy document.

    ``data`` is the file's bytes (decoded as UTF-8) or text. Raises
    :class:`~iamrefine.errors.PolicyError` with every diagnostic found, in source
    order. The returned policy has ``source`` set and ``layout`` detected from the
    text (indent width, or None for a single-line document; trailing newline).
    """
    if isinstance(data, bytes):
        size = len(data)
    elif len(data) > MAX_POLICY_BYTES:
        size = len(data)  # a lower bound is enough to reject it
    else:
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_POLICY_BYTES:
        raise _too_large(source, size)
    text = decode_bytes(data, source) if isinstance(data, bytes) else data
    if not text.strip(" \t\r\n"):
        raise PolicyError.at(source, "the policy is empty; expected a JSON object", 1, 1)
    char_diags = check_characters(text, source)
    if text.startswith("\ufeff"):
        # Report the byte order mark once, then parse the rest with columns unchanged.
        char_diags[0] = Diagnostic(
            source,
            1,
            1,
            "character `U+FEFF` is not allowed in a policy (the file starts with a UTF-8 "
            "byte order mark; save it without one)",
        )
        text = " " + text[1:]
    depth_diag = check_depth(text, source)
    if depth_diag is not None:
        raise PolicyError(ordered([*char_diags, depth_diag]))

    root = parse_json(text, source, char_diags)
    policy = _finish(_Builder(source), root, char_diags)
    policy.source = source
    policy.layout = detect_layout(text)
    policy.source_text = text  # a byte order mark is an error, so text is the source
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and parse the policy file at ``path`` (``-``: standard input)."""
    data = read_input(
        path,
        limit=MAX_POLICY_BYTES,
        what="policy file",
        error=PolicyError,
        why="AWS's largest policy quota is 10,240 non-whitespace characters",
    )
    return parse_policy(data, str(path))


def policy_from_json(obj: Any, source: str = "<policy>") -> Policy:
    """Build a policy from already-decoded JSON (dicts keep their order).

    Applies the same validation as :func:`parse_policy` (without positions: duplicate
    keys cannot occur in a dict). The layout is the default (indent 2).
    """
    try:
        root = from_python(obj)
    except PolicyError as exc:
        raise PolicyError(
            [Diagnostic(source, None, None, d.message) for d in exc.diagnostics]
        ) from None
    policy = _finish(_Builder(source), root, [])
    policy.source = source
    return policy


# ---------------------------------------------------------------------------
# Positioned trees built by other readers (YAML, CloudFormation, Terraform).

PositionedNode = Node
PositionedMember = Member


def policy_from_tree(root: Node, source: str) -> Policy:
    """Validate a positioned tree built by another reader, exactly as a parsed JSON
    policy is validated; diagnostics carry the tree's positions in ``source``."""
    policy = _finish(_Builder(source), root, [])
    policy.source = source
    return policy
