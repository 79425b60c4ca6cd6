"""Per-token rate limiting of mutating calls: a token bucket per key, in memory.

Each key holds up to ``burst`` calls and refills at ``per_minute``. In memory means per API
process: with N replicas a token gets up to N times the rate, which still bounds what one
leaked or runaway token can start (GPU jobs); a shared store would be the next step.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()  # sync handlers run in a thread pool

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def acquire(self, key: str) -> float:
        """Take one call for ``key``: 0.0 when allowed, else the seconds until it would be."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._forget_full_buckets(now)
                bucket = self._buckets[key] = _Bucket(self._burst, now)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate

    def _forget_full_buckets(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket.
        refill = self._burst / self._rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill]:
            del self._buckets[key]


def retry_after_header(wait_seconds: float) -> str:
    """Retry-After takes whole seconds; round up so that a retry at that time succeeds."""
    return str(max(1, math.ceil(wait_seconds)))
