"""The bounded priority queue between the chat reader and the GPU worker.

Chat can outrun speech for hours (a message takes seconds to say; a busy room sends several a second),
so the queue decides what is worth the time, and reports everything it drops, by reason, to `on_drop`:

- Priority lanes (`bot.events.Priority`): the streamer's side and super chats first, then guard
  members, gifts' thanks, this room's medal holders, everyone else; first come first served in a lane.
- Full: the oldest item of the lowest non-empty lane is evicted (`queue_full`) — never a super chat.
  Super chats may exceed `max_size` up to `max_paid` (memory safety only; `paid_overflow`).
- Stale: an item that waited longer than `max_age_s` (super chats: `paid_max_age_s`) is dropped unspoken
  (`stale`): late chat is worse than none.
- Degrading on purpose: at `names_off_at` waiting items, names are no longer read (shorter utterances);
  at `paid_only_at`, the unpaid backlog is dropped (`shed`) and only paid and urgent messages are taken
  for `calm_s`; then the queue opens again and re-enters the mode if the flood is still on. Each mode
  is announced once per flood (back to normal ends a flood) through `on_mode`.

`put` never waits, so the reader never waits on the rest of the pipeline.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from enum import Enum

from bot.config import QueueConfig
from bot.events import Priority, SpeechRequest


class QueueMode(str, Enum):
    NORMAL = "normal"
    NAMES_OFF = "names_off"
    PAID_ONLY = "paid_only"


def _sheddable(item: SpeechRequest) -> bool:
    """What paid-only mode does not read: neither paid for nor the streamer's side."""
    return not (item.paid or item.priority == Priority.URGENT)


class SpeechQueue:
    def __init__(
        self,
        cfg: QueueConfig,
        on_drop: Callable[[SpeechRequest, str], object],
        clock: Callable[[], float] = time.monotonic,
        on_mode: Callable[[QueueMode, bool], None] | None = None,
    ) -> None:
        """`on_drop(item, reason)` is called for every item dropped: the one place drops are counted (the
        daemon's ledger). `on_mode(mode, first_in_flood)` is called on every mode change."""
        self.cfg = cfg
        self.mode = QueueMode.NORMAL
        self._clock = clock
        self._on_mode = on_mode
        self._on_drop = on_drop
        self._lanes: list[deque[SpeechRequest]] = [deque() for _ in Priority]
        self._mode_since = clock()
        self._announced: set[QueueMode] = set()
        self._ready = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes)

    def __iter__(self) -> Iterator[SpeechRequest]:
        """Waiting items in the order they would be spoken."""
        for lane in self._lanes:
            yield from lane

    def put(self, item: SpeechRequest) -> bool:
        """Enqueue without waiting; False when the item itself was dropped (and counted)."""
        if self._closed:
            self._drop(item, "shutting_down")
            return False
        self._prune_stale()
        self._update_mode()
        if self.mode == QueueMode.PAID_ONLY and _sheddable(item):
            self._drop(item, "shed")
            return False
        self._lanes[item.priority].append(item)
        kept = self._evict(item)
        self._update_mode()
        self._ready.set()
        return kept

    def _evict(self, newcomer: SpeechRequest) -> bool:
        kept = True
        while len(self) > self.cfg.max_size:
            victim = self._oldest_evictable()
            if victim is None:
                break
            self._lanes[victim.priority].remove(victim)
            self._drop(victim, "queue_full")
            kept = kept and victim is not newcomer
        protected = [item for item in self._lanes[Priority.URGENT] if item.protected] if newcomer.protected else []
        if len(protected) > self.cfg.max_paid:
            oldest = min(protected, key=lambda r: r.event.received_at)
            self._lanes[oldest.priority].remove(oldest)
            self._drop(oldest, "paid_overflow")
            kept = kept and oldest is not newcomer
        return kept

    def _oldest_evictable(self) -> SpeechRequest | None:
        for lane in reversed(self._lanes):
            for item in lane:
                if not item.protected:
                    return item
        return None

    def _is_stale(self, item: SpeechRequest, now: float) -> bool:
        limit = self.cfg.paid_max_age_s if item.protected else self.cfg.max_age_s
        return limit is not None and now - item.event.received_at > limit

    def _prune_stale(self) -> None:
        """Lanes are in arrival order, so the stale items are at their heads."""
        now = self._clock()
        for lane in self._lanes:
            while lane and self._is_stale(lane[0], now):
                self._drop(lane.popleft(), "stale")

    def _update_mode(self) -> None:
        for _ in range(3):  # paid only -> names off -> normal can happen at once (the backlog is gone)
            if not self._step_mode():
                return

    def _step_mode(self) -> bool:
        cfg, depth, now = self.cfg, len(self), self._clock()
        mode = self.mode
        if mode == QueueMode.NORMAL and now - self._mode_since >= cfg.calm_s:
            self._announced.clear()  # calm for a while: the flood is over, the next one is announced again
        if mode == QueueMode.PAID_ONLY:
            if now - self._mode_since >= cfg.calm_s:
                mode = QueueMode.NAMES_OFF if cfg.names_off_at else QueueMode.NORMAL
        elif cfg.paid_only_at and depth >= cfg.paid_only_at:
            mode = QueueMode.PAID_ONLY
        elif cfg.names_off_at and depth >= cfg.names_off_at:
            mode = QueueMode.NAMES_OFF
        elif mode == QueueMode.NAMES_OFF and (not cfg.names_off_at or depth <= cfg.names_off_at // 2):
            mode = QueueMode.NORMAL
        if mode == self.mode:
            return False
        self.mode = mode
        self._mode_since = now
        if mode == QueueMode.PAID_ONLY:
            self.remove(_sheddable, "shed")
        first = mode != QueueMode.NORMAL and mode not in self._announced
        self._announced.add(mode)
        if self._on_mode is not None:
            self._on_mode(mode, first)
        return True

    def close(self) -> None:
        """No more puts: `get` returns None once the remaining items are taken."""
        self._closed = True
        self._ready.set()

    def clear(self, reason: str) -> int:
        return self.remove(lambda r: True, reason)

    def remove(self, matches: Callable[[SpeechRequest], bool], reason: str) -> int:
        """Drop every waiting item that `matches` (a recalled message, a muted viewer's messages)."""
        removed = 0
        for lane in self._lanes:
            kept: deque[SpeechRequest] = deque()
            gone: list[SpeechRequest] = []
            for item in lane:
                (gone if matches(item) else kept).append(item)
            if not gone:
                continue
            lane.clear()
            lane.extend(kept)
            for item in gone:
                self._drop(item, reason)
            removed += len(gone)
        return removed

    def _drop(self, item: SpeechRequest, reason: str) -> None:
        self._on_drop(item, reason)

    def revoice(self, voices: set[str], voice_for: Callable[[int], str]) -> None:
        """After a reload: a waiting item whose voice was removed gets its viewer's voice now."""
        for lane in self._lanes:
            for i, item in enumerate(lane):
                if item.voice not in voices:
                    lane[i] = replace(item, voice=voice_for(item.event.uid))

    def _pop(self) -> SpeechRequest | None:
        self._prune_stale()
        self._update_mode()
        now = self._clock()
        for lane in self._lanes:
            while lane:
                item = lane.popleft()
                if self._is_stale(item, now):  # behind a super chat, whose age limit is longer
                    self._drop(item, "stale")
                    continue
                if self.mode != QueueMode.NORMAL and item.nameless_text:
                    item = replace(item, text=item.nameless_text)
                return item
        return None

    def take_ready(self, n: int) -> list[SpeechRequest]:
        """Up to `n` fresh items that are waiting now, most urgent first, without waiting (a batch)."""
        out: list[SpeechRequest] = []
        while len(out) < n and (item := self._pop()) is not None:
            out.append(item)
        return out

    async def get(self) -> SpeechRequest | None:
        """The next fresh item, most urgent first, or None when closed and empty."""
        while True:
            if (item := self._pop()) is not None:
                return item
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
