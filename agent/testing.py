"""In-memory fakes for the agent seams, shipped with the package like httpx's ``MockTransport``.

`ScriptedClient` is an `LLMClient` that plays a script of outcomes, one per call, and records
every call (kind, request, start time, how it ended) so tests can assert ordering, retry counts
and spacing. `ManualClock` is a clock that moves only when told to (or slept on).
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeAlias

import anyio
import anyio.lowlevel

from agent.types import LLMRequest, LLMResponse, StreamChunk, Usage


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait ``seconds`` of real (cancellable) time, then play ``then``."""

    seconds: float
    then: Outcome = "ok"


@dataclass(frozen=True, slots=True)
class Chunks:
    """A stream: yield ``texts`` one by one, ``gap_s`` apart, then raise ``error`` if set.

    Without an error the stream ends with a usage chunk. `generate` joins the texts (and
    raises ``error`` if set).
    """

    texts: tuple[str, ...]
    error: BaseException | None = None
    gap_s: float = 0.0


# A plain string is the answer text; an exception instance is raised (a fresh copy per call).
Outcome: TypeAlias = "str | LLMResponse | BaseException | Delay | Chunks"

Ending = Literal["pending", "answered", "raised", "cancelled", "closed"]


@dataclass(slots=True)
class ScriptedCall:
    """One recorded call; ``ended`` is updated when the call finishes."""

    kind: Literal["generate", "stream"]
    request: LLMRequest
    started_at: float
    ended: Ending = "pending"


class ScriptedClient:
    """An `LLMClient` answering from a script: the n-th call plays the n-th outcome.

    When the script runs out, ``default`` is played; without one the call fails with an
    ``AssertionError`` (a test bug, deliberately not a `ProviderError`, so nothing retries it).
    Usage is a rough word count marked ``estimated``; responses are marked ``simulated``.
    """

    def __init__(
        self,
        name: str,
        script: Iterable[Outcome] = (),
        *,
        default: Outcome | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._script: deque[Outcome] = deque(script)
        self._default = default
        self._clock = clock
        self.calls: list[ScriptedCall] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def call_times(self) -> list[float]:
        """Start time of each call on this client's clock, in call order."""
        return [call.started_at for call in self.calls]

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Play the next outcome as a whole answer."""
        call = self._record("generate", request)
        try:
            outcome = await self._settle(self._next_outcome())
            if isinstance(outcome, LLMResponse):
                response = outcome
            else:
                if isinstance(outcome, Chunks):
                    if outcome.error is not None:
                        raise _fresh(outcome.error)
                    text = "".join(outcome.texts)
                else:
                    text = outcome
                response = LLMResponse(
                    text=text,
                    model=request.model,
                    usage=_usage(request, text),
                    provider=self._name,
                    simulated=True,
                )
        except BaseException as exc:
            call.ended = _ending(exc)
            raise
        call.ended = "answered"
        return response

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        """Play the next outcome as a stream of chunks, ending with a usage chunk."""
        call = self._record("stream", request)
        try:
            outcome = await self._settle(self._next_outcome())
            if isinstance(outcome, Chunks):
                chunks = outcome
            else:
                text = outcome.text if isinstance(outcome, LLMResponse) else outcome
                chunks = Chunks(tuple(_split_words(text)))
            last = len(chunks.texts) - 1
            for index, piece in enumerate(chunks.texts):
                if index and chunks.gap_s:
                    await anyio.sleep(chunks.gap_s)
                finish = "stop" if index == last and chunks.error is None else None
                yield StreamChunk(
                    text=piece, model=request.model, finish_reason=finish, simulated=True
                )
            if chunks.error is not None:
                raise _fresh(chunks.error)
            usage = _usage(request, "".join(chunks.texts))
            yield StreamChunk(model=request.model, usage=usage, simulated=True)
        except BaseException as exc:
            call.ended = _ending(exc)
            raise
        call.ended = "answered"

    def _record(self, kind: Literal["generate", "stream"], request: LLMRequest) -> ScriptedCall:
        call = ScriptedCall(kind=kind, request=request, started_at=self._clock())
        self.calls.append(call)
        return call

    def _next_outcome(self) -> Outcome:
        if self._script:
            return self._script.popleft()
        if self._default is not None:
            return self._default
        raise AssertionError(f"{self._name}: script exhausted at call {len(self.calls)}")

    @staticmethod
    async def _settle(outcome: Outcome) -> str | LLMResponse | Chunks:
        while isinstance(outcome, Delay):
            await anyio.sleep(outcome.seconds)
            outcome = outcome.then
        if isinstance(outcome, BaseException):
            raise _fresh(outcome)
        return outcome


class ManualClock:
    """A monotonic clock that moves only when told to; `sleep` records and advances it.

    Pass the instance as ``clock`` and its ``sleep`` as ``sleep`` to code under test.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()


def _fresh(exc: BaseException) -> BaseException:
    # Raising one instance on every call would pile up tracebacks, notes and causes.
    try:
        return copy.copy(exc)
    except TypeError:
        return exc


def _ending(exc: BaseException) -> Ending:
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    if isinstance(exc, GeneratorExit):
        return "closed"
    return "raised"


def _split_words(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(" " + word for word in words[1:])] if text else []


def _usage(request: LLMRequest, answer: str) -> Usage:
    prompt_texts = [message.content for message in request.messages]
    if request.system:
        prompt_texts.append(request.system)
    prompt = sum(len(text.split()) for text in prompt_texts)
    return Usage(prompt=prompt, completion=len(answer.split()), estimated=True)
