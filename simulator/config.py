"""Simulator configuration: the process-wide `SimConfig`, CLI flags, and per-request knobs."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from simulator.answer import Pace

# The kinds drawn at random, in the order their rates are stacked on one uniform draw (new
# kinds go last so a seed keeps drawing the same faults for the older rates).
RANDOM_FAULTS = (
    "401",
    "429",
    "500",
    "hang",
    "disconnect",
    "malformed",
    "stall",
    "malformed_chunk",
    "no_done",
    "slow_first_token",
)
FAULT_KINDS = (*RANDOM_FAULTS, "context_length", "prefill_refused")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9100


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the simulator behaves. Latency 0 means as fast as possible; rates are 0..1.

    ``faults_by_model`` gives every request for a model one fault kind (a gateway does not
    forward ``x-sim-fault``); ``context_windows`` caps a model's prompt tokens;
    ``no_prefill_models`` refuse a conversation ending with an assistant message.
    ``batch_delay_s`` is how long a batch takes at least; a batch line whose ``custom_id``
    contains ``batch_fail_marker`` fails (a 500 in the batch's error file).
    """

    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0
    output_tokens: int | None = None
    embedding_dim: int = 1536
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_401: float = 0.0
    rate_hang: float = 0.0
    rate_disconnect: float = 0.0
    rate_malformed: float = 0.0
    rate_stall: float = 0.0
    rate_malformed_chunk: float = 0.0
    rate_no_done: float = 0.0
    rate_slow_first_token: float = 0.0
    retry_after_s: float = 1.0
    seed: int | None = None
    stall_after_chunks: int = 3
    slow_ttft_ms: float = 2000.0
    faults_by_model: dict[str, str] = msgspec.field(default_factory=dict)
    context_windows: dict[str, int] = msgspec.field(default_factory=dict)
    no_prefill_models: tuple[str, ...] = ()
    batch_delay_s: float = 1.0
    batch_fail_marker: str = "sim-fail"

    def __post_init__(self) -> None:
        if self.batch_delay_s < 0:
            raise ValueError("batch_delay_s must be >= 0")
        if self.ttft_ms < 0 or self.tokens_per_s < 0:
            raise ValueError("ttft_ms and tokens_per_s must be >= 0")
        if self.output_tokens is not None and self.output_tokens < 1:
            raise ValueError("output_tokens must be >= 1")
        if self.embedding_dim < 1:
            raise ValueError("embedding_dim must be >= 1")
        rates = self.fault_rates()
        if any(not 0.0 <= rate <= 1.0 for rate in rates.values()) or sum(rates.values()) > 1.0:
            raise ValueError("fault rates must each be in 0..1 and sum to at most 1")
        if self.stall_after_chunks < 0 or self.slow_ttft_ms < 0:
            raise ValueError("stall_after_chunks and slow_ttft_ms must be >= 0")
        unknown = sorted(set(self.faults_by_model.values()) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; use one of {', '.join(FAULT_KINDS)}")
        if any(tokens < 1 for tokens in self.context_windows.values()):
            raise ValueError("context windows must be >= 1 token")

    def fault_rates(self) -> dict[str, float]:
        """Rate of each randomly drawn fault kind."""
        return {kind: float(getattr(self, f"rate_{kind}")) for kind in RANDOM_FAULTS}


@dataclass(frozen=True)
class RequestKnobs:
    """The effective pace and forced length for one request (config + ``x-sim-*`` headers)."""

    pace: Pace
    output_tokens: int | None


class KnobError(ValueError):
    """An ``x-sim-*`` header had an unusable value."""


def knobs_for(config: SimConfig, headers: Mapping[str, str]) -> RequestKnobs:
    """Apply ``x-sim-ttft-ms``, ``x-sim-tokens-per-s`` and ``x-sim-output-tokens``.

    Raises `KnobError` when a header is not a non-negative number (or positive int for length).
    """
    ttft_ms = _number(headers, "x-sim-ttft-ms", config.ttft_ms)
    rate = _number(headers, "x-sim-tokens-per-s", config.tokens_per_s)
    output_tokens = config.output_tokens
    raw = headers.get("x-sim-output-tokens")
    if raw is not None:
        try:
            output_tokens = int(raw)
        except ValueError as exc:
            raise KnobError(f"x-sim-output-tokens must be an integer, got {raw!r}") from exc
        if output_tokens < 1:
            raise KnobError("x-sim-output-tokens must be >= 1")
    return RequestKnobs(Pace(ttft_s=ttft_ms / 1000.0, tokens_per_s=rate), output_tokens)


def _number(headers: Mapping[str, str], name: str, default: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise KnobError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise KnobError(f"{name} must be >= 0")
    return value


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``frugal upstream`` flags (host, port, latency, length, fault rates, seed)."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to bind")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before first token")
    parser.add_argument(
        "--tokens-per-s", type=float, default=0.0, help="stream rate (0 = no pacing)"
    )
    parser.add_argument(
        "--output-tokens", type=int, default=None, help="force answer length in tokens"
    )
    parser.add_argument("--embedding-dim", type=int, default=1536, help="embedding width")
    for kind in RANDOM_FAULTS:
        parser.add_argument(
            f"--rate-{kind.replace('_', '-')}",
            type=float,
            default=0.0,
            help=f"fraction of requests failing {kind}",
        )
    parser.add_argument(
        "--retry-after-s", type=float, default=1.0, help="Retry-After sent with 429"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault RNG")
    parser.add_argument(
        "--stall-after-chunks", type=int, default=3, help="content chunks a stall sends first"
    )
    parser.add_argument(
        "--slow-ttft-ms", type=float, default=2000.0, help="extra wait of slow_first_token"
    )
    parser.add_argument(
        "--fault-model",
        action="append",
        default=[],
        type=_model_fault,
        metavar="MODEL=KIND",
        help="every request for MODEL gets fault KIND (repeatable)",
    )
    parser.add_argument(
        "--context-window",
        action="append",
        default=[],
        type=_model_window,
        metavar="MODEL=TOKENS",
        help="MODEL's context window; longer prompts get its 400 (repeatable)",
    )
    parser.add_argument(
        "--no-prefill",
        action="append",
        default=[],
        metavar="MODEL",
        help="MODEL refuses a conversation ending with an assistant message (repeatable)",
    )
    parser.add_argument(
        "--batch-delay-s", type=float, default=1.0, help="least time a batch takes to run"
    )


def _pair(raw: str) -> tuple[str, str]:
    model, sep, value = raw.partition("=")
    if not sep or not model or not value:
        raise argparse.ArgumentTypeError(f"expected MODEL=VALUE, got {raw!r}")
    return model, value


def _model_fault(raw: str) -> tuple[str, str]:
    model, kind = _pair(raw)
    if kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(f"fault must be one of {', '.join(FAULT_KINDS)}")
    return model, kind


def _model_window(raw: str) -> tuple[str, int]:
    model, tokens = _pair(raw)
    try:
        return model, int(tokens)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"TOKENS must be an integer, got {tokens!r}") from exc


def config_from_args(ns: argparse.Namespace) -> SimConfig:
    """Build a `SimConfig` from parsed `add_cli_arguments` flags; raises ValueError if invalid."""
    return SimConfig(
        ttft_ms=ns.ttft_ms,
        tokens_per_s=ns.tokens_per_s,
        output_tokens=ns.output_tokens,
        embedding_dim=ns.embedding_dim,
        retry_after_s=ns.retry_after_s,
        seed=ns.seed,
        rate_429=ns.rate_429,
        rate_500=ns.rate_500,
        rate_401=ns.rate_401,
        rate_hang=ns.rate_hang,
        rate_disconnect=ns.rate_disconnect,
        rate_malformed=ns.rate_malformed,
        rate_stall=ns.rate_stall,
        rate_malformed_chunk=ns.rate_malformed_chunk,
        rate_no_done=ns.rate_no_done,
        rate_slow_first_token=ns.rate_slow_first_token,
        stall_after_chunks=ns.stall_after_chunks,
        slow_ttft_ms=ns.slow_ttft_ms,
        faults_by_model=dict(ns.fault_model),
        context_windows=dict(ns.context_window),
        no_prefill_models=tuple(ns.no_prefill),
        batch_delay_s=ns.batch_delay_s,
    )
