"""JSON schemas for the few bodies the routes build as plain dicts rather than msgspec structs
(list pages, Anthropic's message batch, the Responses objects Frugal relays or rebuilds).

Each names the fields a client can rely on and allows any others, as the routes do.
"""

from __future__ import annotations

from typing import Any, Final

from agent.batch.wire import BatchObject


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


_STRING: Final = {"type": "string"}
_NULLABLE_STRING: Final = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_INT: Final = {"type": "integer"}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


HEALTH: Final = _object({"status": {"const": "ok"}})

DELETED: Final = _object(
    {"id": _STRING, "object": {"const": "response"}, "deleted": {"const": True}}
)

RESPONSES_REQUEST: Final = {
    **_object(
        {},
        {
            "model": _STRING,
            "input": {"anyOf": [{"type": "string"}, {"type": "array"}]},
            "instructions": _NULLABLE_STRING,
            "previous_response_id": _NULLABLE_STRING,
            "stream": {"type": "boolean"},
            "store": {"type": "boolean"},
            "max_output_tokens": {"anyOf": [_INT, {"type": "null"}]},
            "temperature": {"anyOf": [{"type": "number"}, {"type": "null"}]},
            "tools": {"type": "array"},
        },
    ),
    "description": "OpenAI's Responses request: the fields Frugal reads; others are passed on.",
}

RESPONSE_OBJECT: Final = {
    **_object(
        {"id": _STRING, "object": {"const": "response"}},
        {"status": _STRING, "model": _STRING, "output": {"type": "array"}},
    ),
    "description": "OpenAI's Response object, as the provider sent it or rebuilt by Frugal.",
}


def _list_page(item: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {
            "object": {"const": "list"},
            "data": {"type": "array", "items": item},
            "first_id": _NULLABLE_STRING,
            "last_id": _NULLABLE_STRING,
            "has_more": {"type": "boolean"},
        }
    )


LIST_OF_INPUT_ITEMS: Final = _list_page({"type": "object"})
LIST_OF_BATCHES: Final = _list_page(ref(BatchObject.__name__))

FILE_UPLOAD: Final = _object(
    {
        "file": {"type": "string", "format": "binary"},
        "purpose": {"const": "batch"},
    }
)

MESSAGE_BATCH_CREATE: Final = _object(
    {
        "requests": {
            "type": "array",
            "minItems": 1,
            "items": _object(
                {"custom_id": _STRING, "params": {"type": "object"}},
            ),
        }
    }
)

_STAMP: Final = _NULLABLE_STRING  # RFC 3339
_COUNT: Final = _INT

MESSAGE_BATCH: Final = _object(
    {
        "id": _STRING,
        "type": {"const": "message_batch"},
        "processing_status": {"enum": ["in_progress", "canceling", "ended"]},
        "request_counts": _object(
            {
                "processing": _COUNT,
                "succeeded": _COUNT,
                "errored": _COUNT,
                "canceled": _COUNT,
                "expired": _COUNT,
            }
        ),
        "created_at": _STAMP,
        "expires_at": _STAMP,
        "ended_at": _STAMP,
        "cancel_initiated_at": _STAMP,
        "archived_at": _STAMP,
        "results_url": _NULLABLE_STRING,
    }
)

MESSAGE_BATCH_LIST: Final = _object(
    {
        "data": {"type": "array", "items": MESSAGE_BATCH},
        "has_more": {"type": "boolean"},
        "first_id": _NULLABLE_STRING,
        "last_id": _NULLABLE_STRING,
    }
)
