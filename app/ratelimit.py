"""Rate limiting: a token bucket per API key, and one per client address for requests whose
key is refused, in this process's memory.

Keyed on the id of the key that authenticated the request, never on anything else the client
sends (an X-Forwarded-For header, say), so a client can neither dodge its budget nor spend
another's. Each process keeps its own buckets: with N processes (or `--workers N`) a key may
make up to N times the configured rate. PostgreSQL can hold shared buckets when that matters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


# Buckets kept before the full ones (those that would allow a whole burst) are dropped:
# keys that come from clients (addresses) must not grow the process's memory without end.
MAX_BUCKETS = 10_000


class RateLimiter:
    """`per_second` requests per second on average, up to `burst` at once; 0 turns it off."""

    def __init__(
        self,
        per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.per_second, self.burst, self.clock = per_second, burst, clock
        self.max_buckets = max_buckets
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, key: str) -> int:
        """Spends one request of `key`'s budget: 0 when allowed, else the whole seconds to wait
        before the next one is (for Retry-After)."""
        if not self.enabled:
            return 0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            elapsed = max(now - bucket.stamp, 0.0)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_second)
            bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / self.per_second))

    def _prune(self, now: float) -> None:
        """Forgets the buckets that have refilled: forgetting them changes nothing."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + max(now - bucket.stamp, 0.0) * self.per_second >= self.burst
        ]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
