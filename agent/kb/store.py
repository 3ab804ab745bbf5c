"""Where an ingested knowledge base lives: one `KbSnapshot` (chunks and their vectors).

`FileKbStore` (the default: a msgpack file in a directory, replaced atomically) and
`TTLKbStore` (any `TTLStore`, i.e. Redis when configured, so every replica and the
``frugal kb`` command see the same snapshot)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import anyio
import msgspec
import numpy as np
import numpy.typing as npt

from agent.kb.chunking import Chunk
from cache.base import TTLStore
from cache.keys import KB_PREFIX

SNAPSHOT_FILE = "snapshot.msgpack"


class KbSnapshot(msgspec.Struct, frozen=True):
    """Chunks and their float32 vectors (row *i* for chunk *i*) from embedder ``embedder``."""

    embedder: str
    dim: int
    chunks: list[Chunk]
    vectors: bytes

    def matrix(self) -> npt.NDArray[np.float32]:
        """The vectors as a ``(len(chunks), dim)`` array."""
        flat = np.frombuffer(self.vectors, dtype=np.float32)
        return flat.reshape(len(self.chunks), self.dim) if self.chunks else flat.reshape(0, 0)


class KbStore(Protocol):
    """Keeps one knowledge base's snapshot."""

    async def load(self) -> KbSnapshot | None:
        """The stored snapshot, or None when nothing was ingested yet. Raises `OSError`,
        `CacheError` or `msgspec.DecodeError` when the store cannot be read."""
        ...

    async def save(self, snapshot: KbSnapshot) -> None:
        """Replace the snapshot; raises `OSError` or `CacheError` on failure."""
        ...


_decoder = msgspec.msgpack.Decoder(KbSnapshot)


class FileKbStore:
    """A snapshot file in ``directory`` (created on the first save)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / SNAPSHOT_FILE

    async def load(self) -> KbSnapshot | None:
        """See `KbStore.load`."""
        if not self.path.exists():
            return None
        raw = await anyio.to_thread.run_sync(self.path.read_bytes)
        return _decoder.decode(raw)

    async def save(self, snapshot: KbSnapshot) -> None:
        """See `KbStore.save`."""
        await anyio.to_thread.run_sync(self._write, msgspec.msgpack.encode(snapshot))

    def _write(self, raw: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(raw)
        os.replace(temporary, self.path)


class TTLKbStore:
    """The snapshot under ``KB_PREFIX + name`` in a `TTLStore`, with no expiry."""

    def __init__(self, store: TTLStore, name: str) -> None:
        self._store = store
        self._key = KB_PREFIX + name

    async def load(self) -> KbSnapshot | None:
        """See `KbStore.load`."""
        raw = await self._store.get(self._key)
        return _decoder.decode(raw) if raw is not None else None

    async def save(self, snapshot: KbSnapshot) -> None:
        """See `KbStore.save`."""
        await self._store.set(self._key, msgspec.msgpack.encode(snapshot), None)
