"""What a semantic cache hit tells the caller in headers: ``x-frugal-cache-score`` (the cosine,
always) and ``x-frugal-cache-matched`` (the stored question it matched, only with
``cache.semantic_show_match``: within a tenant that question may be another user's text).

The question is percent-encoded UTF-8, so any text fits in a header, and capped at
`MATCHED_MAX_CHARS` characters, cut between characters (never inside an escape).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

CACHE_HEADER: Final = "x-frugal-cache"  # the request's cache mode; the answer's cache layer
SCORE_HEADER: Final = "x-frugal-cache-score"
MATCHED_HEADER: Final = "x-frugal-cache-matched"
MATCHED_MAX_CHARS: Final = 1024


def semantic_hit_headers(
    score: float | None, matched: str | None, *, show_match: bool
) -> dict[str, str]:
    """The headers of a semantic hit (``score`` and ``matched`` are None on any other
    answer, which then gets none)."""
    headers: dict[str, str] = {}
    if score is not None:
        headers[SCORE_HEADER] = f"{score:.4f}"
    if show_match and matched is not None:
        headers[MATCHED_HEADER] = encode_matched(matched)
    return headers


def encode_matched(question: str, limit: int = MATCHED_MAX_CHARS) -> str:
    """``question`` percent-encoded (``quote(..., safe="")``), at most ``limit`` characters;
    a longer one is cut after the last whole character that fits, so it still decodes."""
    # errors="replace": a lone surrogate must not fail the response over a header.
    encoded = quote(question, safe="", errors="replace")
    if len(encoded) <= limit:
        return encoded
    size = 0
    pieces: list[str] = []
    for char in question:
        piece = quote(char, safe="", errors="replace")
        if size + len(piece) > limit:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)
