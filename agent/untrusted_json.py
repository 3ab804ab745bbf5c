"""Decoding JSON that a caller (or a provider) sent.

msgspec reports nesting deeper than the interpreter's recursion limit with a
`RecursionError`, not a `msgspec.DecodeError`: a body of ten thousand ``[`` would escape
every "malformed JSON" handler and end as a 500. `decode` turns it into the
`msgspec.DecodeError` those handlers already answer (400).
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

T = TypeVar("T")

ANY: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder()


def decode(raw: bytes | str, decoder: msgspec.json.Decoder[T]) -> T:
    """``raw`` decoded by ``decoder``; raises `msgspec.DecodeError` for malformed or too
    deeply nested JSON and `msgspec.ValidationError` (a subclass) for a schema mismatch."""
    try:
        return decoder.decode(raw)
    except RecursionError as exc:
        raise msgspec.DecodeError("JSON nested too deeply") from exc
