"""The guard on a provider's own Anthropic stream events (a ``/v1/messages`` request to an
Anthropic model is relayed in the provider's bytes): the text of ``text_delta`` events goes
through per-block hold-back buffers, and what a buffer still holds when its block stops is
sent as one more ``content_block_delta`` just before the ``content_block_stop``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from agent.guard.streaming import PerChoice, PlaceholderRestorer, StreamRedactor

_STOPS: Final = frozenset({"message_delta", "message_stop"})
_encoder: Final = msgspec.json.Encoder()

NativeEvent = tuple[str, bytes, str | None]
"""(event name, data, the text delta it carries or None)."""


class NativeText:
    """Rewrites the text of one stream's Anthropic events; see the module docstring."""

    def __init__(self, make: Callable[[], StreamRedactor] | Callable[[], PlaceholderRestorer]):
        self._blocks = PerChoice(make)

    def events(self, name: str, data: bytes) -> list[NativeEvent]:
        """The events to send for the provider's event ``name`` (maybe more than one)."""
        if name == "content_block_delta":
            event = _object(data)
            delta = event.get("delta") if event else None
            if event and isinstance(delta, dict) and isinstance(delta.get("text"), str):
                index = int(event.get("index") or 0)
                text = self._blocks.feed(index, delta["text"], final=False)
                if text == delta["text"]:
                    return [(name, data, text)]
                changed = {**event, "delta": {**delta, "text": text}}
                return [(name, _encoder.encode(changed), text)]
        if name == "content_block_stop":
            event = _object(data)
            index = int((event or {}).get("index") or 0)
            return [*_delta(index, self._blocks.flush(index)), (name, data, None)]
        if name in _STOPS:
            held = self._blocks.held()
            return [*(e for i, text in held.items() for e in _delta(i, text)), (name, data, None)]
        return [(name, data, None)]


def _delta(index: int, text: str) -> list[NativeEvent]:
    if not text:
        return []
    event = {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }
    return [("content_block_delta", _encoder.encode(event), text)]


def _object(data: bytes) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None
