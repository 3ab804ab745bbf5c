"""The throwaway redis-server of the tests; defined in `bench.redis_process` (the benches use it
too, and nothing outside ``tests`` may import ``tests``)."""

from bench.redis_process import (
    ControllableRedisServer,
    RedisServer,
    free_port,
    start_redis_server,
)

__all__ = ["ControllableRedisServer", "RedisServer", "free_port", "start_redis_server"]
