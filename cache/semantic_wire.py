"""How semantic-cache entries and their announcements look in Redis.

An entry lives under ``namespace + SEM_PREFIX + <id>`` as a msgpack `WireEntry` (vector bytes
included, so no replica embeds twice), with the entry's TTL as the key's TTL. Each write or
deletion is announced on ``namespace + SEM_STREAM`` as one stream message whose fields are
``o`` (the origin replica) and ``e`` (a msgpack `PutEvent` or `DeleteEvent`).
"""

from __future__ import annotations

import msgspec

from cache.keys import SEM_PREFIX, SEM_STREAM
from cache.semantic_cache import SemanticRecord

ORIGIN_FIELD = b"o"
EVENT_FIELD = b"e"


class WireEntry(msgspec.Struct, frozen=True, array_like=True):
    """A semantic-cache entry as stored in Redis; ``vector`` is float32 bytes."""

    query: str
    vector: bytes
    payload: bytes
    tenant: str
    tier: str
    embedder: str


class PutEvent(msgspec.Struct, frozen=True, tag="put", array_like=True):
    """Entry ``id`` was written: read it from its key."""

    id: str
    embedder: str


class DeleteEvent(msgspec.Struct, frozen=True, tag="del", array_like=True):
    """The entry for exactly this normalised query was invalidated."""

    id: str
    query: str
    tenant: str
    tier: str
    embedder: str


StreamEvent = PutEvent | DeleteEvent


class SemanticWire:
    """Key names and codecs of one namespace, built once and reused."""

    def __init__(self, namespace: str) -> None:
        self.entry_prefix = namespace + SEM_PREFIX
        self.stream_key = namespace + SEM_STREAM
        # SCAN MATCH is a glob: a namespace containing *, ? or [ must not widen the match.
        self.entry_pattern = _glob_escape(self.entry_prefix) + "*"
        self._encoder = msgspec.msgpack.Encoder()
        self._entry_decoder = msgspec.msgpack.Decoder(WireEntry)
        self._event_decoder = msgspec.msgpack.Decoder(StreamEvent)

    def entry_key(self, entry_id: str) -> str:
        """The Redis key of entry ``entry_id``."""
        return self.entry_prefix + entry_id

    def encode_entry(self, record: SemanticRecord) -> bytes:
        """Encode what `SemanticCache.store` reported."""
        entry = WireEntry(
            record.query, record.vector, record.payload, record.tenant, record.tier, record.embedder
        )
        return self._encoder.encode(entry)

    def decode_entry(self, data: bytes) -> WireEntry:
        """Decode a stored entry; raises `msgspec.DecodeError` (or ValidationError) if bad."""
        return self._entry_decoder.decode(data)

    def encode_event(self, event: StreamEvent) -> bytes:
        """Encode one stream announcement."""
        return self._encoder.encode(event)

    def decode_event(self, data: bytes) -> StreamEvent:
        """Decode one stream announcement; raises `msgspec.DecodeError` if bad."""
        event: StreamEvent = self._event_decoder.decode(data)
        return event


def stream_id_key(stream_id: bytes | str) -> tuple[int, int]:
    """``b"1700000000000-3"`` as ``(1700000000000, 3)``, so ids compare in stream order."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
