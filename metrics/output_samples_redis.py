"""`RedisOutputSamples`: the recent output token counts per model, one Redis list each, shared
by every replica so their ``estimated`` holds agree.

A list ``<namespace>outsamples:<model>`` keeps the last ``window`` counts, appended by every
replica and trimmed in the same pipeline; it expires a day after its last answer. Redis errors
and timeouts become `cache.errors.StoreUnavailable` here and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import redis.asyncio as redis

from cache.keys import DEFAULT_NAMESPACE, OUTPUT_SAMPLES_PREFIX, OUTPUT_SAMPLES_TTL_S
from cache.redis_store import redis_op


class RedisOutputSamples:
    """A `metrics.output_estimate.OutputSamples` in Redis (see the module)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        op_timeout_s: float = 0.25,
        ttl_s: float = OUTPUT_SAMPLES_TTL_S,
    ) -> None:
        self._client = client
        self._prefix = namespace + OUTPUT_SAMPLES_PREFIX
        self._timeout = op_timeout_s
        self._ttl_ms = math.ceil(ttl_s * 1000)

    async def exchange(
        self, new: Mapping[str, Sequence[int]], models: Sequence[str], *, window: int
    ) -> dict[str, list[int]]:
        """Append ``new`` (per model, oldest first) and return the last ``window`` counts of
        each of ``models`` (a model nobody has answered for yet is left out)."""
        with redis_op("output samples", self._timeout):
            async with self._client.pipeline(transaction=False) as pipe:
                for model, tokens in new.items():
                    if tokens:
                        key = self._prefix + model
                        pipe.rpush(key, *tokens)
                        pipe.ltrim(key, -window, -1)
                        pipe.pexpire(key, self._ttl_ms)
                for model in models:
                    pipe.lrange(self._prefix + model, -window, -1)
                replies = await pipe.execute()
        lists = replies[len(replies) - len(models) :] if models else []
        return {
            model: [int(value) for value in values]
            for model, values in zip(models, lists, strict=True)
            if values
        }
