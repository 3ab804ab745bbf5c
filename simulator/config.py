"""Simulator configuration: the process-wide `SimConfig`, CLI flags, and per-request knobs."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from simulator.answer import Pace

FAULT_KINDS = ("429", "500", "401", "hang", "disconnect", "malformed", "context_length")
# The kinds drawn at random, in the order their rates are stacked on one uniform draw.
RANDOM_FAULTS = ("401", "429", "500", "hang", "disconnect", "malformed")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9100


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the simulator behaves. Latency 0 means as fast as possible; rates are 0..1."""

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
    retry_after_s: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.ttft_ms < 0 or self.tokens_per_s < 0:
            raise ValueError("ttft_ms and tokens_per_s must be >= 0")
        if self.output_tokens is not None and self.output_tokens < 1:
            raise ValueError("output_tokens must be >= 1")
        if self.embedding_dim < 1:
            raise ValueError("embedding_dim must be >= 1")
        rates = self.fault_rates()
        if any(not 0.0 <= rate <= 1.0 for rate in rates.values()) or sum(rates.values()) > 1.0:
            raise ValueError("fault rates must each be in 0..1 and sum to at most 1")

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
            f"--rate-{kind}", type=float, default=0.0, help=f"fraction of requests failing {kind}"
        )
    parser.add_argument(
        "--retry-after-s", type=float, default=1.0, help="Retry-After sent with 429"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault RNG")


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
    )
