"""Per-API-key rate limiting (moving window, in process memory)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many, storage, strategies


class RateLimiter:
    """`limit` in `limits` notation, e.g. `600/minute` or `10/second;600/hour`."""

    def __init__(self, limit: str) -> None:
        self.items = parse_many(limit)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def hit(self, key: str) -> float | None:
        """Count one request for `key`; None if allowed, else seconds until it would be."""
        for item in self.items:
            if not self._limiter.hit(item, key):
                return self._wait(item, key)
        return None

    def blocked(self, key: str) -> float | None:
        """Seconds until `key` may try again, without counting a try; None if it may now."""
        for item in self.items:
            if not self._limiter.test(item, key):
                return self._wait(item, key)
        return None

    def _wait(self, item: RateLimitItem, key: str) -> float:
        reset_at, _remaining = self._limiter.get_window_stats(item, key)
        return max(1.0, math.ceil(reset_at - time.time()))
