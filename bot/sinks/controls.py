"""Playback controls for sinks that write at once (files, nothing): there is never anything unheard to
cut, so skip/clear find nothing and pause has no boundary to wait for."""

from __future__ import annotations

from collections.abc import Callable

from bot.events import Utterance


class ImmediateControls:
    alive = True
    """Writing a file (or nothing) has no device to lose."""

    async def start(self) -> None:
        return None

    def skip(self, seq: int | None = None) -> bool:
        return False

    def discard(self, matches: Callable[[Utterance], bool]) -> int:
        return 0

    def clear(self) -> int:
        return 0

    def pause(self) -> None:
        return None

    def resume(self) -> None:
        return None
