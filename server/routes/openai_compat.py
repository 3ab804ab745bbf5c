"""``POST /v1/chat/completions`` and ``GET /v1/models``: the OpenAI-compatible face.

Official SDKs work unchanged against it (``base_url=<gateway>/v1``). The request maps onto one
`ChatRequest`; answers come back in OpenAI's shapes with the gateway's accounting in response
headers (``x-frugal-cache``, ``x-frugal-route``, ``x-frugal-cost-usd-micros``, ``x-request-id``)
and in a ``frugal`` extension object. A request header ``x-frugal-cache: no-cache|no-store``
sets the cache directive. Streams send their headers after the pipeline's first event, so
cache and route are known; the cost is not yet, so it rides on the last chunk instead.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, cast, get_args

from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from agent.pipeline import ChatRequest, ChatResponse, Done, Error, Meta, Token
from agent.pipeline.request import AUTO_MODEL
from agent.types import Message
from cache.prompt_cache import CacheMode
from server.accounting import answered_record
from server.auth import DEFAULT_TENANT, Caller
from server.errors import STATUS_BY_CODE, APIError, error_for_exception
from server.openai_compat_wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    CompletionRequest,
    CompletionUsage,
    Delta,
    ErrorDetail,
    ErrorEnvelope,
    FrugalInfo,
    ModelCard,
    ModelList,
    encoder,
    error_type,
    request_decoder,
)
from server.pipeline_stream import PipelineEvents, PipelineStreamResponse, start_stream
from server.providers import provider_for_model
from server.routes.admission import account_failure, admit, elapsed_ms, identify
from server.routes.body import decode_body, read_limited_body
from server.routes.stream import stream_accounting

if TYPE_CHECKING:
    from server.app import AppState

log = logging.getLogger("frugal.server")

ENDPOINT = "chat_completions"
CACHE_HEADER = "x-frugal-cache"
SYSTEM_FINGERPRINT = "frugal"
_DONE_LINE = b"data: [DONE]\n\n"
# msgspec names the failing field at the end of its message: "... - at `$.messages[0].role`"
_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
# Retrying these cannot help, so tell the SDKs (which retry every 5xx) not to.
_NO_RETRY_CODES = frozenset({"budget_exceeded", "upstream_auth"})


class ParamError(APIError):
    """An `APIError` about one request field, named in the error body's ``param``."""

    def __init__(self, code: str, message: str, *, param: str | None) -> None:
        super().__init__(code, message)
        self.param = param


async def chat_completions(request: Request) -> Response:
    """Answer one chat completion, whole or as a server-sent event stream."""
    state = request.app.state.frugal
    started = time.perf_counter()
    caller = None
    try:
        caller = identify(state, request)
        raw = await read_limited_body(request, state.settings.server.max_body_bytes)
        body = _decode(raw)
        chat = to_chat_request(
            body, cache=request.headers.get(CACHE_HEADER, "default"), tenant=caller.tenant
        )
        limit_headers = await admit(state, caller, chat)
        if body.stream:
            include_usage = body.stream_options is not None and body.stream_options.include_usage
            return await _start_stream(
                state, chat, caller, started, include_usage=include_usage, headers=limit_headers
            )
        result = await state.components.agent.answer(chat)
    except Exception as exc:  # every failure becomes the JSON error the table maps it to
        await account_failure(state, ENDPOINT, caller, exc, started)
        return openai_error_response(exc)
    record = answered_record(ENDPOINT, caller, result, latency_ms=elapsed_ms(started))
    await state.components.cost.accounting.finish(record, caller)
    return Response(
        encoder.encode(completion_body(result)),
        media_type="application/json",
        headers={
            CACHE_HEADER: result.cache or "miss",
            "x-frugal-route": result.route.tier,
            "x-frugal-cost-usd-micros": str(result.cost_usd_micros),
            "x-request-id": result.request_id,
            **limit_headers,
        },
    )


async def list_models(request: Request) -> Response:
    """``auto`` plus the cheap, strong and fallback models, in OpenAI's list shape."""
    settings = request.app.state.frugal.settings
    m = settings.models
    cards = [ModelCard("auto", owned_by="frugal")]
    for name in dict.fromkeys((m.cheap, m.strong, m.fallback)):
        cards.append(ModelCard(name, owned_by=provider_for_model(settings, name) or "unknown"))
    return Response(encoder.encode(ModelList(cards)), media_type="application/json")


def to_chat_request(
    body: CompletionRequest, *, cache: str, tenant: str = DEFAULT_TENANT
) -> ChatRequest:
    """The pipeline request for ``body``; `ParamError` for what the gateway cannot honour."""
    if body.n not in (None, 1):
        raise ParamError("invalid_request", "only n=1 is supported", param="n")
    neutral = (
        ("top_p", body.top_p, 1.0),
        ("presence_penalty", body.presence_penalty, 0.0),
        ("frequency_penalty", body.frequency_penalty, 0.0),
    )
    for name, value, accepted in neutral:
        if value is not None and value != accepted:
            raise ParamError(
                "invalid_request", f"{name} must be {accepted:g} or absent", param=name
            )
    if body.logprobs:
        raise ParamError("invalid_request", "logprobs are not supported", param="logprobs")
    max_tokens = body.max_completion_tokens
    if max_tokens is None:
        max_tokens = body.max_tokens
    elif body.max_tokens is not None and body.max_tokens != max_tokens:
        raise ParamError(
            "invalid_request",
            "max_tokens and max_completion_tokens disagree; send one of them",
            param="max_completion_tokens",
        )
    if cache not in get_args(CacheMode):
        modes = ", ".join(get_args(CacheMode))
        raise APIError("bad_cache_mode", f"{CACHE_HEADER} must be one of {modes}")
    messages = tuple(
        Message("system" if m.role == "developer" else m.role, m.text()) for m in body.messages
    )
    return ChatRequest(
        messages=messages,
        model=body.model,
        temperature=0.0 if body.temperature is None else body.temperature,
        max_tokens=max_tokens,
        user_id=body.user or None,
        tenant=tenant,
        # A concrete model is a passthrough: the caller brought its own context, so no
        # knowledge-base search (an embedding per request) or account lookups are added.
        use_tools=body.model == AUTO_MODEL,
        cache=cast(CacheMode, cache),  # checked against CacheMode above
        stream=body.stream,
    )


def completion_body(result: ChatResponse) -> ChatCompletion:
    """The ``chat.completion`` object for a whole answer."""
    return ChatCompletion(
        id=f"chatcmpl-{result.request_id}",
        created=int(time.time()),
        model=result.model,
        choices=[Choice(AssistantMessage(result.answer), finish_reason=result.finish_reason)],
        usage=CompletionUsage.of(result.usage),
        frugal=FrugalInfo(
            cost_usd_micros=result.cost_usd_micros,
            cost_known=result.cost_known,
            saved_usd_micros=result.saved_usd_micros,
            cache=result.cache or "miss",
            route=result.route.tier,
            request_id=result.request_id,
        ),
        system_fingerprint=SYSTEM_FINGERPRINT,
    )


def openai_error_response(exc: BaseException) -> Response:
    """The gateway's JSON error (status from `STATUS_BY_CODE`) with OpenAI's ``type`` and
    ``param`` added, which the SDKs surface as ``err.type`` / ``err.param``."""
    code, message, headers = error_for_exception(exc)
    if code == "internal_error":
        log.error("unhandled error in /v1/chat/completions", exc_info=exc)
    status = STATUS_BY_CODE.get(code, 500)
    if code in _NO_RETRY_CODES:
        headers = {**headers, "x-should-retry": "false"}
    detail = ErrorDetail(code, message, error_type(status), getattr(exc, "param", None))
    return Response(
        encoder.encode(ErrorEnvelope(detail)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


# -- streaming ------------------------------------------------------------------------------


async def _start_stream(
    state: AppState,
    chat: ChatRequest,
    caller: Caller,
    started: float,
    *,
    include_usage: bool,
    headers: dict[str, str],
) -> Response:
    first, events, outcome = await start_stream(state.components.agent, chat)
    chunks = _ChunkMaker(first, include_usage=include_usage)
    account = stream_accounting(state, ENDPOINT, caller, first, outcome, started)
    return PipelineStreamResponse(
        _sse_body(chunks, events, account),
        events=events,
        outcome=outcome,
        request_id=first.request_id,
        label="chat.completions stream",
        headers={
            CACHE_HEADER: first.cache or "miss",
            "x-frugal-route": first.route.tier,
            **headers,
        },
        heartbeat_s=state.settings.server.sse_heartbeat_s,
        on_close=account,
    )


class _ChunkMaker:
    """Builds the ``chat.completion.chunk`` lines of one stream (same id and time on each)."""

    def __init__(self, meta: Meta, *, include_usage: bool) -> None:
        self.meta = meta
        # The routed model until the first token names the one answering (after a fallback).
        self.model = meta.model
        self.id = f"chatcmpl-{meta.request_id}"
        self.created = int(time.time())
        self.include_usage = include_usage

    def line(
        self,
        model: str,
        choices: list[ChunkChoice],
        *,
        usage: CompletionUsage | None = None,
        frugal: FrugalInfo | UnsetType = UNSET,
    ) -> bytes:
        chunk = ChatCompletionChunk(
            id=self.id,
            created=self.created,
            model=model,
            choices=choices,
            system_fingerprint=SYSTEM_FINGERPRINT,
            usage=usage if self.include_usage else UNSET,
            frugal=frugal,
        )
        return _data_line(encoder.encode(chunk))

    def role(self) -> bytes:
        return self.line(self.model, [ChunkChoice(Delta(role="assistant", content=""))])

    def text(self, token: Token) -> bytes:
        self.model = token.model or self.model
        return self.line(self.model, [ChunkChoice(Delta(content=token.text))])

    def finish(self, done: Done) -> list[bytes]:
        info = FrugalInfo(
            cost_usd_micros=done.cost_usd_micros,
            cost_known=done.cost_known,
            saved_usd_micros=done.saved_usd_micros,
            cache=self.meta.cache or "miss",
            route=self.meta.route.tier,
            request_id=done.request_id,
        )
        stop = [ChunkChoice(Delta(), finish_reason=done.finish_reason)]
        if not self.include_usage:
            return [self.line(done.model, stop, frugal=info)]
        return [
            self.line(done.model, stop),
            self.line(done.model, [], usage=CompletionUsage.of(done.usage), frugal=info),
        ]


async def _sse_body(
    chunks: _ChunkMaker,
    events: PipelineEvents,
    account: Callable[[], Awaitable[None]],
) -> AsyncGenerator[bytes, None]:
    # Data-only events as OpenAI sends them; a failure after the headers went out becomes
    # a `data: {"error": ...}` line (the SDKs raise APIError on it) and ends the stream.
    async with aclosing(events):
        yield chunks.role()
        try:
            async for event in events:
                match event:
                    case Token():
                        yield chunks.text(event)
                    case Done():
                        await account()  # before the client can see the end
                        for line in chunks.finish(event):
                            yield line
                        yield _DONE_LINE
                        return
                    case Error(code=code, message=message):
                        await account()
                        yield _error_line(code, message)
                        return
                    case Meta():
                        pass
        except Exception as exc:  # a bug below us: tell the client, log the traceback
            log.error("stream %s failed", chunks.meta.request_id, exc_info=exc)
            yield _error_line("internal_error", "internal error; see the server log")


def _error_line(code: str, message: str) -> bytes:
    status = STATUS_BY_CODE.get(code, 500)
    return _data_line(encoder.encode(ErrorEnvelope(ErrorDetail(code, message, error_type(status)))))


def _data_line(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def _decode(raw: bytes) -> CompletionRequest:
    try:
        return decode_body(raw, request_decoder)
    except APIError as exc:
        path = _PATH.search(exc.message)
        unknown = _UNKNOWN.match(exc.message)
        parts = (path.group("path") if path else "", unknown.group("field") if unknown else "")
        param = ".".join(p for p in parts if p) or None
        message = exc.message
        if param is not None and param.endswith(".type") and ".content[" in param:
            message = f"only text content parts are supported: {exc.message}"
        raise ParamError(exc.code, message, param=param) from exc
