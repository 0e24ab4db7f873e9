"""Terraform plans, as ``terraform show -json`` writes them.

Policies are found in ``planned_values`` (the root module and every child module):
the ``policy`` of ``aws_iam_policy``, ``aws_iam_role_policy``, ``aws_iam_user_policy``
and ``aws_iam_group_policy``, and the rendered ``json`` of ``aws_iam_policy_document``
data sources (which Terraform may list in ``prior_state`` instead, once read).

A value computed at apply time is missing from ``planned_values`` and marked in the
resource change's ``after_unknown``. A computed ``policy`` string cannot be analysed;
a data source whose ``json`` is computed is rebuilt from its ``statement`` blocks, in
which a computed resource or condition value becomes an opaque string.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from iamrefine.errors import Diagnostic, PolicyError
from iamrefine.parse import PositionedMember, PositionedNode
from iamrefine.sources.model import Candidate, Document, PolicySource, SourceKind
from iamrefine.sources.tree import Opaque, opaque_token

POLICY_RESOURCES = (
    "aws_iam_policy",
    "aws_iam_role_policy",
    "aws_iam_user_policy",
    "aws_iam_group_policy",
)
DOCUMENT_DATA = "aws_iam_policy_document"


def is_plan(decoded: Any) -> bool:
    return isinstance(decoded, dict) and (
        "terraform_version" in decoded or "planned_values" in decoded
    )


def _modules(module: Any) -> list[dict[str, Any]]:
    """A module and all its child modules, depth first."""
    out: list[dict[str, Any]] = []
    stack = [module]
    while stack:
        current = stack.pop()
        if not isinstance(current, dict):
            continue
        out.append(current)
        children = current.get("child_modules")
        if isinstance(children, list):
            stack.extend(reversed(children))
    return out


def _resources(root: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for module in _modules(root):
        resources = module.get("resources")
        if isinstance(resources, list):
            found.extend(r for r in resources if isinstance(r, dict))
    return found


def plan_document(file: str, plan: dict[str, Any]) -> Document:
    """The policies of a Terraform plan."""
    doc = Document(
        file,
        SourceKind.TERRAFORM_PLAN,
        [],
        empty_reason="is a Terraform plan with no IAM policy (looked for "
        + ", ".join(f"`{t}`" for t in (*POLICY_RESOURCES, DOCUMENT_DATA))
        + " in `planned_values`, including child modules)",
    )
    planned = plan.get("planned_values")
    if not isinstance(planned, dict):
        raise PolicyError.at(
            file,
            "the Terraform plan has no `planned_values`; write it with "
            "`terraform show -json PLANFILE` from a saved plan",
        )
    unknown = {}
    for change in plan.get("resource_changes") or []:
        if isinstance(change, dict) and isinstance(change.get("change"), dict):
            unknown[change.get("address")] = change["change"].get("after_unknown") or {}
    seen: set[str] = set()
    prior = (plan.get("prior_state") or {}).get("values") or {}
    sources = [*_resources(planned.get("root_module")), *_resources(prior.get("root_module"))]
    for resource in sources:
        address = resource.get("address")
        kind = resource.get("type")
        if not isinstance(address, str) or address in seen:
            continue
        values = resource.get("values")
        values = values if isinstance(values, dict) else {}
        after = unknown.get(address, {})
        after = after if isinstance(after, dict) else {}
        if resource.get("mode", "managed") == "managed" and kind in POLICY_RESOURCES:
            seen.add(address)
            load = partial(_load_string, file, address, values.get("policy"), after)
        elif resource.get("mode") == "data" and kind == DOCUMENT_DATA:
            seen.add(address)
            load = partial(_load_data, file, address, values, after)
        else:
            continue
        doc.candidates.append(Candidate(address, load))
    return doc


def _load_string(file: str, address: str, text: Any, after: dict[str, Any]) -> PolicySource:
    from iamrefine.parse import parse_policy

    if not isinstance(text, str) or not text.strip():
        why = "computed: it is known only after apply" if after.get("policy") else "missing"
        raise PolicyError.at(
            file,
            f"`{address}`: the policy document is {why}; iamrefine needs the rendered "
            "document (use literal values or an `aws_iam_policy_document` data source)",
        )
    try:
        policy = parse_policy(text, file)
    except PolicyError as exc:
        raise PolicyError([_inside(file, address, d) for d in exc.diagnostics]) from None
    return PolicySource(file, SourceKind.TERRAFORM_PLAN, address, policy)


def _inside(file: str, address: str, d: Diagnostic) -> Diagnostic:
    where = f" (line {d.line}, column {d.column} of the document)" if d.line else ""
    return Diagnostic(file, None, None, f"`{address}`{where}: {d.message}")


# --- aws_iam_policy_document statement blocks ---------------------------------------

_BLOCK_ELEMENTS = (
    ("sid", "Sid"),
    ("effect", "Effect"),
    ("actions", "Action"),
    ("not_actions", "NotAction"),
    ("resources", "Resource"),
    ("not_resources", "NotResource"),
)


def _load_data(
    file: str, address: str, values: dict[str, Any], after: dict[str, Any]
) -> PolicySource:
    text = values.get("json")
    if isinstance(text, str) and text.strip():
        return _load_string(file, address, text, after)
    statements = values.get("statement")
    if not isinstance(statements, list) or not statements:
        raise PolicyError.at(
            file,
            f"`{address}`: the policy document is computed (known only after apply) and "
            "has no `statement` blocks to rebuild it from",
        )
    builder = _Rebuild(file, address)
    unknown_statements = after.get("statement")
    items = []
    for i, block in enumerate(statements):
        marks = unknown_statements[i] if isinstance(unknown_statements, list) else {}
        items.append(builder.statement(i, block, marks if isinstance(marks, dict) else {}))
    if builder.errors:
        raise PolicyError(builder.errors)
    members = [PositionedMember("Statement", PositionedNode("array", items))]
    version = values.get("version")
    if isinstance(version, str) and version:
        members.insert(0, PositionedMember("Version", PositionedNode("string", version)))
    from iamrefine.parse import policy_from_tree

    try:
        policy = policy_from_tree(PositionedNode("object", members), file)
    except PolicyError as exc:
        raise PolicyError([_inside(file, address, d) for d in exc.diagnostics]) from None
    return PolicySource(
        file, SourceKind.TERRAFORM_PLAN, address, policy, notes=builder.notes, opaque=builder.opaque
    )


class _Rebuild:
    """Builds policy statements from ``aws_iam_policy_document`` statement blocks."""

    def __init__(self, file: str, address: str) -> None:
        self.file = file
        self.address = address
        self.errors: list[Diagnostic] = []
        self.notes: list[Diagnostic] = []
        self.opaque: dict[str, Opaque] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.append(Diagnostic(self.file, None, None, f"`{self.address}` {path}: {message}"))

    def value(self, path: str, value: Any, unknown: Any, *, opaque_ok: bool) -> PositionedNode:
        if unknown is True:
            if not opaque_ok:
                self.fail(path, "is computed (known only after apply) and cannot be analysed")
                return PositionedNode("null", None)
            token = opaque_token("computed", f"{self.address}.{path}")
            self.opaque[token] = Opaque(token, f"{self.address}.{path}", None, None)
            self.notes.append(
                Diagnostic(
                    self.file,
                    None,
                    None,
                    f"`{self.address}` {path} is computed (known only after apply); the "
                    f"checker treats it as an unknown string (`{token}`)",
                    severity="note",
                )
            )
            return PositionedNode("string", token)
        if isinstance(value, str):
            return PositionedNode("string", value, escaped=True)
        if isinstance(value, bool):
            return PositionedNode("boolean", value)
        return PositionedNode("null", None)

    def values(self, path: str, items: Any, unknown: Any, *, opaque_ok: bool) -> PositionedNode:
        if unknown is True:
            self.fail(path, "is computed (known only after apply); its length is unknown")
            return PositionedNode("null", None)
        marks = unknown if isinstance(unknown, list) else []
        known = items if isinstance(items, list) else []
        nodes = []
        for j in range(max(len(known), len(marks))):
            item = known[j] if j < len(known) else None
            mark = marks[j] if j < len(marks) else False
            nodes.append(self.value(f"{path}[{j}]", item, mark, opaque_ok=opaque_ok))
        return PositionedNode("array", nodes)

    def statement(self, i: int, block: Any, marks: dict[str, Any]) -> PositionedNode:
        block = block if isinstance(block, dict) else {}
        members: list[PositionedMember] = []
        for name, element in _BLOCK_ELEMENTS:
            value, mark = block.get(name), marks.get(name)
            path = f"statement[{i}].{name}"
            if name in ("sid", "effect"):
                if mark is True or (isinstance(value, str) and value):
                    node = self.value(path, value, mark, opaque_ok=False)
                    members.append(PositionedMember(element, node))
                continue
            if mark is True or (isinstance(value, list) and value):
                opaque_ok = element in ("Resource", "NotResource")
                node = self.values(path, value, mark, opaque_ok=opaque_ok)
                members.append(PositionedMember(element, node))
        if not any(m.key == "Effect" for m in members):
            members.insert(0, PositionedMember("Effect", PositionedNode("string", "Allow")))
        for name in ("principals", "not_principals"):
            if block.get(name) or marks.get(name):
                self.fail(f"statement[{i}].{name}", "principals are not part of an identity policy")
        conditions = block.get("condition")
        if marks.get("condition") is True:
            self.fail(f"statement[{i}].condition", "is computed and cannot be analysed")
        elif isinstance(conditions, list) and conditions:
            members.append(PositionedMember("Condition", self.condition(i, conditions, marks)))
        return PositionedNode("object", members)

    def condition(self, i: int, blocks: list[Any], marks: dict[str, Any]) -> PositionedNode:
        marked = marks.get("condition")
        unknown: list[Any] = marked if isinstance(marked, list) else []
        operators: dict[str, list[PositionedMember]] = {}
        for k, block in enumerate(blocks):
            block = block if isinstance(block, dict) else {}
            mark = unknown[k] if k < len(unknown) and isinstance(unknown[k], dict) else {}
            path = f"statement[{i}].condition[{k}]"
            test, variable = block.get("test"), block.get("variable")
            if mark.get("test") is True or mark.get("variable") is True:
                self.fail(path, "its `test` or `variable` is computed and cannot be analysed")
                continue
            if not isinstance(test, str) or not isinstance(variable, str):
                self.fail(path, "needs a `test` and a `variable`")
                continue
            values = self.values(
                f"{path}.values", block.get("values"), mark.get("values"), opaque_ok=True
            )
            operators.setdefault(test, []).append(PositionedMember(variable, values))
        return PositionedNode(
            "object",
            [
                PositionedMember(op, PositionedNode("object", keys))
                for op, keys in operators.items()
            ],
        )
