"""A small JSON value valid against a JSON schema, for ``response_format`` answers.

Covers what structured-output schemas use: objects (required and declared properties,
``additionalProperties``), strings (``enum``, ``const``, ``minLength``), numbers and integers
(``minimum``/``exclusiveMinimum``), booleans, null, arrays (``minItems``), ``anyOf``/``oneOf``/
``allOf`` (first branch) and local ``$ref``s into ``$defs``/``definitions``.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 32


def schema_instance(schema: Any, text: str = "", *, root: Any = None, depth: int = 0) -> Any:
    """A value valid against ``schema``; strings carry ``text`` (padded to ``minLength``)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return text
    if "$ref" in schema:
        return schema_instance(_resolve(root, schema["$ref"]), text, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return schema_instance(branches[0], text, root=root, depth=depth + 1)
    kind = schema_type(schema)
    match kind:
        case "object":
            return _object(schema, text, root, depth)
        case "array":
            count = int(schema.get("minItems", 0))
            items = schema.get("items", {})
            return [schema_instance(items, text, root=root, depth=depth + 1)] * count
        case "integer" | "number":
            return _number(schema, integer=kind == "integer")
        case "boolean":
            return True
        case "null":
            return None
        case _:
            minimum = int(schema.get("minLength", 0))
            return text + "x" * max(0, minimum - len(text))


def schema_type(schema: dict[str, Any]) -> str:
    """The schema's type (the first non-null one of a list); "object" when it has properties."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if isinstance(kind, str):
        return kind
    return "object" if "properties" in schema else "string"


def _object(schema: dict[str, Any], text: str, root: Any, depth: int) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    names = list(properties)
    names += [name for name in schema.get("required", []) if name not in properties]
    value = {
        name: schema_instance(properties.get(name, {}), text, root=root, depth=depth + 1)
        for name in names
    }
    extra = schema.get("additionalProperties")
    if not names and isinstance(extra, dict) and int(schema.get("minProperties", 0)) > 0:
        value["key"] = schema_instance(extra, text, root=root, depth=depth + 1)
    return value


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    value: float = 0
    low, high = schema.get("minimum"), schema.get("maximum")
    above = schema.get("exclusiveMinimum")
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(above, int | float) and value <= above:
        value = above + 1
    if isinstance(high, int | float) and value > high:
        value = high
    return int(value) if integer else float(value)


def _resolve(root: Any, ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    node = root
    for part in ref.lstrip("#/").split("/"):
        if not part:
            continue
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node
