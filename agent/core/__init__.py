"""The completion core: one orchestration every entry point uses (see DESIGN.md).

admit (budget hold) → exact cache → semantic cache → route → provider call with fallback →
account → cache write. A JSON answer and a stream are two consumers of the same event
sequence (`Head`, `Piece`…, `Tail`), so a fix to one path is a fix to both.
"""

from agent.core.core import CompletionCore, CorePolicy, RunOutcome
from agent.core.events import CoreEvent, Flush, Head, Piece, Tail
from agent.core.messages_request import decode_messages_request
from agent.core.request import CompletionRequest, InvalidParam, decode_completion_request

__all__ = [
    "CompletionCore",
    "CompletionRequest",
    "CoreEvent",
    "CorePolicy",
    "Flush",
    "Head",
    "InvalidParam",
    "Piece",
    "RunOutcome",
    "Tail",
    "decode_completion_request",
    "decode_messages_request",
]
