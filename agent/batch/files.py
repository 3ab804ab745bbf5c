"""`LocalFiles`: the lane's files (uploaded inputs, output and error files) in a directory, so
they outlive the process; each file is its bytes plus a ``.json`` sidecar with its object."""

from __future__ import annotations

import re
import secrets
import time

import anyio
import msgspec

from agent.batch.wire import FileObject

_ID = re.compile(r"^file-[0-9a-f]{24}$")
_decoder = msgspec.json.Decoder(FileObject)


class LocalFiles:
    """Files under ``directory`` (created on first write)."""

    def __init__(self, directory: str) -> None:
        self._dir = anyio.Path(directory)

    async def add(self, content: bytes, *, filename: str, purpose: str) -> FileObject:
        """Store ``content`` under a fresh id; its object."""
        file = FileObject(
            f"file-{secrets.token_hex(12)}", len(content), int(time.time()), filename, purpose
        )
        await self._dir.mkdir(parents=True, exist_ok=True)
        # Bytes first, the object last: a file is visible only once it is whole.
        await _write(self._dir / file.id, content)
        await _write(self._dir / f"{file.id}.json", msgspec.json.encode(file))
        return file

    async def get(self, file_id: str) -> FileObject | None:
        """The file's object, or None when unknown."""
        if not _ID.match(file_id):
            return None
        try:
            return _decoder.decode(await (self._dir / f"{file_id}.json").read_bytes())
        except FileNotFoundError:
            return None

    async def content(self, file_id: str) -> bytes | None:
        """The file's bytes, or None when unknown."""
        if await self.get(file_id) is None:
            return None
        return await (self._dir / file_id).read_bytes()


async def _write(path: anyio.Path, content: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    await temporary.write_bytes(content)
    await temporary.rename(path)
