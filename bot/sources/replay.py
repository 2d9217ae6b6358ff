"""Replays chat from a JSONL file: the demo, tests and benchmarks run the daemon on recorded chat.

Each line is either a JSON string (the message) or an object with `text` and optionally `uid`, `uname`,
`kind`, `role` (viewer/moderator/streamer/operator), `msg_id`, `guard_level`, `price`, `medal_level`,
`home_medal` (true: this room's fan medal) and `t` (seconds from the
start of the replay). Lines are paced by `t` divided by `speed`; speed 0 replays as fast as possible.
A malformed line is logged with its line number and skipped: one bad line never ends the replay.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.errors import UserError
from bot.events import ChatEvent, EventKind, Role

log = logging.getLogger(__name__)


def parse_line(line: str) -> tuple[float | None, ChatEvent]:
    """One JSONL line to (offset seconds or None, event); raises ValueError with a short reason."""
    obj: Any = json.loads(line)
    if isinstance(obj, str):
        return None, ChatEvent(text=obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise ValueError("expected a string or an object with a string 'text'")
    t = obj.get("t")
    if t is not None and not isinstance(t, int | float):
        raise ValueError("'t' must be a number of seconds")
    event = ChatEvent(
        text=obj["text"],
        uid=int(obj.get("uid", 0)),
        uname=str(obj.get("uname", "")),
        kind=EventKind(obj.get("kind", "danmaku")),
        msg_id=str(obj.get("msg_id", "")),
        role=Role(obj.get("role", "viewer")),
        guard_level=int(obj.get("guard_level", 0)),
        price=float(obj.get("price", 0.0)),
        medal_level=int(obj.get("medal_level", 0)),
        home_medal=bool(obj.get("home_medal", False)),
    )
    return (float(t) if t is not None else None), event


class ReplayChatSource:
    connected = True

    def __init__(self, path: str, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.speed = speed
        self.bad_lines = 0

    async def events(self) -> AsyncIterator[ChatEvent]:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"source.path: cannot read replay file {self.path}: {err}") from None
        start = time.monotonic()
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                offset, event = parse_line(line)
            except (ValueError, TypeError) as err:
                self.bad_lines += 1
                log.warning("%s:%d: skipped malformed line: %s", self.path.name, lineno, err)
                continue
            if offset is not None and self.speed > 0:
                delay = start + offset / self.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield ChatEvent(**{**event.__dict__, "received_at": time.monotonic()})
