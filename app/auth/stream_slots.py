"""How many long-lived streams each principal holds open: a counter per key, in memory.

An open event stream polls its sweep's workflow every second for as long as it lasts, so the
number of streams is what bounds the Temporal queries one principal can cause; the read rate
limit only counts how often they are opened. Per API process, like the rate limiter.
"""

from __future__ import annotations

import threading


class StreamSlots:
    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def per_key(self) -> int:
        return self._per_key

    def take(self, key: str) -> bool:
        """One more stream for ``key``; False when it holds ``per_key`` already."""
        with self._lock:
            held = self._open.get(key, 0)
            if held >= self._per_key:
                return False
            self._open[key] = held + 1
            return True

    def give_back(self, key: str) -> None:
        with self._lock:
            held = self._open.get(key, 0) - 1
            if held > 0:
                self._open[key] = held
            else:
                self._open.pop(key, None)

    def held(self, key: str) -> int:
        with self._lock:
            return self._open.get(key, 0)
