"""Replaying a stored answer as a stream: a few words per piece."""

from __future__ import annotations


def replay_pieces(text: str, words_per_piece: int) -> list[str]:
    """``text`` in pieces of a few words that join back to it exactly."""
    words = text.split(" ")
    return [
        " ".join(words[i : i + words_per_piece]) + (" " if i + words_per_piece < len(words) else "")
        for i in range(0, len(words), words_per_piece)
    ]
