"""The simulator's mutable state: counters, the fault RNG, and the prompt-cache memory."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Literal

import msgspec
from aiohttp import web

from simulator.config import SimConfig
from simulator.faults import ModelFaults, forced_fault, peek
from simulator.produced import ProducedTally
from simulator.prompt_cache import PromptMemory

StreamOutcome = Literal["completed", "cancelled", "aborted"]
# Keep the most recent streams for inspection; older ones only survive in the totals.
_MAX_STREAM_RECORDS = 1000
# The most recent raw requests kept for tests asserting what the provider received.
MAX_RECEIVED_REQUESTS = 50


class StreamRecord(msgspec.Struct):
    """One streamed response: how many tokens were planned and how many actually went out."""

    endpoint: str
    model: str
    planned_tokens: int
    sent_tokens: int = 0
    outcome: StreamOutcome | None = None


class ReceivedRequest(msgspec.Struct, omit_defaults=True):
    """A request as the simulator received it: path, headers, the body as UTF-8 text.

    ``model`` is the body's model (None without one); ``received_at`` is `time.monotonic()`
    on arrival, so gaps between attempts (backoff, flapping) can be measured.
    """

    path: str
    headers: dict[str, str]
    body: str
    model: str | None
    received_at: float
    raw: bytes = msgspec.field(default=b"")

    def wire(self) -> ReceivedRequest:
        """The JSON-friendly copy served by ``GET /_sim/requests`` (no ``raw``)."""
        return ReceivedRequest(self.path, self.headers, self.body, self.model, self.received_at)


class SimStats(msgspec.Struct):
    """Everything `GET /_sim/stats` reports; `POST /_sim/reset` starts a fresh one.

    ``requests_by_model`` counts every received request naming a model (attempts included);
    ``faults`` counts the faults served by kind. ``completion_tokens`` counts tokens
    delivered (a cancelled stream counts only what it sent); ``streams_aborted`` are streams
    the simulator itself cut or left unterminated (fault injection).
    """

    requests: dict[str, int] = msgspec.field(default_factory=dict)
    requests_by_model: dict[str, int] = msgspec.field(default_factory=dict)
    faults: dict[str, int] = msgspec.field(default_factory=dict)
    responses_ok: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0
    streams_aborted: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0
    completion_tokens: int = 0
    embedding_inputs: int = 0
    streams: list[StreamRecord] = msgspec.field(default_factory=list)


class StreamTracker:
    """Counts one stream's sent tokens; on exit records completed, aborted or cancelled.

    Leaving the block without `complete()` or `abort()` (an exception, a cancellation, a
    write to a closed socket) means the client went away: the stream counts as cancelled.
    """

    def __init__(self, stats: SimStats, record: StreamRecord, history: deque[StreamRecord]):
        self._stats = stats
        self.record = record
        self._history = history

    def sent(self, tokens: int = 1) -> None:
        """Note ``tokens`` more tokens written to the client."""
        self.record.sent_tokens += tokens

    def complete(self) -> None:
        """The stream ended normally."""
        self.record.outcome = "completed"

    def abort(self) -> None:
        """The simulator cut the stream on purpose (fault injection)."""
        self.record.outcome = "aborted"

    def __enter__(self) -> StreamTracker:
        self._stats.streams_started += 1
        self._history.append(self.record)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.record.outcome is None:
            self.record.outcome = "cancelled"
        match self.record.outcome:
            case "completed":
                self._stats.streams_completed += 1
            case "aborted":
                self._stats.streams_aborted += 1
            case "cancelled":
                self._stats.streams_cancelled += 1
        self._stats.completion_tokens += self.record.sent_tokens


class SimState:
    """Shared by all handlers of one simulator app (single event loop, so no locks needed)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.prompt_memory = PromptMemory()
        self._rng = random.Random(config.seed)
        self._history: deque[StreamRecord] = deque(maxlen=_MAX_STREAM_RECORDS)
        self.stats = SimStats()
        self._received: deque[ReceivedRequest] = deque(maxlen=MAX_RECEIVED_REQUESTS)
        self.model_faults = ModelFaults(config.faults_by_model)
        self.produced = ProducedTally()

    def reset(self) -> None:
        """Zero the counters, forget cached prompts, requests and produced usage, reseed the
        fault RNG, and put the per-model faults back to the configured ones."""
        self.stats = SimStats()
        self.model_faults.reset()
        self._received.clear()
        self.produced.clear()
        self._history.clear()
        self.prompt_memory.clear()
        self._rng = random.Random(self.config.seed)

    def snapshot(self) -> SimStats:
        """The current counters, with the recent stream records filled in."""
        self.stats.streams = list(self._history)
        return self.stats

    def record_request(self, path: str, headers: Mapping[str, str], body: bytes) -> None:
        """Keep one received request (the last `MAX_RECEIVED_REQUESTS` are kept) and count
        it against its model."""
        text = body.decode("utf-8", errors="replace")
        model = peek(body).model
        if model is not None:
            self.stats.requests_by_model[model] = self.stats.requests_by_model.get(model, 0) + 1
        received = ReceivedRequest(path, dict(headers), text, model, time.monotonic(), body)
        self._received.append(received)

    def received(self) -> list[ReceivedRequest]:
        """The kept requests, oldest first; ``raw`` holds the exact body bytes."""
        return list(self._received)

    def received_requests(self) -> list[ReceivedRequest]:
        """The kept requests without ``raw``, for ``GET /_sim/requests``."""
        return [request.wire() for request in self._received]

    def count_request(self, endpoint: str) -> None:
        """Count one request to ``endpoint``."""
        self.stats.requests[endpoint] = self.stats.requests.get(endpoint, 0) + 1

    def pick_fault(self, headers: Mapping[str, str], model: str | None = None) -> str | None:
        """The fault for this request: ``x-sim-fault`` if given, else the one pinned on
        ``model``, else a draw by the rates. Not counted: see `count_fault`.

        Raises ValueError for an unknown ``x-sim-fault`` value.
        """
        fault = forced_fault(headers, self.model_faults.get(model))
        return fault if fault is not None else self._draw_fault()

    def count_fault(self, kind: str) -> None:
        """Count one fault of ``kind`` served."""
        self.stats.faults[kind] = self.stats.faults.get(kind, 0) + 1

    def track_stream(self, endpoint: str, model: str, planned_tokens: int) -> StreamTracker:
        """A context manager accounting for one stream."""
        record = StreamRecord(endpoint=endpoint, model=model, planned_tokens=planned_tokens)
        return StreamTracker(self.stats, record, self._history)

    def _draw_fault(self) -> str | None:
        rates = self.config.fault_rates()
        if not any(rates.values()):
            return None
        draw = self._rng.random()
        for kind, rate in rates.items():
            if draw < rate:
                return kind
            draw -= rate
        return None


SIM_STATE = web.AppKey("frugal_sim_state", SimState)
