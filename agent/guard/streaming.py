"""Guarding text that arrives in pieces: small hold-back buffers.

A placeholder (``<EMAIL_1>``) or a phone number may be split across two stream chunks, so
each buffer holds back the tail that might still grow into one, and releases it when the
next piece (or the end) shows what it is. `PlaceholderRestorer` holds back at most a
placeholder's length; `StreamRedactor` holds back `WINDOW` characters and releases text in
steps of `STEP` (never cutting inside a word or a detected span), which delays the caller's
text by 64 to 96 characters, about fifteen to twenty-five tokens.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Final

from agent.guard.redact import MAX_PLACEHOLDER_LEN, Redactor, Vault, replace_spans

_PARTIAL: Final = re.compile(r"<[A-Z_]{0,16}[0-9]{0,6}\Z")
WINDOW: Final = 64
"""Characters of a streamed answer held back for output redaction: longer than any phone
number, card number or grouped IBAN, so one that straddles the cut is seen whole."""
STEP: Final = 32
"""Text is released in steps of at least this many characters, so the detectors run once per
step rather than once per token."""
MAX_HELD: Final = 1024
"""A run of text without whitespace this long is released even if it is not finished."""


class PlaceholderRestorer:
    """Turns a vault's placeholders back into values across stream pieces."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._held = ""

    def feed(self, text: str) -> str:
        """The restored text that can be sent now (maybe empty)."""
        text = self._held + text
        self._held = ""
        start = text.rfind("<")
        partial = start >= 0 and len(text) - start < MAX_PLACEHOLDER_LEN
        if partial and _PARTIAL.match(text, start):
            text, self._held = text[:start], text[start:]
        return self._vault.restore(text)

    def flush(self) -> str:
        """Whatever was held back, restored (the stream ended)."""
        text, self._held = self._held, ""
        return self._vault.restore(text)

    @property
    def holding(self) -> bool:
        """True while text is held back."""
        return bool(self._held)


class StreamRedactor:
    """Redacts personal data in a streamed answer; see the module docstring."""

    def __init__(self, redactor: Redactor, vault: Vault, counts: Counter[str]) -> None:
        self._redactor = redactor
        self._vault = vault
        self._counts = counts
        self._buffer = ""

    def feed(self, text: str) -> str:
        """The redacted text that can be sent now (maybe empty)."""
        self._buffer += text
        buffer = self._buffer
        if len(buffer) < WINDOW + STEP:
            return ""
        cut = len(buffer) - WINDOW
        if not buffer[cut - 1].isspace() and not buffer[cut].isspace():
            space = max(buffer.rfind(c, 0, cut) for c in " \n\t")
            cut = space + 1 if space >= 0 else (cut if len(buffer) > MAX_HELD else 0)
        if cut == 0:
            return ""
        spans = self._redactor.spans(buffer)
        for span in reversed(spans):
            if span.start < cut < span.end:
                cut = span.start
        before = [s for s in spans if s.end <= cut]
        self._buffer = buffer[cut:]
        return replace_spans(buffer[:cut], before, self._vault, self._counts)

    def flush(self) -> str:
        """Whatever was held back, redacted (the stream ended)."""
        text, self._buffer = self._buffer, ""
        return self._redactor.redact(text, self._vault, self._counts)

    @property
    def holding(self) -> bool:
        """True while text is held back."""
        return bool(self._buffer)


class PerChoice:
    """One hold-back buffer per choice index (``make`` makes one)."""

    def __init__(
        self, make: Callable[[], StreamRedactor] | Callable[[], PlaceholderRestorer]
    ) -> None:
        self._make: Callable[[], StreamRedactor | PlaceholderRestorer] = make
        self._buffers: dict[int, StreamRedactor | PlaceholderRestorer] = {}

    def feed(self, index: int, text: str, *, final: bool) -> str:
        """What choice ``index`` may send now (everything held, when ``final``)."""
        buffer = self._buffers.get(index)
        if buffer is None:
            buffer = self._buffers[index] = self._make()
        out = buffer.feed(text)
        return out + buffer.flush() if final else out

    def flush(self, index: int) -> str:
        """Empty choice ``index``'s buffer: what it still held."""
        buffer = self._buffers.get(index)
        return buffer.flush() if buffer is not None else ""

    def held(self) -> dict[int, str]:
        """Empty every buffer: what each still held, by choice index."""
        out = {i: b.flush() for i, b in self._buffers.items()}
        return {i: text for i, text in out.items() if text}
