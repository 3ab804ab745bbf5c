"""Knowledge bases: documents read, chunked by tokens, embedded, stored, and searched with
hybrid retrieval (BM25 + vectors, reciprocal-rank fusion)."""

from agent.kb.documents import Document, DocumentError, read_documents
from agent.kb.ingest import IngestReport, delete_documents, ingest
from agent.kb.search_tool import DocumentSearchTool
from agent.kb.service import KnowledgeBaseService
from agent.kb.store import FileKbStore, KbSnapshot, KbStore, TTLKbStore

__all__ = [
    "Document",
    "DocumentError",
    "DocumentSearchTool",
    "FileKbStore",
    "IngestReport",
    "KbSnapshot",
    "KbStore",
    "KnowledgeBaseService",
    "TTLKbStore",
    "delete_documents",
    "ingest",
    "read_documents",
]
