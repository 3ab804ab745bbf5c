"""The two ways a translation between the OpenAI and Anthropic wires can fail."""

from __future__ import annotations


class UntranslatableField(Exception):
    """A request field that Anthropic cannot express.

    ``param`` names the field as an OpenAI client would spell it (``"n"``, ``"logprobs"``,
    ``"messages[2].content[0].type"``), so the caller can answer 400 with ``param`` set.
    """

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class StreamError(Exception):
    """Anthropic sent an ``error`` event mid-stream.

    ``error_type`` is Anthropic's error type (``"overloaded_error"``, ``"api_error"``, ...)
    and ``message`` its human-readable text.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
