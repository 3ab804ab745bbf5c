"""Builds the OpenAPI 3.1 document from the route table (`server.openapi.operations`) and
the msgspec types the routes decode and encode (`msgspec.json.schema_components`).

msgspec emits JSON Schema 2020-12, which OpenAPI 3.1 uses as is. Component names are the
types' names; the few that collide or are private are renamed here (`COMPONENT_NAMES`).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import msgspec

from agent import anthropic_wire, openai_wire
from agent.core import messages_request, request
from agent.core.embeddings import _EmbeddingsView
from server import anthropic_errors, errors, openai_errors
from server.openapi.operation import JSON, Operation, Schema, Wire
from server.openapi.operations import OPERATIONS

_REF_TEMPLATE: Final = "#/components/schemas/{name}"
_PATH_PARAM: Final = re.compile(r"{([^}]+)}")

ERROR_TYPES: Final[dict[Wire, type]] = {
    "frugal": errors.ErrorEnvelope,
    "openai": openai_errors.ErrorEnvelope,
    "anthropic": anthropic_errors.ErrorEnvelope,
}

# Public names for the types whose own names are private or taken twice.
COMPONENT_NAMES: Final[dict[type, str]] = {
    errors.ErrorEnvelope: "FrugalError",
    errors.ErrorBody: "FrugalErrorBody",
    openai_errors.ErrorEnvelope: "OpenAIError",
    openai_errors.ErrorDetail: "OpenAIErrorDetail",
    anthropic_errors.ErrorEnvelope: "AnthropicError",
    anthropic_errors.ErrorDetail: "AnthropicErrorDetail",
    request._BodyView: "ChatCompletionRequest",
    request._MessageView: "ChatCompletionMessage",
    request._StreamOptions: "StreamOptions",
    messages_request._BodyView: "MessagesRequest",
    messages_request._MessageView: "MessagesMessage",
    messages_request._MetadataView: "MessagesMetadata",
    _EmbeddingsView: "EmbeddingsRequest",
    openai_wire.WireUsage: "OpenAIUsage",
    anthropic_wire.WireUsage: "AnthropicUsage",
    anthropic_wire.Message: "AnthropicMessage",
    anthropic_wire.ContentBlock: "AnthropicContentBlock",
}

_SECURITY_SCHEMES: Final = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API key, or the admin key"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}
_KEYED: Final[list[dict[str, list[str]]]] = [{"bearer": []}, {"apiKey": []}]

_ERROR_WORDS: Final[dict[Wire, str]] = {
    "frugal": 'Frugal\'s error: `{"error": {"code", "message"}}` with a stable `code`.',
    "openai": "OpenAI's error shape.",
    "anthropic": "Anthropic's error shape.",
}


_LONG_QUERY: Final = (
    " A request line over 64 KiB (the query, percent-encoded) is refused by the HTTP server"
    " itself, in plain text: send long text with POST."
)


def _types_of(operations: tuple[Operation, ...]) -> list[type]:
    found: list[type] = list(ERROR_TYPES.values())
    for op in operations:
        for schema in (op.body, *op.ok.values()):
            if isinstance(schema, type) and schema not in found:
                found.append(schema)
    return found


def _msgspec_name(cls: type, components: dict[str, Any]) -> str:
    # msgspec names a component after the type, or its full path when two names collide.
    full = f"{cls.__module__}.{cls.__qualname__}"
    return full if full in components else cls.__name__


def _renamed(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {key: _renamed(value, names) for key, value in node.items()}
        target = out.get("$ref")
        if isinstance(target, str):
            name = target.rsplit("/", 1)[-1]
            out["$ref"] = _REF_TEMPLATE.format(name=names.get(name, name))
        if "title" in out and out["title"] in names:
            out["title"] = names[out["title"]]
        return out
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    return node


def _components(types: list[type]) -> tuple[dict[type, dict[str, Any]], dict[str, Any]]:
    refs, components = msgspec.json.schema_components(types, ref_template=_REF_TEMPLATE)
    names = {
        _msgspec_name(cls, components): public
        for cls, public in COMPONENT_NAMES.items()
        if _msgspec_name(cls, components) in components
    }
    renamed = {names.get(key, key): _renamed(value, names) for key, value in components.items()}
    by_type = {cls: _renamed(ref, names) for cls, ref in zip(types, refs, strict=True)}
    return by_type, renamed


def _schema(schema: Schema | None, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    if schema is None:
        return {}
    if isinstance(schema, type):
        return refs[schema]
    return schema


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(op.path)
    ]
    for param in op.params:
        entry: dict[str, Any] = {"name": param.name, "in": param.where, "schema": param.schema}
        if param.description:
            entry["description"] = param.description
        params.append(entry)
    return params


def _responses(op: Operation, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    content = {media: {"schema": _schema(schema, refs)} for media, schema in op.ok.items()}
    success: dict[str, Any] = {"description": HTTPStatus(op.ok_status).phrase}
    if content:
        success["content"] = content
    if op.headers:
        success["headers"] = {
            h.name: {"description": h.description, "schema": h.schema} for h in op.headers
        }
    responses: dict[str, Any] = {str(op.ok_status): success}
    for status in op.extra_ok_status:
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": content}
    error = {JSON: {"schema": refs[ERROR_TYPES[op.wire]]}}
    for status in sorted(set(op.errors)):
        phrase = HTTPStatus(status).phrase
        responses[str(status)] = {
            "description": f"{phrase}. {_ERROR_WORDS[op.wire]}",
            "content": error,
        }
    if op.long_query:
        responses["400"]["content"] = {**error, "text/plain": {"schema": {"type": "string"}}}
        responses["400"]["description"] += _LONG_QUERY
    return responses


def _operation(op: Operation, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", op.path).strip("_") or "index"
    entry: dict[str, Any] = {
        "operationId": f"{op.method}_{slug}",
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(op, refs),
    }
    params = _parameters(op)
    if params:
        entry["parameters"] = params
    if op.body is not None:
        media: dict[str, Any] = {"schema": _schema(op.body, refs)}
        if op.example is not None:
            media["example"] = op.example
        entry["requestBody"] = {"required": True, "content": {op.body_media: media}}
    if op.admin:
        entry["security"] = _KEYED
    elif 401 in op.errors:
        entry["security"] = [{}, *_KEYED]  # a key only when [auth] is on
    else:
        entry["security"] = []
    return entry


def _version() -> str:
    try:
        return version("frugal")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


def build_document(operations: tuple[Operation, ...] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (every route of the app by default)."""
    refs, components = _components(_types_of(operations))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Frugal",
            "version": _version(),
            "description": (
                "An LLM gateway: Frugal's own chat API, and drop-in OpenAI and Anthropic wires. "
                "Relayed wire bodies list the fields Frugal reads; every other field is "
                "accepted and passed to the provider unchanged."
            ),
        },
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": _SECURITY_SCHEMES},
    }


_encoder: Final = msgspec.json.Encoder(order="deterministic")


def document_json(operations: tuple[Operation, ...] = OPERATIONS) -> bytes:
    """`build_document` as JSON bytes (stable key order)."""
    return _encoder.encode(build_document(operations))
