"""Replays chat from a JSONL file: the demo, tests and benchmarks run the daemon on chat written down.

Each line is either a JSON string (the message) or an object with `text` and optionally `uid`, `uname`,
`kind`, `role` (viewer/moderator/streamer/operator), `msg_id`, `guard_level`, `price`, `medal_level`,
`home_medal` (true: this room's fan medal) and `t` (seconds from the
start of the replay). Lines are paced by `t` divided by `speed`; speed 0 replays as fast as possible.
A malformed line (bad JSON or UTF-8, a wrong type, a number out of range such as `1e400`, nesting too
deep, a `t` past a week) is logged with its line number and skipped: one bad line never ends the replay.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.errors import UserError
from bot.events import ChatEvent, EventKind, Role

log = logging.getLogger(__name__)


MAX_OFFSET_S = 7 * 86400.0
"""A `t` past a week is a mistake (a timestamp in place of an offset), not a pause to wait out."""
_INT_FIELDS = {"uid": 2**63 - 1, "guard_level": 9, "medal_level": 10_000}


def parse_line(line: str) -> tuple[float | None, ChatEvent]:
    """One JSONL line to (offset seconds or None, event); raises ValueError with a short reason."""
    try:
        obj: Any = json.loads(line)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if isinstance(obj, str):
        return None, ChatEvent(text=obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise ValueError("expected a string or an object with a string 'text'")
    t = obj.get("t")
    if t is not None and (not _is_number(t) or not 0 <= t <= MAX_OFFSET_S):
        raise ValueError(f"'t' must be a number of seconds from 0 to {MAX_OFFSET_S:.0f}")
    for key, most in _INT_FIELDS.items():
        value = obj.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
            raise ValueError(f"{key!r} must be a whole number from 0 to {most}")
    for key in ("uname", "msg_id", "kind", "role"):
        if not isinstance(obj.get(key, ""), str):
            raise ValueError(f"{key!r} must be a string")
    price = obj.get("price", 0.0)
    if not _is_number(price) or not 0 <= price < 1e9:
        raise ValueError("'price' must be a number from 0")
    event = ChatEvent(
        text=obj["text"],
        uid=obj.get("uid", 0),
        uname=obj.get("uname", ""),
        kind=EventKind(obj.get("kind", "danmaku")),
        msg_id=obj.get("msg_id", ""),
        role=Role(obj.get("role", "viewer")),
        guard_level=obj.get("guard_level", 0),
        price=float(price),
        medal_level=obj.get("medal_level", 0),
        home_medal=obj.get("home_medal", False) is True,
    )
    return (float(t) if t is not None else None), event


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class ReplayChatSource:
    connected = True

    def __init__(self, path: str, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.speed = speed
        self.bad_lines = 0

    async def events(self) -> AsyncIterator[ChatEvent]:
        try:
            data = await asyncio.to_thread(self.path.read_bytes)
        except OSError as err:
            raise UserError(f"source.path: cannot read replay file {self.path}: {err.strerror or err}") from None
        start = time.monotonic()
        for lineno, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                offset, event = parse_line(raw.decode("utf-8"))
            except (ValueError, TypeError, OverflowError) as err:  # UnicodeDecodeError is a ValueError
                self.bad_lines += 1
                log.warning("%s:%d: skipped malformed line: %s", self.path.name, lineno, str(err)[:200])
                continue
            if offset is not None and self.speed > 0:
                delay = start + offset / self.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield ChatEvent(**{**event.__dict__, "received_at": time.monotonic()})
