"""Per-viewer rate limits and duplicate suppression, both bounded in memory for weeks of chat.

Why: one viewer pasting a message every second, or a room repeating the same meme, would otherwise own
the voice. Both structures forget the least recently seen keys beyond `max_keys`, so a raid of 100 000
distinct viewers cannot grow them without bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class TokenBuckets:
    """One token bucket per key: `burst` messages at once, then `per_minute` refilled evenly."""

    def __init__(
        self,
        burst: int,
        per_minute: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def allow(self, key: Hashable) -> bool:
        """Take a token for `key` if it has one."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed


class RecentTexts:
    """Texts said within the last `window_s` seconds, by anyone."""

    def __init__(self, window_s: float, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen_recently(self, text: str) -> bool:
        """True if `text` was recorded within the window; records it either way (the window restarts)."""
        now = self._clock()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= self.window_s and len(self._seen) < self.max_keys:
                break
            del self._seen[oldest]
        last = self._seen.pop(text, None)
        self._seen[text] = now
        return last is not None and now - last <= self.window_s
