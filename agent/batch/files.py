"""`LocalFiles`: the lane's files (uploaded inputs, output and error files) in a directory, so
they outlive the process; each file is its bytes plus a ``.json`` sidecar with its object and
the tenant that owns it.

Every read names the tenant asking: another tenant's file is reported missing, exactly like
an id that never existed, so file ids are owned and not merely hard to guess.
"""

from __future__ import annotations

import re
import secrets
import time

import anyio
import msgspec

from agent.batch.wire import FileObject

_ID = re.compile(r"^file-[0-9a-f]{24}$")
LEGACY_TENANT = "default"
"""The owner of a file whose sidecar predates ownership (written before it was recorded)."""


class _Sidecar(FileObject):
    # The object as the API shows it, plus its owner (never shown).
    tenant: str = LEGACY_TENANT


_decoder = msgspec.json.Decoder(_Sidecar)
_OBJECT_FIELDS = tuple(field.name for field in msgspec.structs.fields(FileObject))


class LocalFiles:
    """Files under ``directory`` (created on first write), each owned by one tenant."""

    def __init__(self, directory: str) -> None:
        self._dir = anyio.Path(directory)

    async def add(self, content: bytes, *, tenant: str, filename: str, purpose: str) -> FileObject:
        """Store ``content`` under a fresh id owned by ``tenant``; its object."""
        file = FileObject(
            f"file-{secrets.token_hex(12)}", len(content), int(time.time()), filename, purpose
        )
        sidecar = _Sidecar(**msgspec.structs.asdict(file), tenant=tenant)
        await self._dir.mkdir(parents=True, exist_ok=True)
        # Bytes first, the object last: a file is visible only once it is whole.
        await _write(self._dir / file.id, content)
        await _write(self._dir / f"{file.id}.json", msgspec.json.encode(sidecar))
        return file

    async def get(self, file_id: str, *, tenant: str) -> FileObject | None:
        """The file's object, or None when unknown or owned by another tenant."""
        if not _ID.match(file_id):
            return None
        try:
            sidecar = _decoder.decode(await (self._dir / f"{file_id}.json").read_bytes())
        except FileNotFoundError:
            return None
        if sidecar.tenant != tenant:
            return None
        return FileObject(**{name: getattr(sidecar, name) for name in _OBJECT_FIELDS})

    async def content(self, file_id: str, *, tenant: str) -> bytes | None:
        """The file's bytes, or None when unknown or owned by another tenant."""
        if await self.get(file_id, tenant=tenant) is None:
            return None
        return await (self._dir / file_id).read_bytes()


async def _write(path: anyio.Path, content: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    await temporary.write_bytes(content)
    await temporary.rename(path)
