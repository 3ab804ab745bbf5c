"""Liveness (`/healthz`) and readiness (`/readyz`).

Liveness only says the process serves HTTP: it never checks a dependency, so a Redis or
provider outage never gets replicas restarted. Readiness turns 503 while a replica drains after
SIGTERM (`server.drain`) or cannot serve.

Readiness answers "should a load balancer send traffic here": the embedder embeds and every
model tier has a provider. Redis is not required to serve: while it is down the gateway answers
uncached, rate-limits per replica and journals cost records locally, so a failing Redis check
makes the replica *degraded* (200, ``"degraded": ["redis"]``), not unready. That holds even
when an enforced budget fails closed (its capped requests are refused until Redis is back): every
replica shares the one Redis, so taking them out of the balancer would only refuse the uncapped
traffic too; the check's detail says what the budget does meanwhile. Each check runs under its
own timeout, concurrently, so a hung dependency makes the probe fail fast instead of hang.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.drain import Drain
from server.providers import provider_for_model
from server.state import AppState, app_state

CHECK_TIMEOUT_S = 1.0


async def healthz(request: Request) -> JSONResponse:
    """The process is up and serving HTTP."""
    return JSONResponse({"status": "ok"})


class Check(msgspec.Struct):
    ok: bool
    detail: str


class Readiness(msgspec.Struct):
    """``status`` is ``ready``, ``degraded`` (serving without the checks named in ``degraded``)
    or ``not_ready``."""

    status: str
    checks: dict[str, Check]
    degraded: list[str]


_encoder = msgspec.json.Encoder()


def _budget_policy(state: AppState) -> str:
    # What an enforced budget does while its ledger (Redis) is unreachable.
    budget = state.settings.budget
    if not budget.enabled:
        return ""
    if budget.fail_open:
        return "; budgets: admitting capped requests unguarded (fail-open)"
    return "; budgets: refusing capped requests until Redis answers (fail-closed)"


async def readyz(request: Request) -> Response:
    """200 when the replica can serve (``degraded`` names optional dependencies that are down),
    else 503 naming the failing check."""
    state = app_state(request)
    checks: dict[str, Check] = {}

    async def run(name: str, probe_fn: Callable[[], Awaitable[Check]]) -> None:
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                checks[name] = await probe_fn()
        except TimeoutError:
            checks[name] = Check(False, f"no answer within {CHECK_TIMEOUT_S:g} s")
        except Exception as exc:  # a probe failing is the answer, not an error
            checks[name] = Check(False, f"{type(exc).__name__}: {exc}")

    async def redis_probe() -> Check:
        client = state.components.redis
        if client is None:
            return Check(True, "not configured (in-memory store)")
        await client.ping()
        return Check(True, "ping ok")

    async def embedder_probe() -> Check:
        embedder = state.components.embedder
        if state.settings.embedder.backend != "local":
            # A remote embedder is not called per probe: each call costs money.
            return Check(True, f"{embedder.name} configured")
        vectors = await embedder.embed(["ready"])
        return Check(len(vectors) == 1, f"{embedder.name} loaded")

    async def providers_probe() -> Check:
        models = state.settings.models
        served = {
            m: provider_for_model(state.settings, m)
            for m in (models.cheap, models.strong, models.fallback)
        }
        missing = [m for m, provider in served.items() if provider is None]
        if missing:
            return Check(False, f"no provider configured for {', '.join(missing)}")
        return Check(True, ", ".join(f"{m}: {p}" for m, p in served.items()))

    async with anyio.create_task_group() as group:
        group.start_soon(run, "redis", redis_probe)
        group.start_soon(run, "embedder", embedder_probe)
        group.start_soon(run, "providers", providers_probe)
    redis_check = checks.get("redis")
    if redis_check is not None and not redis_check.ok:
        checks["redis"] = Check(False, redis_check.detail + _budget_policy(state))
    drain = request.app.state.drain
    if isinstance(drain, Drain) and drain.draining:
        # SIGTERM: the balancer must stop sending here while requests in flight finish.
        checks["drain"] = Check(False, "draining after SIGTERM")
    optional = {"redis"}
    failing = sorted(name for name, check in checks.items() if not check.ok)
    degraded = [name for name in failing if name in optional]
    ready = len(degraded) == len(failing)
    status = ("degraded" if degraded else "ready") if ready else "not_ready"
    body = Readiness(status, dict(sorted(checks.items())), degraded)
    return Response(
        _encoder.encode(body),
        status_code=200 if ready else 503,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
