"""Shared fixtures: the anyio backend, a real redis-server, and the upstream simulator."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.embedders.blas_threads import limit_blas_threads
from tests.support.redis_server import RedisServer, start_redis_server
from tests.support.search_server import start_search_server
from tests.support.simulator import RunningSimulator, run_simulator


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread_per_worker() -> None:
    # The test workers share two cores with the servers they start: single-threaded BLAS,
    # as `frugal serve` sets up for itself (spinning OpenBLAS threads stall everything else).
    limit_blas_threads(1)


@pytest.fixture(autouse=True)
def _own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default cost journal lives under the system temp dir, one file per pid: gateways of
    # different tests in one worker process must not replay each other's journals.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def anyio_backend() -> str:
    # aiohttp needs asyncio; uvloop is exercised by the served process, not the tests.
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, one per test worker."""
    with start_redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def search_server() -> Iterator[RedisServer]:
    """A real Valkey with the search module (vector indexes) on a free loopback port, one per
    test worker."""
    with start_search_server() as server:
        yield server


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """The upstream simulator on a free port with zero latency; faults off by default."""
    async with run_simulator() as running:
        yield running
