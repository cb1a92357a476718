"""Rate limiting (moving window), shared through Redis by every control plane when `REDIS_URL`
is set, else counted in this process's memory.

When Redis is lost while running, requests are still answered and counted in this process's
memory until Redis answers again; a warning is logged when it goes and a note when it is
back, not one per request. Refusing every request instead (failing closed) would turn a
Redis outage into an outage of the whole API for every tenant, which is worse than what the
limits guard against. Letting everything through (failing open) would drop the brake on key
guessing (failed authentications per address) too. Counting in memory keeps both limits per
process: a client gets at most the limit times the number of control planes meanwhile.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

logger = logging.getLogger("control_plane.ratelimit")

REDIS_TIMEOUT_SECONDS = 1.0
"""A Redis that has not answered in this long is taken as lost (it answers in a millisecond
on a healthy network); the request is counted in memory instead."""
REDIS_RETRY_SECONDS = 1.0
"""After Redis failed, requests count in memory this long before Redis is tried again, so an
unreachable Redis does not cost every request a timeout."""

T = TypeVar("T")


class RedisUnavailableError(Exception):
    """Redis did not answer; the message names why (without its address)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Redis is unreachable: {reason}")
        self.reason = reason


class Counters:
    """Where the limiters count: Redis when configured (shared by every control plane), this
    process's memory otherwise, and while Redis is out of reach."""

    def __init__(self, redis_url: str = "") -> None:
        self.redis_url = redis_url
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._redis: MovingWindowRateLimiter | None = None
        if redis_url:
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._redis = MovingWindowRateLimiter(storage)
        self._skip_redis_until = 0.0
        self._lost = False

    async def hit(self, item: RateLimitItem, key: str) -> bool:
        """Count one try of `key` against `item`; whether it was within the limit."""
        return await self._count(lambda limiter: limiter.hit(item, key))

    async def test(self, item: RateLimitItem, key: str) -> bool:
        """Whether one more try of `key` would be within `item`, without counting it."""
        return await self._count(lambda limiter: limiter.test(item, key))

    async def reset_time(self, item: RateLimitItem, key: str) -> float:
        """When (Unix time) `key`'s window of `item` frees a try."""
        stats = await self._count(lambda limiter: limiter.get_window_stats(item, key))
        return stats.reset_time

    async def _count(self, action: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        """Run `action` on the shared counters, or on this process's while Redis is lost."""
        if self._redis is not None and time.monotonic() >= self._skip_redis_until:
            try:
                result = await action(self._redis)
            except StorageError as exc:
                self._on_lost(exc.storage_error)
            else:
                self._on_answer()
                return result
        return await action(self._memory)

    async def ping(self) -> None:
        """`RedisUnavailableError` when Redis is configured and does not answer."""
        if self.redis_url:
            await ping_redis(self.redis_url)

    def _on_lost(self, exc: Exception) -> None:
        self._skip_redis_until = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._lost:
            logger.warning(
                "Redis is unreachable (%s): rate limits are counted per process until it answers",
                reason(exc),
            )
        self._lost = True

    def _on_answer(self) -> None:
        if self._lost:
            logger.info("Redis answers again: rate limits are shared again")
        self._lost = False


class RateLimiter:
    """`limit` in `limits` notation, e.g. `600/minute` or `10/second;600/hour`."""

    def __init__(self, limit: str, counters: Counters | None = None) -> None:
        self.items = parse_many(limit)
        self.counters = counters or Counters()

    async def hit(self, key: str) -> float | None:
        """Count one request for `key`; None if allowed, else seconds until it would be."""
        for item in self.items:
            if not await self.counters.hit(item, key):
                return await self._wait(item, key)
        return None

    async def blocked(self, key: str) -> float | None:
        """Seconds until `key` may try again, without counting a try; None if it may now."""
        for item in self.items:
            if not await self.counters.test(item, key):
                return await self._wait(item, key)
        return None

    async def _wait(self, item: RateLimitItem, key: str) -> float:
        reset_at = await self.counters.reset_time(item, key)
        return max(1.0, math.ceil(reset_at - time.time()))


async def ping_redis(url: str) -> None:
    """One PING; `RedisUnavailableError` naming why when Redis does not answer."""
    client = redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        await client.ping()
    except (redis.RedisError, OSError) as exc:
        raise RedisUnavailableError(reason(exc)) from exc
    finally:
        await client.aclose()


def reason(exc: BaseException) -> str:
    """Why Redis failed, in a few words and without its address (shown in `/health`)."""
    error: BaseException | None = exc
    while error is not None:
        if isinstance(error, OSError) and error.errno:
            return os.strerror(error.errno)
        error = error.__cause__ or error.__context__
    if isinstance(exc, redis.TimeoutError | TimeoutError):
        return "no answer in time"
    message = str(exc).strip()
    return message if message and "connecting to" not in message else type(exc).__name__
