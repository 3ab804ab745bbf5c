"""Which fault a request gets: the ``x-sim-fault`` header, the model's fault, or the rates.

A gateway forwards no ``x-sim-*`` header, so faults can also be pinned per model: at start
(``faults_by_model``, ``--fault-model``) and at runtime (``PUT /_sim/faults``).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from simulator.config import FAULT_KINDS

# Faults that only change a stream: a JSON answer to the same request is left intact.
STREAM_ONLY_FAULTS = frozenset({"malformed_chunk", "no_done"})


class RequestPeek(msgspec.Struct):
    """The two body fields fault picking needs, read before the full (validated) decode."""

    model: str | None = None
    stream: bool | None = None


_peek_decoder = msgspec.json.Decoder(RequestPeek)


def peek(body: bytes) -> RequestPeek:
    """``model`` and ``stream`` of a JSON body; empty when the body isn't a JSON object."""
    if not body:
        return RequestPeek()
    try:
        return _peek_decoder.decode(body)
    except msgspec.DecodeError:
        return RequestPeek()  # the endpoint's own decode answers the 400


class FaultChange(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /_sim/faults``: pin ``fault`` on ``model``, or clear it with null."""

    model: str
    fault: str | None = None


class ModelFaults:
    """The fault pinned on each model: the configured ones, changed at runtime."""

    def __init__(self, configured: Mapping[str, str]) -> None:
        self._configured = dict(configured)
        self._current = dict(configured)

    def get(self, model: str | None) -> str | None:
        """The fault pinned on ``model``, or None."""
        return None if model is None else self._current.get(model)

    def change(self, change: FaultChange) -> None:
        """Pin or (with ``fault`` None) clear one model's fault; ValueError for an unknown kind."""
        if change.fault is None:
            self._current.pop(change.model, None)
            return
        if change.fault not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {', '.join(FAULT_KINDS)} or null")
        self._current[change.model] = change.fault

    def reset(self) -> None:
        """Back to the configured faults (runtime changes are forgotten)."""
        self._current = dict(self._configured)

    def listing(self) -> dict[str, str]:
        """model -> fault, as ``GET /_sim/faults`` reports it."""
        return dict(sorted(self._current.items()))


def forced_fault(headers: Mapping[str, str], pinned: str | None) -> str | None:
    """``x-sim-fault`` if present, else the model's pinned fault; ValueError for a bad header."""
    forced = headers.get("x-sim-fault")
    if forced is None:
        return pinned
    if forced not in FAULT_KINDS:
        raise ValueError(f"x-sim-fault must be one of {', '.join(FAULT_KINDS)}")
    return forced


def applicable(fault: str | None, streaming: bool) -> str | None:
    """``fault`` as it applies to this request: stream-only faults vanish from JSON answers."""
    if fault in STREAM_ONLY_FAULTS and not streaming:
        return None
    return fault
