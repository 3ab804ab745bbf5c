"""Budget alerts to an optional webhook: queued by the request path, POSTed in the background.

`AlertWebhook` is an `metrics.budget_alerts.AlertCallback`: calling it only enqueues, so the
request that crossed a threshold never waits on the network. `running()` owns the sender task.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
import anyio
import msgspec

from metrics.budget_alerts import BudgetAlert

log = logging.getLogger("frugal.budget")

_HEADERS = {"content-type": "application/json"}
_BACKOFF_S = 0.2  # doubled after each failed attempt
_ENCODER = msgspec.json.Encoder()


class _AlertEvent(BudgetAlert, frozen=True, tag="budget_alert", tag_field="type"):
    """The webhook body: the alert's fields plus ``"type": "budget_alert"``."""


class AlertWebhook:
    """POSTs each `BudgetAlert` as JSON to ``url``; never blocks the caller, never raises.

    At most ``max_pending`` alerts wait; more are dropped and counted. 5xx answers, connection
    errors and timeouts (``timeout_s`` per attempt) are retried up to ``max_attempts`` in all.
    Public counters: ``sent``, ``failed`` (gave up), ``dropped`` (queue full or closed).
    Only scheme, host and port of ``url`` are ever logged: webhook URLs carry tokens in their
    query or path. Use `running` once, for the app's lifetime.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        timeout_s: float = 5.0,
        max_pending: int = 100,
        max_attempts: int = 3,
    ) -> None:
        if max_pending < 1 or max_attempts < 1:
            raise ValueError("max_pending and max_attempts must be at least 1")
        self._session = session
        self._url = url
        self._where = _redact(url)
        self._timeout = timeout_s
        self._max_attempts = max_attempts
        self._send, self._receive = anyio.create_memory_object_stream[BudgetAlert](max_pending)
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    async def __call__(self, alert: BudgetAlert) -> None:
        """Queue ``alert`` for sending; drops it (counted, logged) when the queue is full."""
        try:
            self._send.send_nowait(alert)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._drop(1)

    @asynccontextmanager
    async def running(self, *, grace_s: float = 2.0) -> AsyncIterator[None]:
        """Run the sender until exit, then give it ``grace_s`` to flush what is queued."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._drain)
            try:
                yield
            finally:
                self._send.close()  # the sender stops once the queue is empty
                tg.cancel_scope.deadline = anyio.current_time() + grace_s
        left = self._receive.statistics().current_buffer_used
        self._receive.close()
        if left:
            self._drop(left)

    async def _drain(self) -> None:
        async for alert in self._receive:
            try:
                await self._deliver(alert)
            except anyio.get_cancelled_exc_class():
                self._drop(1)  # cut off by the shutdown grace
                raise
            except Exception as exc:
                # A bug here must not take the app down; the type is logged, never the URL.
                self.failed += 1
                log.error("budget alert webhook %s crashed: %s", self._where, type(exc).__name__)

    async def _deliver(self, alert: BudgetAlert) -> None:
        body = _ENCODER.encode(_AlertEvent(**msgspec.structs.asdict(alert)))
        reason = ""
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                await anyio.sleep(_BACKOFF_S * 2 ** (attempt - 2))
            status, reason = await self._post(body)
            if status is not None and status < 300:
                self.sent += 1
                return
            if status is not None and status < 500:
                break  # the receiver rejected this body; sending it again will not help
        self.failed += 1
        log.warning(
            "budget alert webhook %s failed after %d attempts: %s", self._where, attempt, reason
        )

    async def _post(self, body: bytes) -> tuple[int | None, str]:
        try:
            with anyio.fail_after(self._timeout):
                async with self._session.post(self._url, data=body, headers=_HEADERS) as resp:
                    await resp.read()
                    return resp.status, f"HTTP {resp.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # The exception text may quote the URL (and its token): keep only the type.
            return None, type(exc).__name__

    def _drop(self, count: int) -> None:
        self.dropped += count
        log.warning(
            "budget alert webhook %s: dropped %d alert(s), queue full or closed", self._where, count
        )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # drop any user:password@
    return f"{parts.scheme}://{host}"
