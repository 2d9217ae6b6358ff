"""Platform ids seen lately: how a source reads each paid event once.

Bilibili announces many things twice (a super chat and its translated twin, a gift as SEND_GIFT and
SEND_GIFT_V2, a guard up to three times) and may replay recent ones after a reconnect. Whatever carries the
platform's own id is remembered for `window_s`; a second sighting within it is a duplicate. Bounded: past
`max_ids` the oldest are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict


class RecentIds:
    def __init__(self, window_s: float = 600.0, max_ids: int = 10_000) -> None:
        self.window_s = window_s
        self.max_ids = max_ids
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen(self, key: str, now: float | None = None) -> bool:
        """True when `key` was already seen within the window; otherwise remembers it and says False."""
        now = time.monotonic() if now is None else now
        self._forget(now)
        if key in self._seen:
            return True
        self._seen[key] = now
        while len(self._seen) > self.max_ids:
            self._seen.popitem(last=False)
        return False

    def _forget(self, now: float) -> None:
        while self._seen and now - next(iter(self._seen.values())) > self.window_s:
            self._seen.popitem(last=False)
