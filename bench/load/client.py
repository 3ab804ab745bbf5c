"""One request of a load run over HTTP, on any of the gateway's three chat endpoints.

`Client.send` waits for the previous turn of its session, sends the request, reads the
answer (whole, or as it streams) and returns a `LoadRecord`. Only the fields the report needs
are decoded, leniently. Failures never raise: they become records with an ``error_code``.
Also here: ``GET /stats`` and ``GET /v1/models``, read before and after a run.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import anyio
import msgspec

from agent.errors import ProtocolError
from agent.sse import iter_sse_events
from agent.types import Usage
from bench.load.report import LoadRecord, StatsFigures
from bench.load.workload import WorkloadItem
from metrics.request_record import fault_of
from metrics.savings import SavedSplit

Endpoint = Literal["chat", "stream", "openai"]


@dataclass
class Turn:
    """Request ``index`` of the run: a workload item and the session key it is sent under."""

    index: int
    item: WorkloadItem
    session: str | None
    after: anyio.Event | None  # set when the previous turn of the same session finished
    done: anyio.Event = field(default_factory=anyio.Event)


@asynccontextmanager
async def http_session(connections: int) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session with a pool of ``connections`` (timeouts are set per request)."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:
        yield session


# -- the wire: only the fields the report needs, decoded leniently ---------------------------


class _ErrorDetail(msgspec.Struct):
    code: str
    message: str = ""


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail


class _Route(msgspec.Struct):
    tier: str


class _ChatAnswer(msgspec.Struct):
    """``POST /chat``'s body and ``/chat/stream``'s ``done`` event share these fields."""

    model: str
    usage: Usage
    cost_usd_micros: int
    saved_usd_micros: int
    used_fallback: bool
    cost_known: bool = True
    route: _Route | None = None
    cache: str | None = None


class _Meta(msgspec.Struct):
    model: str
    route: _Route
    cache: str | None = None


class _OpenAIDetails(msgspec.Struct):
    cached_tokens: int = 0


class _OpenAIUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _OpenAIDetails | None = None

    def usage(self) -> Usage:
        cached = self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else 0
        return Usage(
            prompt=self.prompt_tokens, cached_prompt=cached, completion=self.completion_tokens
        )


class _FrugalInfo(msgspec.Struct):
    cost_usd_micros: int
    saved_usd_micros: int
    cache: str
    route: str
    cost_known: bool = True


class _Content(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Content | None = None
    delta: _Content | None = None


class _Completion(msgspec.Struct):
    """A ``chat.completion``, a ``chat.completion.chunk`` or a mid-stream error line."""

    model: str = ""
    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: _OpenAIUsage | None = None
    frugal: _FrugalInfo | None = None
    error: _ErrorDetail | None = None


class _Stats(msgspec.Struct):
    calls: int
    cost_usd_micros: int
    fallbacks: int = 0
    saved: SavedSplit = SavedSplit()


class _ModelCard(msgspec.Struct):
    id: str


class _ModelList(msgspec.Struct):
    data: list[_ModelCard]


_encoder = msgspec.json.Encoder()
_errors = msgspec.json.Decoder(_ErrorBody)
_error_event = msgspec.json.Decoder(_ErrorDetail)
_chat_answer = msgspec.json.Decoder(_ChatAnswer)
_meta = msgspec.json.Decoder(_Meta)
_completion = msgspec.json.Decoder(_Completion)
_frugal_comment = msgspec.json.Decoder(_FrugalInfo)
_stats = msgspec.json.Decoder(_Stats)
_models = msgspec.json.Decoder(_ModelList)


@dataclass
class _Answer:
    """What one response said, filled in as it arrives."""

    status: int = 0
    error_code: str | None = None
    fault: str | None = None
    first_token: float | None = None
    cache: str | None = None
    tier: str | None = None
    model: str | None = None
    used_fallback: bool | None = None
    cost_usd_micros: int = 0
    cost_known: bool = True
    saved_usd_micros: int = 0
    usage: Usage = field(default_factory=Usage)
    text: list[str] = field(default_factory=list)

    def fail(self, code: str, fault: str | None = None) -> _Answer:
        self.error_code, self.fault = code, fault or fault_of(code)
        return self

    def accounted(self, body: _ChatAnswer | _FrugalInfo) -> None:
        self.cost_usd_micros, self.cost_known = body.cost_usd_micros, body.cost_known
        self.saved_usd_micros = body.saved_usd_micros


def _failed_status(status: int, raw: bytes) -> _Answer:
    answer = _Answer(status=status)
    try:
        return answer.fail(_errors.decode(raw).error.code)
    except msgspec.DecodeError:  # not the gateway's error shape (a proxy in between?)
        return answer.fail(f"http_{status}", "frugal" if status >= 500 else "caller")


class Client:
    """Sends turns to ``endpoint`` and turns each response into a `LoadRecord`.

    Times are `time.perf_counter` values (the event loop clock may tick in whole
    milliseconds, e.g. uvloop); ``t0`` is the run's start. With ``open_loop`` latency counts
    from the scheduled time (or, for a session turn that had to wait for the previous answer,
    from when it went out), otherwise from the moment the request went out.
    On ``openai`` a session's earlier turns are sent back as ``messages`` (that endpoint is
    stateless); on ``chat``/``stream`` they travel as ``session_id``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        endpoint: Endpoint,
        t0: float,
        open_loop: bool = False,
        openai_stream: bool = False,
        request_timeout_s: float = 60.0,
        api_key: str | None = None,
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._t0 = t0
        self._open_loop = open_loop
        self._openai_stream = openai_stream
        self._timeout_s = request_timeout_s
        self._url = base_url.rstrip("/")
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._history: dict[str, list[dict[str, str]]] = {}

    async def send(self, turn: Turn, scheduled: float) -> LoadRecord:
        """Send ``turn`` (due at ``scheduled``) once its session's previous turn is done."""
        try:
            waited = turn.after is not None and not turn.after.is_set()
            if turn.after is not None:
                await turn.after.wait()
            sent = time.perf_counter()
            try:
                with anyio.fail_after(self._timeout_s):
                    answer = await self._call(turn)
            except TimeoutError:
                answer = _Answer().fail("client_timeout", "client")
            except (aiohttp.ClientError, OSError):
                answer = _Answer().fail("connection_error", "client")
            except (msgspec.DecodeError, ProtocolError):
                answer = _Answer(status=200).fail("bad_response", "frugal")
        finally:
            turn.done.set()
        finished = time.perf_counter()
        # A session turn cannot go out before the previous answer: its clock starts then.
        origin = scheduled if self._open_loop and not waited else sent
        item = turn.item
        return LoadRecord(
            index=turn.index,
            item_id=item.id,
            message=item.message,
            kind=item.kind,
            group=item.group,
            session=turn.session,
            user_id=item.user_id,
            expect_cache=item.expect_cache,
            scheduled_s=scheduled - self._t0,
            sent_s=sent - self._t0,
            finished_s=finished - self._t0,
            status=answer.status,
            error_code=answer.error_code,
            fault=answer.fault,
            latency_ms=(finished - origin) * 1000,
            ttft_ms=None if answer.first_token is None else (answer.first_token - origin) * 1000,
            cache=answer.cache,
            tier=answer.tier,
            model=answer.model,
            used_fallback=answer.used_fallback,
            cost_usd_micros=answer.cost_usd_micros,
            cost_known=answer.cost_known,
            saved_usd_micros=answer.saved_usd_micros,
            usage=answer.usage,
        )

    async def _call(self, turn: Turn) -> _Answer:
        match self._endpoint:
            case "chat":
                return await self._chat(turn)
            case "stream":
                return await self._chat_stream(turn)
            case "openai":
                return await self._openai(turn)

    def _chat_fields(self, turn: Turn) -> dict[str, str]:
        fields = {"message": turn.item.message}
        if turn.session is not None:
            fields["session_id"] = turn.session
        if turn.item.user_id is not None:
            fields["user_id"] = turn.item.user_id
        return fields

    async def _chat(self, turn: Turn) -> _Answer:
        body = _encoder.encode(self._chat_fields(turn))
        url = f"{self._url}/chat"
        async with self._session.post(url, data=body, headers=self._headers) as response:
            raw = await response.read()
        if response.status != 200:
            return _failed_status(response.status, raw)
        chat = _chat_answer.decode(raw)
        answer = _Answer(status=200, cache=chat.cache, model=chat.model, usage=chat.usage)
        answer.tier = chat.route.tier if chat.route else None
        answer.used_fallback = chat.used_fallback
        answer.accounted(chat)
        return answer

    async def _chat_stream(self, turn: Turn) -> _Answer:
        url, params = f"{self._url}/chat/stream", self._chat_fields(turn)
        async with self._session.get(url, params=params, headers=self._headers) as response:
            if response.status != 200:
                return _failed_status(response.status, await response.read())
            answer = _Answer(status=200)
            async for event in iter_sse_events(response, provider="frugal"):
                if event.event == "meta":
                    meta = _meta.decode(event.data)
                    answer.model, answer.tier, answer.cache = (
                        meta.model,
                        meta.route.tier,
                        meta.cache,
                    )
                elif event.event == "token" and answer.first_token is None:
                    answer.first_token = time.perf_counter()
                elif event.event == "done":
                    done = _chat_answer.decode(event.data)
                    answer.model, answer.usage = done.model, done.usage
                    answer.used_fallback = done.used_fallback
                    answer.accounted(done)
                    return answer
                elif event.event == "error":
                    return answer.fail(_error_event.decode(event.data).code)
        return answer.fail("stream_truncated", "frugal")

    async def _openai(self, turn: Turn) -> _Answer:
        stream = self._openai_stream
        history = self._history.get(turn.session or "", []) if turn.session else []
        messages = [*history, {"role": "user", "content": turn.item.message}]
        # temperature 0: deterministic answers are the ones the gateway may cache.
        body: dict[str, object] = {
            "model": "auto",
            "messages": messages,
            "stream": stream,
            "temperature": 0,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if turn.item.user_id is not None:
            body["user"] = turn.item.user_id
        url = f"{self._url}/v1/chat/completions"
        async with self._session.post(
            url, data=_encoder.encode(body), headers=self._headers
        ) as response:
            if response.status != 200:
                return _failed_status(response.status, await response.read())
            answer = _Answer(status=200)
            if stream:
                ended = await self._read_chunks(response, answer)
            else:
                _take_completion(_completion.decode(await response.read()), answer)
                ended = True
        if not ended:
            return answer.fail("stream_truncated", "frugal")
        if answer.error_code is None and turn.session is not None:
            reply = {"role": "assistant", "content": "".join(answer.text)}
            self._history[turn.session] = [*messages, reply]
        return answer

    async def _read_chunks(self, response: aiohttp.ClientResponse, answer: _Answer) -> bool:
        async for event in iter_sse_events(response, provider="frugal", comments=True):
            if event.data == "[DONE]":
                return True
            if event.event == "comment":
                if event.data.startswith("frugal "):
                    info = _frugal_comment.decode(event.data.removeprefix("frugal "))
                    _take_completion(_Completion(frugal=info), answer)
                continue
            chunk = _completion.decode(event.data)
            if chunk.error is not None:
                answer.fail(chunk.error.code)
                return True
            if answer.first_token is None and any(
                c.delta and c.delta.content for c in chunk.choices
            ):
                answer.first_token = time.perf_counter()
            _take_completion(chunk, answer)
        return False


def _take_completion(body: _Completion, answer: _Answer) -> None:
    answer.model = body.model or answer.model
    for choice in body.choices:
        part = choice.message or choice.delta
        if part is not None and part.content:
            answer.text.append(part.content)
    if body.usage is not None:
        answer.usage = body.usage.usage()
    if body.frugal is not None:
        answer.cache = None if body.frugal.cache == "miss" else body.frugal.cache
        answer.tier = body.frugal.route
        answer.accounted(body.frugal)


async def fetch_stats(
    session: aiohttp.ClientSession, base_url: str, api_key: str | None = None
) -> tuple[StatsFigures, int] | None:
    """``GET /stats``: calls, cost and savings by mechanism (and fallbacks, apart), or None
    when unavailable."""
    body = await _get(session, f"{base_url.rstrip('/')}/stats", api_key)
    try:
        stats = None if body is None else _stats.decode(body)
    except msgspec.DecodeError:
        return None
    return (
        None
        if stats is None
        else (StatsFigures(stats.calls, stats.cost_usd_micros, stats.saved), stats.fallbacks)
    )


async def fetch_models(
    session: aiohttp.ClientSession, base_url: str, api_key: str | None = None
) -> list[str]:
    """``GET /v1/models``: ``auto``, cheap, strong, fallback in that order (duplicates
    dropped); empty when unavailable."""
    body = await _get(session, f"{base_url.rstrip('/')}/v1/models", api_key)
    try:
        return [] if body is None else [card.id for card in _models.decode(body).data]
    except msgspec.DecodeError:
        return []


async def _get(session: aiohttp.ClientSession, url: str, api_key: str | None) -> bytes | None:
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with anyio.fail_after(10):
            async with session.get(url, headers=headers) as response:
                body = await response.read()
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None
    return body if response.status == 200 else None
