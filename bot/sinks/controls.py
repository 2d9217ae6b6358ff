"""Playback controls for sinks that write at once (files, nothing): there is never anything unheard to
cut, so skip/clear find nothing and pause has no boundary to wait for. Each utterance is reported started
and finished as it is written: for these outputs, written is heard."""

from __future__ import annotations

from collections.abc import Callable

from bot.events import SpeechRequest, Utterance
from bot.playback import Finished, PlaybackReporter, Started, Unplayed


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
        """Written, then reported started and finished; a write that fails is reported unplayed
        (`output_failed`) and raises on to the daemon."""
        try:
            await self.write(utterance)
        except Exception:
            self._report(Unplayed(utterance.request, "output_failed"))
            raise
        self._report(Started(utterance.request))
        self._report(Finished(utterance.request))

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
