"""`ConversationHistory`: the turns of each session in a `TTLStore`, compressed past N turns.

A turn is one message (user or assistant). When a session holds more than ``max_turns``, the
oldest turns (all but the latest ``keep_recent``) are folded into a running summary written by
the cheap model, so prompts stay short while the thread keeps its facts. The summary call's
usage is returned to the caller, which prices it and reports it with the request.

Two concurrent requests in one session both read the same history and the later write wins;
a chat client sends one turn at a time, so this is accepted rather than locked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import quote

import msgspec

from agent.base import LLMClient
from agent.errors import ProviderError
from agent.types import LLMRequest, Message, Usage
from cache.base import TTLStore
from cache.errors import CacheError
from cache.keys import ANONYMOUS_USER, HISTORY_PREFIX

_log = logging.getLogger(__name__)

SUMMARY_SYSTEM_PROMPT = (
    "Summarise this customer-support conversation for the assistant who continues it. Keep "
    "every fact the customer gave (names, order ids, account details, what was already tried) "
    "and every promise made. Plain sentences, at most 120 words."
)


class HistoryRecord(msgspec.Struct, frozen=True):
    """A session's stored state: a summary of the early turns and the latest turns verbatim."""

    messages: tuple[Message, ...] = ()
    summary: str | None = None
    summarized_turns: int = 0
    summarized_user_turns: int = 0


class Compaction(msgspec.Struct, frozen=True):
    """A summary call made while appending: which model, what it used, how many turns it folded."""

    model: str
    usage: Usage
    folded_turns: int


class ConversationHistory:
    """Loads and appends session turns; summarises with ``llm``/``summary_model`` when given.

    Without a summariser (or when the summary call fails) the early turns are dropped instead,
    so the stored history stays bounded either way. Store failures read as an empty history and
    skip the write: history is a convenience, never a reason to fail a request.
    """

    def __init__(
        self,
        store: TTLStore,
        *,
        max_turns: int = 20,
        keep_recent: int | None = None,
        ttl_s: float = 86_400.0,
        llm: LLMClient | None = None,
        summary_model: str | None = None,
        summary_max_tokens: int = 256,
    ) -> None:
        if max_turns < 2:
            raise ValueError("max_turns must be at least 2")
        keep = max_turns // 2 if keep_recent is None else keep_recent
        if not 0 < keep < max_turns:
            raise ValueError("keep_recent must be between 1 and max_turns - 1")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._store = store
        self.max_turns = max_turns
        self.keep_recent = keep
        self._ttl_s = ttl_s
        self._llm = llm
        self._summary_model = summary_model
        self._summary_max_tokens = summary_max_tokens
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(HistoryRecord)

    async def load(
        self, session_id: str, *, tenant: str = "default", user: str | None = None
    ) -> HistoryRecord:
        """The session's history; an empty record when unknown, expired, corrupt or unreachable.

        Sessions are scoped per (``tenant``, ``user``): one user's ``session_id`` never reaches
        another user's turns (None is the tenant's anonymous callers)."""
        try:
            raw = await self._store.get(_key(tenant, user, session_id))
        except CacheError as exc:
            _log.warning("history unavailable for session %s: %s", session_id, exc)
            return HistoryRecord()
        if raw is None:
            return HistoryRecord()
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError:
            _log.warning("dropping undecodable history of session %s", session_id)
            return HistoryRecord()

    async def append(
        self,
        session_id: str,
        turns: Sequence[Message],
        *,
        tenant: str = "default",
        user: str | None = None,
        base: HistoryRecord | None = None,
    ) -> Compaction | None:
        """Add ``turns`` after ``base`` (default: what is stored) and save; summarise if needed.

        Returns the summary call's `Compaction` when one was made, else None. Never raises for
        store or provider trouble; cancellation propagates.
        """
        record = base if base is not None else await self.load(session_id, tenant=tenant, user=user)
        record = msgspec.structs.replace(record, messages=record.messages + tuple(turns))
        compaction: Compaction | None = None
        if len(record.messages) > self.max_turns:
            record, compaction = await self._compact(record)
        try:
            await self._store.set(
                _key(tenant, user, session_id), self._encoder.encode(record), self._ttl_s
            )
        except CacheError as exc:
            _log.warning("history not saved for session %s: %s", session_id, exc)
        return compaction

    async def _compact(self, record: HistoryRecord) -> tuple[HistoryRecord, Compaction | None]:
        early = record.messages[: -self.keep_recent]
        recent = record.messages[-self.keep_recent :]
        folded = record.summarized_turns + len(early)
        folded_user = record.summarized_user_turns + sum(1 for m in early if m.role == "user")
        if self._llm is None or self._summary_model is None:
            return HistoryRecord(recent, record.summary, folded, folded_user), None
        request = LLMRequest(
            model=self._summary_model,
            messages=(Message("user", _transcript(record.summary, early)),),
            system=SUMMARY_SYSTEM_PROMPT,
            max_tokens=self._summary_max_tokens,
        )
        try:
            response = await self._llm.generate(request)
        except ProviderError as exc:
            _log.warning("history summary failed, dropping %d early turns: %s", len(early), exc)
            return HistoryRecord(recent, record.summary, folded, folded_user), None
        compaction = Compaction(response.model, response.usage, len(early))
        return HistoryRecord(recent, response.text.strip(), folded, folded_user), compaction


def _key(tenant: str, user: str | None, session_id: str) -> str:
    # The user is percent-encoded so no user id can contain the ':' that ends it.
    owner = ANONYMOUS_USER if user is None else f"user={quote(user, safe='')}"
    return f"{HISTORY_PREFIX}{tenant}:{owner}:{session_id}"


def _transcript(summary: str | None, turns: Sequence[Message]) -> str:
    lines = [f"Earlier summary: {summary}"] if summary else []
    lines.extend(f"{turn.role}: {turn.content}" for turn in turns)
    return "\n".join(lines)
