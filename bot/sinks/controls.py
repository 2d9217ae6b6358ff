"""Playback controls for sinks that write at once (files, nothing): there is never anything unheard to
cut, so skip/clear find nothing and pause has no boundary to wait for. Each utterance is reported started
and finished as it is written: for these outputs, written is heard."""

from __future__ import annotations

from collections.abc import Callable

from bot.events import SpeechRequest, Utterance
from bot.playback import Ending, Finished, PlaybackReporter, Started


class ImmediateControls(PlaybackReporter):
    alive = True
    """Writing a file (or nothing) has no device to lose."""
    waiting = 0
    stale_after_s: float | None = None
    starved_seconds = 0.0
    device_underruns = 0
    callback_errors = 0

    async def start(self) -> None:
        return None

    async def play(self, utterance: Utterance) -> None:
        """Reported started, written, reported finished — cut, if the write failed (it raises on)."""
        self._report(Started(utterance.request))
        ending = Ending.CUT
        try:
            await self.write(utterance)
            ending = Ending.COMPLETE
        finally:
            self._report(Finished(utterance.request, ending))

    async def write(self, utterance: Utterance) -> None:
        """Where the audio goes (subclasses)."""
        return None

    def skip(self, seq: int | None = None) -> bool:
        return False

    def discard(self, matches: Callable[[SpeechRequest], bool], reason: str) -> int:
        return 0

    def pause(self) -> None:
        return None

    def resume(self) -> None:
        return None
