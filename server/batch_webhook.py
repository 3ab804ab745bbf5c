"""The batch lane's optional completion webhook: the ended batch object POSTed as JSON,
signed with HMAC-SHA256 over ``<timestamp>.<body>`` and retried with backoff."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from urllib.parse import urlsplit

import aiohttp
import anyio
import msgspec

from agent.batch.wire import BatchObject

log = logging.getLogger("frugal.batch")

SIGNATURE_HEADER = "x-frugal-signature"
TIMESTAMP_HEADER = "x-frugal-timestamp"
_encoder = msgspec.json.Encoder()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``timestamp + "." + body``)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class BatchWebhook:
    """POSTs ``{"type": "batch.<status>", "data": <batch>}`` to ``url``; 5xx, timeouts and
    connection errors are retried up to ``max_attempts`` in all. Never raises; only the
    URL's scheme and host are logged (webhook URLs carry tokens)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        url: str,
        secret: str,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
    ) -> None:
        self._session = session
        self._url = url
        self._secret = secret
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.netloc}"

    async def send(self, batch: BatchObject) -> bool:
        """Deliver the event; True once the receiver answered 2xx."""
        body = _encoder.encode({"type": f"batch.{batch.status}", "data": batch})
        for attempt in range(1, self._max_attempts + 1):
            stamp = str(int(time.time()))
            headers = {
                "content-type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: signature(self._secret, stamp, body),
            }
            try:
                async with self._session.post(
                    self._url, data=body, headers=headers, timeout=self._timeout
                ) as response:
                    if response.status < 300:
                        return True
                    if response.status < 500:
                        log.warning("batch webhook %s refused: %d", self._where, response.status)
                        return False
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.info("batch webhook %s attempt %d failed: %s", self._where, attempt, exc)
            if attempt < self._max_attempts:
                await anyio.sleep(self._backoff_s * 2 ** (attempt - 1))
        log.warning("batch webhook %s: gave up after %d attempts", self._where, self._max_attempts)
        return False
