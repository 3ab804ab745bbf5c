"""The shape of one entry of the route table (`server.openapi.operations`): an operation,
its parameters, and the status groups its errors come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

Wire = Literal["frugal", "openai", "anthropic"]
"""Whose error envelope the path answers with (`server.error_handlers`)."""

Schema = type | dict[str, Any]
"""A msgspec type (its JSON schema is generated) or an inline JSON schema."""

JSON: Final = "application/json"
SSE: Final = "text/event-stream"
HTML: Final = "text/html"

# Error statuses, grouped by what causes them.
BODY: Final = (400, 408, 413)  # malformed, too slow, too large
AUTH: Final = (401,)  # with [auth] on
LIMITED: Final = (429,)  # the inbound rate limit
UPSTREAM: Final = (502, 503, 504)  # the provider failed, a breaker is open, a budget refused
BATCH_LANE: Final = (404,)  # the lane is disabled, or the id is unknown


@dataclass(frozen=True)
class Param:
    """A query or header parameter (path parameters come from the path template)."""

    name: str
    where: Literal["query", "header"]
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Header:
    """A header the success answer may carry."""

    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Operation:
    """One (path, method) of the HTTP API."""

    path: str
    method: Literal["get", "post", "delete"]
    summary: str
    tag: str
    wire: Wire
    ok: dict[str, Schema | None]
    """The 200 answer by media type (None: bytes not described by a schema)."""
    errors: tuple[int, ...] = ()
    body: Schema | None = None
    body_media: str = JSON
    params: tuple[Param, ...] = ()
    admin: bool = False
    """Needs the admin key (``FRUGAL_SERVER_ADMIN_KEY``)."""
    ok_status: int = 200
    """The success status (204 answers with no body: leave ``ok`` empty)."""
    extra_ok_status: tuple[int, ...] = field(default=())
    """Other statuses answered with the ok shape (``/readyz``'s 503)."""
    example: dict[str, Any] | None = None
    """A typical request body (shown by /docs, sent first by the schemathesis run)."""
    long_query: bool = False
    """Takes long text in the query: a request line over the HTTP server's limit (64 KiB)
    is refused by the server itself, with a plain-text 400."""
    headers: tuple[Header, ...] = ()
    """Headers of the success answer worth describing (Frugal's cache verdict)."""


CACHE_HEADER: Final = Param(
    "x-frugal-cache",
    "header",
    {"enum": ["default", "no-cache", "no-store"]},
    "Frugal's cache mode for this request: read and write (default), skip reading, or skip both.",
)

CACHE_ANSWER_HEADERS: Final = (
    Header(
        "x-frugal-cache",
        {"enum": ["exact", "semantic", "miss"]},
        "Which cache answered: the exact one, the semantic one (a paraphrase), or none.",
    ),
    Header(
        "x-frugal-cache-score",
        {"type": "string", "pattern": r"^[0-9]\.[0-9]{4}$"},
        "On a semantic hit only: the cosine between the question and the stored one it"
        " matched, 4 decimals.",
    ),
    Header(
        "x-frugal-cache-matched",
        {"type": "string", "maxLength": 1024},
        "On a semantic hit, only with FRUGAL_CACHE_SEMANTIC_SHOW_MATCH=true (it may be another"
        " user's question): the stored, normalised question it matched, percent-encoded UTF-8,"
        " cut between characters at 1,024 characters.",
    ),
)
