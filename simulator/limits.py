"""The provider's own refusals of a well-formed request: too long a prompt, a refused prefill.

A model's window comes from ``context_windows`` (else the provider's usual one); models in
``no_prefill_models`` refuse a conversation that ends with an assistant message.
"""

from __future__ import annotations

from aiohttp import web

from simulator.errors import (
    ANTHROPIC_CONTEXT_LIMIT,
    OPENAI_CONTEXT_LIMIT,
    Flavour,
    context_length_message,
    error_response,
)
from simulator.state import SimState


def refusal(
    state: SimState, flavour: Flavour, model: str, prompt_tokens: int, last_role: str
) -> web.Response | None:
    """The provider's 400 for this request, or None when the model accepts it.

    A refusal caused by a configured window or ``no_prefill_models`` counts as a fault
    (``context_length`` or ``prefill_refused``); the provider's usual window does not.
    """
    configured = state.config.context_windows.get(model)
    usual = ANTHROPIC_CONTEXT_LIMIT if flavour == "anthropic" else OPENAI_CONTEXT_LIMIT
    window = usual if configured is None else configured
    if prompt_tokens > window:
        if configured is not None:
            state.count_fault("context_length")
        message = context_length_message(flavour, prompt_tokens, window)
        return error_response(flavour, "context_length", message)
    if last_role == "assistant" and model in state.config.no_prefill_models:
        state.count_fault("prefill_refused")
        return error_response(flavour, "prefill_refused")
    return None
