"""`CostJournal`: cost records that could not reach the shared store, kept on local disk.

One append-only file per process, ``cost-<pid>.jsonl`` under the journal directory, one
msgspec-JSON `JournalEntry` a line; each append is flushed and fsynced in a worker thread (the
event loop never waits on the disk). The file is bounded by ``max_bytes``: past it new records
are dropped and counted in ``dropped``.

`replay` hands every entry, oldest first, to a callback (the tracker's idempotent store add) and
empties the journal once all of them went through. Files left by earlier runs of this process
(same pid, e.g. pid 1 in a container) or by processes that no longer exist are adopted and
replayed too; files of other live processes are theirs and left alone. A replay that stops
half-way keeps every entry: the store skips the ids it already applied, so retrying is exact.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.to_thread
import msgspec

_log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"cost-(\d+)\.jsonl")


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One `metrics.cost_store.CostStore.add`, as it would have been made, with its ``id``
    (what makes adding it twice a no-op)."""

    id: str
    names: dict[str, str]
    counters: dict[str, int]
    bucket: int
    spend_usd_micros: int
    bucket_ttl_s: float
    now: float


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JournalEntry)


class CostJournal:
    """The local journal of one process under ``directory`` (created if missing).

    ``pending`` counts entries waiting for a replay (including adopted files), ``dropped``
    entries refused because the file reached ``max_bytes``.
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int, pid: int = 0) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self._dir = Path(directory)
        self._pid = pid or os.getpid()
        self._path = self._dir / f"cost-{self._pid}.jsonl"
        self._max_bytes = max_bytes
        self._lock = anyio.Lock()
        self._size = 0
        self._adopted: list[Path] = []
        self.pending = 0
        self.dropped = 0
        self._opened = False

    @property
    def path(self) -> Path:
        """This process's journal file."""
        return self._path

    async def open(self) -> None:
        """Create the directory and count what earlier runs left behind (idempotent)."""
        async with self._lock:
            if not self._opened:
                await anyio.to_thread.run_sync(self._open_sync)
                self._opened = True

    async def append(self, entry: JournalEntry) -> bool:
        """Append and fsync ``entry``; False (and ``dropped`` + 1) when the journal is full.
        Raises `OSError` when the disk refuses the write."""
        await self.open()
        line = _encoder.encode(entry) + b"\n"
        async with self._lock:
            if self._size + len(line) > self._max_bytes:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    _log.error(
                        "cost journal %s is full (%d bytes): %d cost records dropped",
                        self._path,
                        self._max_bytes,
                        self.dropped,
                    )
                return False
            await anyio.to_thread.run_sync(self._write_sync, line)
            self._size += len(line)
            self.pending += 1
            return True

    async def replay(self, add: Callable[[JournalEntry], Awaitable[None]]) -> int:
        """Pass every entry to ``add``, oldest file first, then empty the journal; returns how
        many went through. An exception from ``add`` stops the replay and propagates; nothing
        is removed then (the next replay starts over, relying on ``add`` being idempotent)."""
        await self.open()
        async with self._lock:
            if not self.pending:
                return 0
            files = [*self._adopted, self._path]
            replayed = 0
            for path in files:
                for entry in await anyio.to_thread.run_sync(_read_entries, path):
                    await add(entry)
                    replayed += 1
            await anyio.to_thread.run_sync(self._clear_sync, files)
            self._adopted, self._size, self.pending = [], 0, 0
            return replayed

    def _open_sync(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self._dir.glob("cost-*.jsonl")):
            match = _FILE_RE.fullmatch(path.name)
            if match is None:
                continue
            pid = int(match.group(1))
            if path == self._path:
                self._size = path.stat().st_size
            elif _alive(pid):
                continue
            else:
                self._adopted.append(path)
            self.pending += len(_read_entries(path))
        if self.pending:
            _log.warning("cost journal: %d records from earlier runs to replay", self.pending)

    def _write_sync(self, line: bytes) -> None:
        with self._path.open("ab") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def _clear_sync(self, files: list[Path]) -> None:
        for path in files:
            if path == self._path:
                with path.open("wb") as file:
                    os.fsync(file.fileno())
            else:
                path.unlink(missing_ok=True)


def _read_entries(path: Path) -> list[JournalEntry]:
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entries.append(_decoder.decode(line))
        except msgspec.DecodeError:
            # A torn last line from a crash mid-write: that record never was fsynced.
            _log.warning("cost journal %s: skipping an unreadable line", path)
    return entries


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
