"""`PromptCache`: the exact response cache, keyed by a hash of everything that shapes an answer.

The key hashes a canonical msgspec encoding (sorted fields, normalized message text, sorted tool
names) of: key version, tenant, the user id when the conversation is personal, the messages,
the system prompt, the model tier, the temperature and the tool names. Entries carry tags
(knowledge-base document ids) so editing a document drops every answer built on it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import msgspec

from cache.base import TTLStore
from cache.keys import CLASS_DEFAULT, PROMPT_KEY_VERSION, PROMPT_PREFIX, PROMPT_TAG_PREFIX
from cache.normalize import normalize_text
from cache.types import Message, Usage

_log = logging.getLogger(__name__)

CacheMode = Literal["default", "no-cache", "no-store"]
"""A request's cache directive: ``no-cache`` skips the read, ``no-store`` skips the write."""


def is_cacheable(temperature: float, *, cache_nonzero_temperature: bool = False) -> bool:
    """Whether answers at ``temperature`` may be cached: only deterministic (0) ones by default."""
    return temperature == 0 or cache_nonzero_temperature


def should_read(
    mode: CacheMode, temperature: float = 0.0, *, cache_nonzero_temperature: bool = False
) -> bool:
    """Whether to look the request up in the cache."""
    return mode != "no-cache" and is_cacheable(
        temperature, cache_nonzero_temperature=cache_nonzero_temperature
    )


def should_write(
    mode: CacheMode, temperature: float, *, cache_nonzero_temperature: bool = False
) -> bool:
    """Whether to store the fresh answer in the cache."""
    return mode != "no-store" and is_cacheable(
        temperature, cache_nonzero_temperature=cache_nonzero_temperature
    )


class CachedAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """An answer as stored in the exact (and semantic) cache.

    ``usage`` and ``cost_usd_micros`` are what the original call cost, so a hit can report
    the money it saved. ``created_at`` is unix seconds.
    """

    answer: str
    model: str
    created_at: float
    usage: Usage = Usage()
    cost_usd_micros: int = 0
    sources: list[str] = msgspec.field(default_factory=list)
    content_class: str = CLASS_DEFAULT
    tags: list[str] = msgspec.field(default_factory=list)
    completion: dict[str, Any] | None = None
    """The whole ``chat.completion`` as the provider sent it (every choice, tool calls,
    logprobs, finish reasons), replayed as is to OpenAI-wire callers; None for ``/chat``."""


class _KeyMaterial(msgspec.Struct, frozen=True):
    version: int
    tenant: str
    user_id: str | None
    messages: list[tuple[str, str]]
    system: str | None
    model_tier: str
    temperature: float
    tools: list[str]


class PromptCache:
    """Exact-match answers over any `cache.base.TTLStore`.

    ``ttl_by_class`` maps a content class ("faq", "default", "realtime", ...) to seconds; a
    class missing from it uses the "default" entry, and a TTL of 0 means "never stored".
    Store failures propagate as `cache.errors.StoreUnavailable` unless the store fails open.
    """

    def __init__(
        self,
        store: TTLStore,
        *,
        ttl_by_class: Mapping[str, float],
        cache_nonzero_temperature: bool = False,
    ) -> None:
        if any(ttl < 0 for ttl in ttl_by_class.values()):
            raise ValueError("cache TTLs must be zero or more seconds")
        self._store = store
        self._ttl_by_class = dict(ttl_by_class)
        self.cache_nonzero_temperature = cache_nonzero_temperature
        self._key_encoder = msgspec.json.Encoder(order="sorted")
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(CachedAnswer)

    def key_for(
        self,
        *,
        messages: Sequence[Message],
        tenant: str,
        model_tier: str,
        system: str | None = None,
        temperature: float = 0.0,
        tools: Iterable[str] = (),
        user_id: str | None = None,
        personal: bool = False,
    ) -> str:
        """Return the cache key of a request.

        ``personal`` says the conversation carries per-user context (profile, orders): the key
        then includes ``user_id`` so one user's answer is never served to another. Otherwise
        the user id is left out and users of a tenant share answers.
        """
        if personal and not user_id:
            raise ValueError("a personal conversation needs a user_id to scope its cache key")
        material = _KeyMaterial(
            version=PROMPT_KEY_VERSION,
            tenant=tenant,
            user_id=user_id if personal else None,
            messages=[(m.role, normalize_text(m.content)) for m in messages],
            system=system,
            model_tier=model_tier,
            # 0 and 0.0 (and -0.0) must hash alike.
            temperature=float(temperature) + 0.0,
            tools=sorted(set(tools)),
        )
        digest = hashlib.sha256(self._key_encoder.encode(material)).hexdigest()
        return PROMPT_PREFIX + digest

    def key_for_wire(self, *, tenant: str, model: str, protocol: str, material: bytes) -> str:
        """The key of a wire request: ``material`` is the canonical encoding of every field
        that can change the answer (the caller's body less transport-only fields)."""
        digest = hashlib.sha256()
        for part in (str(PROMPT_KEY_VERSION), protocol, tenant, model):
            digest.update(part.encode())
            digest.update(b"\x1f")
        digest.update(material)
        return PROMPT_PREFIX + digest.hexdigest()

    def ttl_for(self, content_class: str) -> float:
        """Seconds an answer of ``content_class`` lives; 0 means it is not cached."""
        ttl = self._ttl_by_class.get(content_class, self._ttl_by_class.get(CLASS_DEFAULT))
        if ttl is None:
            raise ValueError(f"no TTL for content class {content_class!r} and no default")
        return ttl

    def should_read(self, mode: CacheMode, temperature: float) -> bool:
        """`should_read` under this cache's temperature policy."""
        return should_read(
            mode, temperature, cache_nonzero_temperature=self.cache_nonzero_temperature
        )

    def should_write(self, mode: CacheMode, temperature: float) -> bool:
        """`should_write` under this cache's temperature policy."""
        return should_write(
            mode, temperature, cache_nonzero_temperature=self.cache_nonzero_temperature
        )

    async def lookup(self, key: str) -> CachedAnswer | None:
        """Return the cached answer, or ``None`` on a miss (an undecodable entry is a miss)."""
        raw = await self._store.get(key)
        if raw is None:
            return None
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError:
            # Written by an incompatible version: drop it rather than fail the request.
            _log.warning("dropping undecodable prompt-cache entry %s", key)
            await self._store.delete(key)
            return None

    async def store(
        self, key: str, answer: CachedAnswer, *, content_class: str, tags: Sequence[str]
    ) -> bool:
        """Store ``answer`` for its class's TTL under ``tags``; return whether it was stored."""
        ttl = self.ttl_for(content_class)
        if ttl <= 0:
            return False
        answer = msgspec.structs.replace(answer, content_class=content_class, tags=list(tags))
        store_tags = [PROMPT_TAG_PREFIX + tag for tag in tags]
        await self._store.set(key, self._encoder.encode(answer), ttl, tags=store_tags)
        return True

    async def invalidate_key(self, key: str) -> bool:
        """Drop one entry; return whether it existed."""
        return await self._store.delete(key)

    async def invalidate_tag(self, tag: str) -> int:
        """Drop every entry tagged with ``tag`` (a knowledge-base document id); return how many."""
        return await self._store.delete_tag(PROMPT_TAG_PREFIX + tag)
