"""`RedisRateLimiter`: the sliding-window limits shared by every replica through Redis.

Precision: an exact sliding log, to the millisecond. Each subject has a sorted set with one
member per charge (score: time in ms) and a hash of running totals, so a check is amortised
O(log n) and refusals scan only the log (bounded by the request limit). Check-and-add runs in
one Lua script, so concurrent requests on any number of replicas never admit past the limit.

Time: by default the script reads Redis's own ``TIME``, so replicas need no clock agreement.
A ``clock`` (wall-clock seconds, e.g. ``time.time``; `agent.testing.ManualClock` in tests) is
passed into the script instead when given; every replica must then use the same clock.

Redis unavailable (down, erroring, slower than ``op_timeout_s``): fail open. The request is
admitted (or decided by an optional local ``fallback`` limiter), the decision is marked
``degraded``, the error is counted in ``errors_total`` and a warning is logged at most once per
``log_interval_s``. Nothing from redis-py escapes this module.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError

from cache.errors import StoreUnavailable
from cache.keys import DEFAULT_NAMESPACE, RATE_LIMIT_PREFIX
from cache.redis_store import redis_op
from metrics import rate_limit_scripts
from metrics.rate_limit import Dimension, RateDecision, RateLimiter, RateLimits, window_states

_log = logging.getLogger(__name__)


class _CheckReply(msgspec.Struct, frozen=True):
    allowed: bool
    which: Dimension
    requests: int
    tokens: int
    wait_ms: int
    requests_reset_ms: int
    tokens_reset_ms: int

    @classmethod
    def parse(cls, reply: object) -> _CheckReply:
        if not isinstance(reply, list) or len(reply) != 7:
            raise RedisError(f"unexpected reply from the rate-limit script: {reply!r}")
        allowed, which, requests, tokens, wait_ms, requests_reset, tokens_reset = reply
        return cls(
            allowed=int(allowed) == 1,
            which="tokens" if which in (b"tokens", "tokens") else "requests",
            requests=int(requests),
            tokens=int(tokens),
            wait_ms=int(wait_ms),
            requests_reset_ms=int(requests_reset),
            tokens_reset_ms=int(tokens_reset),
        )


class RedisRateLimiter:
    """A `metrics.rate_limit.RateLimiter` in Redis, shared by every replica (see the module).

    Keys are ``<namespace>rl:{<hash of subject>}:log`` and ``...:sum``: the subject (maybe an
    API key) never appears in Redis, and both keys of a subject share a cluster slot. Every key
    expires one second after its window would be empty. `aclose` is the owner's job: the
    client is shared.
    """

    def __init__(
        self,
        client: redis.Redis,
        limits: RateLimits,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        clock: Callable[[], float] | None = None,
        op_timeout_s: float = 0.25,
        fallback: RateLimiter | None = None,
        log_interval_s: float = 30.0,
    ) -> None:
        if op_timeout_s <= 0:
            raise ValueError("op_timeout_s must be positive")
        self.limits = limits
        self.errors_total = 0
        self.errors_by_op: Counter[str] = Counter()  # the same failures by Redis operation
        self.fail_open_total = 0  # checks answered without Redis (local limits or none)
        self._namespace = namespace
        self._clock = clock
        self._timeout = op_timeout_s
        self._fallback = fallback
        self._window_ms = max(1, round(limits.window_s * 1000))
        self._check = client.register_script(rate_limit_scripts.CHECK)
        self._adjust = client.register_script(rate_limit_scripts.ADJUST)
        self._log_interval = log_interval_s
        self._last_log_at: float | None = None
        self._unlogged = 0
        self._failing = False

    async def check(self, subject: str, tokens: int = 0) -> RateDecision:
        """Admit one request of ``tokens`` estimated tokens, or refuse it (see the protocol)."""
        if tokens < 0:
            raise ValueError("tokens: expected zero or more")
        limits = self.limits
        args: list[str | int] = [
            self._now_arg(),
            self._window_ms,
            limits.requests or 0,
            limits.tokens or 0,
            tokens,
        ]
        r: _CheckReply | None = None
        with self._fail_open("check"):
            r = _CheckReply.parse(await self._check(keys=self._keys(subject), args=args))
        if r is None:
            return await self._degraded(subject, tokens)
        requests, token_state = window_states(
            limits,
            requests_counted=r.requests,
            tokens_counted=r.tokens,
            requests_reset_s=r.requests_reset_ms / 1000,
            tokens_reset_s=r.tokens_reset_ms / 1000,
        )
        refused = not r.allowed
        return RateDecision(
            allowed=r.allowed,
            requests=requests,
            tokens=token_state,
            retry_after_s=r.wait_ms / 1000 if refused and r.wait_ms >= 0 else None,
            which=r.which if refused else None,
        )

    async def adjust(self, subject: str, extra_tokens: int) -> None:
        """Count ``extra_tokens`` more for ``subject`` from now on (see the protocol)."""
        if extra_tokens < 0:
            raise ValueError("extra_tokens: expected zero or more")
        if extra_tokens == 0 or self.limits.tokens is None:
            return
        with self._fail_open("adjust"):
            args: list[str | int] = [self._now_arg(), self._window_ms, extra_tokens]
            await self._adjust(keys=self._keys(subject), args=args)
            return
        if self._fallback is not None:
            await self._fallback.adjust(subject, extra_tokens)

    def _keys(self, subject: str) -> list[str]:
        digest = hashlib.blake2b(subject.encode(), digest_size=16).hexdigest()
        base = f"{self._namespace}{RATE_LIMIT_PREFIX}{{{digest}}}"
        return [base + ":log", base + ":sum"]

    def _now_arg(self) -> str:
        return "" if self._clock is None else str(round(self._clock() * 1000))

    async def _degraded(self, subject: str, tokens: int) -> RateDecision:
        self.fail_open_total += 1
        if self._fallback is None:
            return RateDecision(allowed=True, degraded=True)
        decision = await self._fallback.check(subject, tokens)
        return msgspec.structs.replace(decision, degraded=True)

    @contextmanager
    def _fail_open(self, op: str) -> Iterator[None]:
        """Swallow (and report) Redis failures; the caller sees nothing was assigned."""
        try:
            with redis_op(op, self._timeout):
                yield
        except StoreUnavailable as exc:
            self.errors_by_op[exc.op] += 1
            self._failed(str(exc))
            return
        if self._failing:
            self._failing = False
            _log.info("rate limits shared through redis again after %d errors", self.errors_total)

    def _failed(self, reason: str) -> None:
        self.errors_total += 1
        self._unlogged += 1
        self._failing = True
        now = time.monotonic()
        if self._last_log_at is None or now - self._last_log_at >= self._log_interval:
            policy = "local limits" if self._fallback is not None else "admitting every request"
            _log.warning(
                "rate-limit store unavailable, %s (%d errors since last report): %s",
                policy,
                self._unlogged,
                reason,
            )
            self._last_log_at = now
            self._unlogged = 0
