"""Captions for the stream: who and what is being heard right now, pushed to OBS browser sources.

The playback events are the only input (`bot/playback.py`): a line appears when its audio starts and
goes when it finishes or is cut, so the screen never shows what nobody hears (a muted viewer's line
vanishes with their voice). Each page gets Server-Sent Events from a bounded queue of its own: a stalled
browser loses old lines, never the daemon's memory, and the number of pages is capped.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.playback import Finished, Hearing, PlaybackEvent, Started

MAX_PAGES = 16
"""Overlay pages connected at once (an OBS scene or two, a preview): more are refused."""
PAGE_BACKLOG = 32
"""Caption events waiting for one slow page; past it the oldest is dropped."""


def _show(event: Started) -> dict[str, Any]:
    request = event.request
    return {"type": "show", "seq": request.seq, "uname": request.event.uname[:64], "text": request.text[:500]}


class Captions:
    def __init__(self, hearing: Hearing, max_pages: int = MAX_PAGES) -> None:
        self._hearing = hearing
        self.max_pages = max_pages
        self._pages: set[asyncio.Queue[dict[str, Any] | None]] = set()

    @property
    def pages(self) -> int:
        return len(self._pages)

    def on_playback(self, event: PlaybackEvent) -> None:
        if isinstance(event, Started):
            self._push(_show(event))
        elif isinstance(event, Finished):
            self._push({"type": "hide", "seq": event.request.seq, "ending": event.ending.value})

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None] | None:
        """A new page's queue, starting with what is heard now; None when MAX_PAGES are connected."""
        if len(self._pages) >= self.max_pages:
            return None
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=PAGE_BACKLOG)
        if (current := self._hearing.current) is not None:
            queue.put_nowait(_show(Started(current)))
        self._pages.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._pages.discard(queue)

    def close(self) -> None:
        """The daemon is stopping: every page's stream ends (browsers reconnect to the next run)."""
        for queue in self._pages:
            self._offer(queue, None)

    def _push(self, message: dict[str, Any]) -> None:
        for queue in self._pages:
            self._offer(queue, message)

    @staticmethod
    def _offer(queue: asyncio.Queue[dict[str, Any] | None], message: dict[str, Any] | None) -> None:
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(message)


def sse(message: dict[str, Any]) -> bytes:
    """One Server-Sent Event; JSON never contains a raw newline, so one `data:` line carries it."""
    return b"data: " + json.dumps(message, ensure_ascii=False).encode() + b"\n\n"
