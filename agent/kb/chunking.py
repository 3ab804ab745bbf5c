"""Token chunks with overlap: each document cut into windows of ``size`` tokens, each window
starting ``size - overlap`` tokens after the previous one, so a sentence cut at one window's
end is whole in the next. Chunk ids are ``<doc_id>@<n>``; ``digest`` is the content hash that
makes re-ingest incremental."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from agent.kb.documents import Document
from agent.tokens import get_encoding

ENCODING = "cl100k_base"


class Chunk(msgspec.Struct, frozen=True):
    """A piece of one document, as stored and searched."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    digest: str


def chunk_documents(documents: Sequence[Document], *, size: int, overlap: int) -> list[Chunk]:
    """The chunks of ``documents`` in order; empty documents give none."""
    encoding = get_encoding(ENCODING)
    step = max(size - overlap, 1)
    out: list[Chunk] = []
    for doc in documents:
        tokens = encoding.encode_ordinary(doc.text)
        starts = range(0, max(len(tokens) - overlap, 1), step) if tokens else range(0)
        for number, start in enumerate(starts):
            text = encoding.decode(tokens[start : start + size]).strip()
            if not text:
                continue
            digest = hashlib.sha256(f"{doc.title}\x1f{text}".encode()).hexdigest()[:16]
            out.append(Chunk(f"{doc.doc_id}@{number}", doc.doc_id, doc.title, text, digest))
    return out
