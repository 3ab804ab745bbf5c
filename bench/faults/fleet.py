"""The system under test: one durable redis-server, two simulators, two gateway replicas.

The *faulty* simulator serves the main traffic with 20 % provider faults (4 % each of 429,
500, hang, a stream cut midway and a cut before the first token); ``gpt-4o-mini`` falls back
to the dearer ``gpt-4o`` there. The *clean* simulator serves the tight-budget tenant's model
(``mini-clean``, gpt-4o-mini's price) and the unpriced ``llama-local``, so the tight budget's
requests cost what the issue's example does (~222 micro-USD each). Every answer is 120
tokens long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.gateway_process import Server, gateway, simulator
from bench.redis_process import ControllableRedisServer
from metrics.pricing import ModelPrice

ACME_KEY = "acme-bench-key-0123456789abcdef"
ADA_KEY = "acme-ada-bench-key-0123456789ab"  # acme's key bound to user u-1001
BETA_KEY = "beta-bench-key-0123456789abcdef"
TIGHT_KEY = "tight-bench-key-0123456789abcdef"
HANGUP_KEY = "hangup-bench-key-0123456789abcd"
ADMIN_KEY = "admin-bench-key-0123456789abcdef"
TIGHT_CAP = 12_000
OUTPUT_TOKENS = 120
FAULT_KINDS = ("429", "500", "hang", "disconnect", "early_disconnect")
FAULT_RATE = 0.04  # of each kind: 20 % of provider answers fail

# What the registry bills, by model: the bench prices what the simulators produced the same way.
PRICES = {
    "gpt-4o-mini": ModelPrice(150_000, 600_000, 75_000, 150_000),
    "gpt-4o": ModelPrice(2_500_000, 10_000_000, 1_250_000, 2_500_000),
    "mini-clean": ModelPrice(150_000, 600_000, 75_000, 150_000),
    "llama-local": ModelPrice(1_000_000, 4_000_000, 1_000_000, 1_000_000),
}

_REGISTRY = """
[registry]
auto_aliases = ["auto"]

[[registry.providers]]
name = "openai"
kind = "openai"
base_url = "{faulty}/v1"
api_key_env = "OPENAI_API_KEY"

[[registry.providers]]
name = "clean"
kind = "openai"
base_url = "{clean}/v1"
api_key_env = "OPENAI_API_KEY"

[[registry.models]]
name = "gpt-4o-mini"
provider = "openai"
price = "150000/600000/75000/150000"
fallback = ["gpt-4o"]

[[registry.models]]
name = "gpt-4o"
provider = "openai"
price = "2500000/10000000/1250000/2500000"

[[registry.models]]
name = "mini-clean"
provider = "clean"
upstream_name = "gpt-4o-mini"
price = "150000/600000/75000/150000"

[[registry.models]]
name = "llama-local"
provider = "clean"
unpriced_allowed = true
worst_case_price = {{input = 1_000_000, output = 4_000_000}}
"""


@dataclass(frozen=True)
class Fleet:
    """What a run talks to: the two replicas, the two simulators and the Redis it can hurt."""

    gateways: tuple[Server, Server]
    faulty: Server
    clean: Server
    redis: ControllableRedisServer


def _settings(workdir: Path, redis_url: str, faulty: str, clean: str) -> dict[str, str]:
    registry = workdir / "frugal.toml"
    registry.write_text(_REGISTRY.format(faulty=faulty, clean=clean), encoding="utf-8")
    keys = (
        f"acme:{ACME_KEY}",
        f"acme:{ADA_KEY}:u-1001",
        f"beta:{BETA_KEY}",
        f"tight:{TIGHT_KEY}",
        f"hangup:{HANGUP_KEY}",
    )
    return {
        "FRUGAL_CONFIG": str(registry),
        "REDIS_URL": redis_url,
        "FRUGAL_SERVER_ADMIN_KEY": ADMIN_KEY,
        "FRUGAL_AUTH_API_KEYS": ",".join(keys),
        "FRUGAL_CACHE_SEMANTIC_ENABLED": "false",
        "FRUGAL_BUDGET_TENANT_OVERRIDES": f"tight={TIGHT_CAP}/",
        "FRUGAL_BUDGET_HOLD_MODE": "estimated",
        "FRUGAL_BUDGET_FAIL_OPEN": "false",
        "FRUGAL_COST_JOURNAL_DIR": str(workdir / "journal"),
        "FRUGAL_COST_JOURNAL_REPLAY_INTERVAL_S": "1",
        "FRUGAL_SERVER_BODY_READ_TIMEOUT_S": "2",
        "FRUGAL_FALLBACK_PRIMARY_TIMEOUT_S": "3",
        "FRUGAL_FALLBACK_TOTAL_DEADLINE_S": "10",
        "FRUGAL_FALLBACK_FIRST_TOKEN_TIMEOUT_S": "2",
        "FRUGAL_FALLBACK_STREAM_IDLE_TIMEOUT_S": "2",
        "FRUGAL_FALLBACK_BREAKER_FAILURE_THRESHOLD": "1000",
    }


def _simulator_args(*, faulty: bool) -> list[str]:
    args = ["--output-tokens", str(OUTPUT_TOKENS), "--tokens-per-s", "600", "--ttft-ms", "20"]
    if faulty:
        args += ["--seed", "16", "--retry-after-s", "0.2"]
        for kind in FAULT_KINDS:
            args += [f"--rate-{kind.replace('_', '-')}", str(FAULT_RATE)]
    return args


@contextmanager
def running_fleet(workdir: Path) -> Iterator[Fleet]:
    """Start everything (Redis first, replicas last) and stop it all when the block ends."""
    with ExitStack() as stack:
        redis = stack.enter_context(ControllableRedisServer(durable=True))
        faulty = stack.enter_context(simulator(_simulator_args(faulty=True)))
        clean = stack.enter_context(simulator(_simulator_args(faulty=False)))
        settings = _settings(workdir, redis.url, faulty.url, clean.url)
        replicas = (
            stack.enter_context(gateway(faulty.url, settings)),
            stack.enter_context(gateway(faulty.url, settings)),
        )
        yield Fleet(replicas, faulty, clean, redis)
