"""What one bench request saw, and how its answer's bill and error are read."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

# The codes of failures that are Frugal's own (server/errors.py). The other 5xx codes name a
# policy (budget_exceeded), the provider (upstream_*, circuit_open, stream_interrupted) or
# are the provider's own, passed on by the OpenAI wire (rate_limit_exceeded, server_error).
FRUGALS = frozenset({"internal_error", "store_unavailable", "embedding_failed"})
NO_CODE = "(no code)"  # a stream's error event without a code


def caused_by_frugal(status: int, code: str | None) -> bool:
    """A 5xx (or a stream's error event) that blames Frugal itself, or that is not in
    Frugal's error shape at all (no code)."""
    return status >= 500 and (code is None or code in FRUGALS)


@dataclass
class Outcome:
    """One request: ``status`` 0 when no HTTP answer came (the client hung up on purpose, or
    the connection broke); ``cost`` is what the answer reported (None when the client never
    saw it); ``stream_error`` is the code of an error event inside a 200 stream."""

    kind: str
    tenant: str
    tag: str | None = None
    status: int = 0
    code: str | None = None
    cost: int | None = None
    stream_error: str | None = None
    text: str = ""
    sent_at: float = field(default_factory=time.time)

    @property
    def frugal_fault(self) -> bool:
        """This answer is a 5xx (or a stream error event) that Frugal caused."""
        if self.stream_error is not None:
            code = None if self.stream_error == NO_CODE else self.stream_error
            if caused_by_frugal(503, code):
                return True
        return caused_by_frugal(self.status, self.code)


def error_code(text: str) -> str | None:
    """``error.code`` of a JSON error body, None when it is not one."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def json_cost(body: dict[str, Any]) -> int:
    """The bill of a whole OpenAI answer (its ``frugal`` object) or of a ``/chat`` answer."""
    frugal = body.get("frugal")
    if isinstance(frugal, dict):
        return int(frugal["cost_usd_micros"])
    return int(body.get("cost_usd_micros", 0))


def read_stream(outcome: Outcome, text: str) -> None:
    """Fill ``outcome`` from a whole SSE body: the ``: frugal`` comment's bill, and the code of
    an error event if the stream ended with one."""
    for block in text.split("\n\n"):
        line = block.strip()
        if line.startswith(": frugal "):
            outcome.cost = int(json.loads(line.removeprefix(": frugal "))["cost_usd_micros"])
        elif line.startswith("data: {") and '"error"' in line[:20]:
            outcome.stream_error = error_code(line.removeprefix("data: ")) or NO_CODE
