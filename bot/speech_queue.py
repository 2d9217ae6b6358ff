"""The bounded queue between the chat reader and the GPU worker.

Bounded because chat can outrun synthesis for hours: when full, the oldest waiting message is evicted
(stale chat is worse than none) and counted, and items older than `max_age_s` are dropped unspoken
when they reach the head. `put` never waits, so the reader never waits on the rest of the pipeline.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable

from bot.events import SpeechRequest


class SpeechQueue:
    def __init__(self, max_size: int, max_age_s: float, drops: Counter[str] | None = None) -> None:
        self.max_size = max_size
        self.max_age_s = max_age_s
        self.drops: Counter[str] = drops if drops is not None else Counter()
        self._items: deque[SpeechRequest] = deque()
        self._ready = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: SpeechRequest) -> None:
        """Enqueue without waiting; a full queue evicts its oldest item (counted as `queue_full`)."""
        if self._closed:
            self.drops["shutting_down"] += 1
            return
        if len(self._items) >= self.max_size:
            self._items.popleft()
            self.drops["queue_full"] += 1
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """No more puts: `get` returns None once the remaining items are taken."""
        self._closed = True
        self._ready.set()

    def clear(self, reason: str) -> int:
        n = len(self._items)
        self._items.clear()
        self.drops[reason] += n
        return n

    def remove(self, matches: Callable[[SpeechRequest], bool], reason: str) -> int:
        """Drop every waiting item that `matches` (a recalled message, a banned viewer's messages)."""
        kept = deque(item for item in self._items if not matches(item))
        removed = len(self._items) - len(kept)
        self._items = kept
        self.drops[reason] += removed
        return removed

    def take_ready(self, n: int) -> list[SpeechRequest]:
        """Up to `n` fresh items that are waiting now, without waiting (to fill a batch)."""
        out: list[SpeechRequest] = []
        while self._items and len(out) < n:
            item = self._items.popleft()
            if time.monotonic() - item.event.received_at > self.max_age_s:
                self.drops["stale"] += 1
            else:
                out.append(item)
        return out

    async def get(self) -> SpeechRequest | None:
        """The next fresh item, or None when closed and empty."""
        while True:
            while self._items:
                item = self._items.popleft()
                if time.monotonic() - item.event.received_at > self.max_age_s:
                    self.drops["stale"] += 1
                    continue
                return item
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
