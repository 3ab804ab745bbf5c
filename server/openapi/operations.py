"""The route table of the OpenAPI description: for every route the app registers, its method,
the msgspec type of its body and answer, its media types and the statuses it can answer.

Wire bodies that Frugal relays (chat completions, messages, responses, embeddings) are
described by the lenient views Frugal decodes them with: the fields it reads, every other
field allowed and passed on. Those views are private to their decoders; the description
reads them on purpose, so it cannot drift from what is decoded.

`tests/server/test_openapi.py` checks that this table and the app's routes name the same
(path, method) pairs, so a new route cannot be left out.
"""

from __future__ import annotations

from typing import Final

from agent.anthropic_wire import Message as AnthropicMessage
from agent.batch.wire import BatchObject, FileObject
from agent.core import messages_request, request
from agent.core.embeddings import _EmbeddingsView
from agent.openai_wire import ChatCompletion, EmbeddingResponse
from agent.pipeline.response import ChatResponse
from metrics.history import HistoryView
from server.openapi.inline import (
    DELETED,
    FILE_UPLOAD,
    HEALTH,
    LIST_OF_BATCHES,
    LIST_OF_INPUT_ITEMS,
    MESSAGE_BATCH,
    MESSAGE_BATCH_CREATE,
    MESSAGE_BATCH_LIST,
    RESPONSE_OBJECT,
    RESPONSES_REQUEST,
)
from server.openapi.operation import (
    AUTH,
    BATCH_LANE,
    BODY,
    CACHE_ANSWER_HEADERS,
    CACHE_HEADER,
    HTML,
    JSON,
    LIMITED,
    SSE,
    UPSTREAM,
    Operation,
    Param,
)
from server.routes.admin import InvalidateBody, InvalidateResult
from server.routes.admin_kb import DeleteBody, KbChange
from server.routes.admin_semantic import SemanticListing
from server.routes.batches import BatchCreate
from server.routes.chat import ChatBody
from server.routes.count_tokens import InputTokens
from server.routes.feedback import FeedbackBody, FeedbackResult
from server.routes.health import Readiness
from server.routes.openai_compat import ModelCard, ModelList
from server.routes.session import SessionInfo, SignInBody
from server.stats_wire import Stats

_HELLO: Final = [{"role": "user", "content": "How do I reset my password?"}]
_LIMIT_100: Final = {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
_TEXT: Final = {"type": "string"}


def _chat_query() -> tuple[Param, ...]:
    # The fields of ``POST /chat``'s body, carried in the query for a browser EventSource.
    return (
        Param("message", "query", {"type": "string", "minLength": 1, "maxLength": 32_000}),
        Param("session_id", "query", {"type": "string", "minLength": 1, "maxLength": 200}),
        Param("user_id", "query", {"type": "string", "minLength": 1, "maxLength": 200}),
        Param("cache", "query", {"enum": ["default", "no-cache", "no-store"]}),
        Param("model", "query", _TEXT),
        Param("agent", "query", {"type": "string", "minLength": 1, "maxLength": 64}),
        Param("key", "query", _TEXT, "The API key, for clients that cannot send headers."),
    )


OPERATIONS: Final[tuple[Operation, ...]] = (
    # --- Frugal's own API
    Operation("/", "get", "The chat page", "pages", "frugal", {HTML: None}),
    Operation("/dashboard", "get", "The cost dashboard", "pages", "frugal", {HTML: None}, AUTH),
    Operation("/static/{path}", "get", "Page assets", "pages", "frugal", {"*/*": None}, (404,)),
    Operation(
        "/chat",
        "post",
        "Ask one question, get one JSON answer",
        "chat",
        "frugal",
        {JSON: ChatResponse},
        (*BODY, 404, 422, *AUTH, *LIMITED, *UPSTREAM),
        body=ChatBody,
        params=(Param("agent", "query", _TEXT, "The configured agent to ask."),),
        example={"message": "How do I reset my password?", "session_id": "s-1"},
    ),
    Operation(
        "/chat/stream",
        "get",
        "Ask one question, stream the answer as server-sent events",
        "chat",
        "frugal",
        {SSE: None},
        (400, 404, 413, 422, *AUTH, *LIMITED, *UPSTREAM),
        params=_chat_query(),
        long_query=True,
    ),
    Operation(
        "/chat/feedback",
        "post",
        "Score one A/B answer (1-5)",
        "chat",
        "frugal",
        {JSON: FeedbackResult},
        (*BODY, 404, 422, *AUTH),
        body=FeedbackBody,
        example={"request_id": "req-from-a-chat-answer", "score": 5},
    ),
    Operation(
        "/stats", "get", "Cost, cache and latency summary", "operate", "frugal", {JSON: Stats}, AUTH
    ),
    Operation(
        "/stats/history",
        "get",
        "The dashboard's per-minute history",
        "operate",
        "frugal",
        {JSON: HistoryView},
        (403, 422, *AUTH),
        params=(
            Param("window", "query", {"type": "string"}, "15m, 1h, 6h, 24h or seconds"),
            Param("tenant", "query", _TEXT, "cut to one tenant"),
        ),
    ),
    Operation(
        "/auth/session",
        "post",
        "Browser sign-in: a key in, a signed session cookie out",
        "pages",
        "frugal",
        {JSON: SessionInfo},
        (*BODY, 404, 422, *AUTH, *LIMITED),
        body=SignInBody,
        example={"key": "the-api-key-of-this-browser"},
    ),
    Operation("/auth/session", "get", "Who is signed in", "pages", "frugal", {JSON: SessionInfo}),
    Operation("/auth/session", "delete", "Sign out", "pages", "frugal", {}, ok_status=204),
    Operation(
        "/metrics", "get", "Prometheus metrics", "operate", "frugal", {"text/plain": None}, AUTH
    ),
    Operation("/healthz", "get", "Liveness", "operate", "frugal", {JSON: HEALTH}),
    Operation(
        "/readyz",
        "get",
        "Readiness (503 when not ready)",
        "operate",
        "frugal",
        {JSON: Readiness},
        extra_ok_status=(503,),
    ),
    Operation("/openapi.json", "get", "This description", "operate", "frugal", {JSON: None}),
    Operation("/docs", "get", "The API reference page", "pages", "frugal", {HTML: None}),
    Operation(
        "/admin/cache/invalidate",
        "post",
        "Drop cached answers by document tag, by question or by semantic entry id",
        "admin",
        "frugal",
        {JSON: InvalidateResult},
        (*BODY, 404, 422, *AUTH, 429, 503),
        body=InvalidateBody,
        example={"tag": "faq/passwords.md"},
        admin=True,
    ),
    Operation(
        "/admin/cache/semantic",
        "get",
        "List live semantic-cache entries, newest first",
        "admin",
        "frugal",
        {JSON: SemanticListing},
        (404, 422, *AUTH, 429, 503),
        params=(
            Param("tenant", "query", {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}),
            Param("tag", "query", {"type": "string", "minLength": 1, "maxLength": 200}),
            Param(
                "q",
                "query",
                {"type": "string", "minLength": 1, "maxLength": 1000},
                "A piece of the question, any case.",
            ),
            Param(
                "limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
            ),
        ),
        admin=True,
    ),
    *(
        Operation(
            f"/admin/kb/{{name}}/{action}",
            "post",
            summary,
            "admin",
            "frugal",
            {JSON: KbChange},
            (*BODY, 404, 422, *AUTH, 429, 503),
            body=DeleteBody if action == "delete" else None,
            admin=True,
        )
        for action, summary in (
            ("ingest", "Re-ingest a knowledge base's configured paths"),
            ("reload", "Pick up what `frugal kb` stored"),
            ("delete", "Remove documents from a knowledge base"),
        )
    ),
    # --- OpenAI's wire
    Operation(
        "/v1/chat/completions",
        "post",
        "OpenAI Chat Completions (whole, or streamed when `stream` is true)",
        "openai",
        "openai",
        {JSON: ChatCompletion, SSE: None},
        (*BODY, 404, *AUTH, *LIMITED, *UPSTREAM),
        body=request._BodyView,
        params=(CACHE_HEADER,),
        headers=CACHE_ANSWER_HEADERS,
        example={"model": "auto", "messages": _HELLO},
    ),
    Operation(
        "/v1/embeddings",
        "post",
        "OpenAI Embeddings, through the exact cache",
        "openai",
        "openai",
        {JSON: EmbeddingResponse},
        (*BODY, 404, *AUTH, *LIMITED, *UPSTREAM),
        body=_EmbeddingsView,
        example={"model": "all-MiniLM-L6-v2", "input": ["How do I reset my password?"]},
    ),
    Operation(
        "/v1/responses",
        "post",
        "OpenAI Responses (whole, or streamed when `stream` is true)",
        "openai",
        "openai",
        {JSON: RESPONSE_OBJECT, SSE: None},
        (*BODY, 404, *AUTH, *LIMITED, *UPSTREAM),
        body=RESPONSES_REQUEST,
        params=(CACHE_HEADER,),
        headers=CACHE_ANSWER_HEADERS,
        example={"model": "auto", "input": "How do I reset my password?"},
    ),
    Operation(
        "/v1/responses/{response_id}",
        "get",
        "A stored response",
        "openai",
        "openai",
        {JSON: RESPONSE_OBJECT},
        (404, *AUTH),
    ),
    Operation(
        "/v1/responses/{response_id}",
        "delete",
        "Delete a stored response",
        "openai",
        "openai",
        {JSON: DELETED},
        (404, *AUTH),
    ),
    Operation(
        "/v1/responses/{response_id}/input_items",
        "get",
        "The input items of a stored response",
        "openai",
        "openai",
        {JSON: LIST_OF_INPUT_ITEMS},
        (400, 404, *AUTH),
        params=(
            Param("order", "query", {"enum": ["asc", "desc"], "default": "desc"}),
            Param("limit", "query", _LIMIT_100),
            Param("after", "query", _TEXT),
        ),
    ),
    Operation("/v1/models", "get", "The models served", "openai", "openai", {JSON: ModelList}),
    Operation(
        "/v1/models/{model}", "get", "One model", "openai", "openai", {JSON: ModelCard}, (404,)
    ),
    Operation(
        "/v1/files",
        "post",
        "Upload a batch input file (JSONL)",
        "batch",
        "openai",
        {JSON: FileObject},
        (*BODY, *BATCH_LANE, *AUTH, *LIMITED),
        body=FILE_UPLOAD,
        body_media="multipart/form-data",
    ),
    Operation(
        "/v1/files/{file_id}",
        "get",
        "A file's object",
        "batch",
        "openai",
        {JSON: FileObject},
        (*BATCH_LANE, *AUTH, *LIMITED),
    ),
    Operation(
        "/v1/files/{file_id}/content",
        "get",
        "A file's bytes",
        "batch",
        "openai",
        {"application/octet-stream": None},
        (*BATCH_LANE, *AUTH, *LIMITED),
    ),
    Operation(
        "/v1/batches",
        "post",
        "Create a batch over an uploaded file",
        "batch",
        "openai",
        {JSON: BatchObject},
        (*BODY, *BATCH_LANE, *AUTH, *LIMITED, 503),
        body=BatchCreate,
        example={"input_file_id": "file-abc", "endpoint": "/v1/chat/completions"},
    ),
    Operation(
        "/v1/batches",
        "get",
        "The caller's batches, newest first",
        "batch",
        "openai",
        {JSON: LIST_OF_BATCHES},
        (400, *BATCH_LANE, *AUTH, *LIMITED),
        params=(Param("limit", "query", _LIMIT_100), Param("after", "query", _TEXT)),
    ),
    Operation(
        "/v1/batches/{batch_id}",
        "get",
        "One batch",
        "batch",
        "openai",
        {JSON: BatchObject},
        (*BATCH_LANE, *AUTH, *LIMITED),
    ),
    Operation(
        "/v1/batches/{batch_id}/cancel",
        "post",
        "Cancel a batch",
        "batch",
        "openai",
        {JSON: BatchObject},
        (*BATCH_LANE, 409, *AUTH, *LIMITED),
    ),
    # --- Anthropic's wire
    Operation(
        "/v1/messages",
        "post",
        "Anthropic Messages (whole, or streamed when `stream` is true)",
        "anthropic",
        "anthropic",
        {JSON: AnthropicMessage, SSE: None},
        (*BODY, 404, *AUTH, *LIMITED, *UPSTREAM),
        body=messages_request._BodyView,
        params=(CACHE_HEADER,),
        headers=CACHE_ANSWER_HEADERS,
        example={"model": "auto", "max_tokens": 256, "messages": _HELLO},
    ),
    Operation(
        "/v1/messages/count_tokens",
        "post",
        "Count a Messages request's input tokens",
        "anthropic",
        "anthropic",
        {JSON: InputTokens},
        (*BODY, 404, *AUTH, *LIMITED, *UPSTREAM),
        body=messages_request._BodyView,
        example={"model": "auto", "messages": _HELLO},
    ),
    Operation(
        "/v1/messages/batches",
        "post",
        "Create a message batch",
        "batch",
        "anthropic",
        {JSON: MESSAGE_BATCH},
        (*BODY, *BATCH_LANE, *AUTH, *LIMITED, 503),
        body=MESSAGE_BATCH_CREATE,
        example={
            "requests": [
                {
                    "custom_id": "q1",
                    "params": {"model": "auto", "max_tokens": 64, "messages": _HELLO},
                }
            ]
        },
    ),
    Operation(
        "/v1/messages/batches",
        "get",
        "The caller's message batches, newest first",
        "batch",
        "anthropic",
        {JSON: MESSAGE_BATCH_LIST},
        (400, *BATCH_LANE, *AUTH, *LIMITED),
        params=(
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("after_id", "query", _TEXT),
        ),
    ),
    Operation(
        "/v1/messages/batches/{batch_id}",
        "get",
        "One message batch",
        "batch",
        "anthropic",
        {JSON: MESSAGE_BATCH},
        (*BATCH_LANE, *AUTH, *LIMITED),
    ),
    Operation(
        "/v1/messages/batches/{batch_id}/cancel",
        "post",
        "Cancel a message batch",
        "batch",
        "anthropic",
        {JSON: MESSAGE_BATCH},
        (*BATCH_LANE, 409, *AUTH, *LIMITED),
    ),
    Operation(
        "/v1/messages/batches/{batch_id}/results",
        "get",
        "A message batch's results (JSONL)",
        "batch",
        "anthropic",
        {"application/binary": None},
        (*BATCH_LANE, 409, *AUTH, *LIMITED),
    ),
)
