"""Reading a folder of documents: md, txt, html, pdf, jsonl and csv, one `Document` each
(a jsonl line or a csv row is one document). PDFs go through pypdf; HTML through the
standard library's parser (script and style dropped)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PdfReadError

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".jsonl", ".csv"})
_TEXT_FIELDS = ("text", "content", "body", "answer")
_TITLE_FIELDS = ("title", "name", "question", "product")


@dataclass(frozen=True, slots=True)
class Document:
    """One document: ``doc_id`` is its path under the ingested folder (``#n`` for a jsonl
    line or csv row); ``title`` its first heading, title field or file name."""

    doc_id: str
    title: str
    text: str


class DocumentError(ValueError):
    """A file could not be read or parsed; the message names it."""


def read_documents(paths: Sequence[Path]) -> list[Document]:
    """Every document under ``paths`` (folders walked in name order; other suffixes skipped).
    Raises `DocumentError` for a missing path or an unreadable file."""
    out: list[Document] = []
    for root in paths:
        if not root.exists():
            raise DocumentError(f"{root}: no such file or folder")
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        base = root if root.is_dir() else root.parent
        for path in files:
            if path.suffix.lower() in SUFFIXES:
                out.extend(_read(path, path.relative_to(base).as_posix()))
    return out


def _read(path: Path, doc_id: str) -> Iterator[Document]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            reader = PdfReader(path)
            text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
            meta = reader.metadata
            title = str((meta.title if meta is not None else None) or path.stem)
            yield Document(doc_id, title, text.strip())
            return
        raw = path.read_text(encoding="utf-8", errors="replace")
    except (OSError, PdfReadError) as exc:
        raise DocumentError(f"{path}: {exc}") from exc
    if suffix in (".html", ".htm"):
        parser = _TextOf()
        parser.feed(raw)
        yield Document(doc_id, parser.title or path.stem, parser.text())
    elif suffix == ".jsonl":
        for number, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                yield _record(path, f"{doc_id}#{number}", _json_line(path, number, line))
    elif suffix == ".csv":
        for number, row in enumerate(csv.DictReader(io.StringIO(raw)), start=1):
            yield _record(path, f"{doc_id}#{number}", {k: v for k, v in row.items() if k})
    else:
        yield Document(doc_id, _first_heading(raw) or path.stem, raw.strip())


def _json_line(path: Path, number: int, line: str) -> dict[str, object]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{path}:{number}: not JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise DocumentError(f"{path}:{number}: expected a JSON object per line")
    return value


def _record(path: Path, doc_id: str, record: dict[str, object]) -> Document:
    title = next((str(record[k]) for k in _TITLE_FIELDS if record.get(k)), doc_id)
    texts = [str(record[k]) for k in _TEXT_FIELDS if record.get(k)]
    if not texts:  # no known text field: every field, one per line
        texts = [f"{k}: {v}" for k, v in record.items() if v not in (None, "")]
    if title != doc_id and title not in texts:
        texts.insert(0, title)
    return Document(doc_id, title, "\n".join(texts))


def _first_heading(text: str) -> str:
    for line in text.splitlines()[:20]:
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self._in_title = tag == "title"
        if tag in ("p", "br", "li", "h1", "h2", "h3", "h4", "tr", "div"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        elif not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)
