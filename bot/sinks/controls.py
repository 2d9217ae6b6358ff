"""Playback controls for sinks that write at once (files, nothing): pause has no boundary to wait for, and
each utterance is reported started and finished as it is written: for these outputs, written is heard.
The one thing left to cut is a streamed long message whose first part is written and whose rest is still
being synthesised: skip (or a mute/recall of it, which the controller turns into a skip) cancels that
rest, and the message is finished as cut."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bot.events import Pcm, SpeechRequest, Utterance
from bot.playback import Ending, Finished, PlaybackReporter, Started, Unplayed
from bot.sinks.streamed import drop_rest, rest_of


class ImmediateControls(PlaybackReporter):
    alive = True
    """Writing a file (or nothing) has no device to lose."""
    waiting = 0
    stale_after_s: float | None = None
    starved_seconds = 0.0
    device_underruns = 0
    callback_errors = 0

    _streaming: Utterance | None = None
    """The streamed message whose first part is written and whose rest is awaited."""

    async def start(self) -> None:
        return None

    async def play(self, utterance: Utterance) -> None:
        """Written, then reported started; a streamed long message's rest is waited for and appended
        (`append`), then it is reported finished. A write that fails is reported unplayed
        (`output_failed`), an append that fails finished (cut); either raises on to the daemon."""
        try:
            await self.write(utterance)
        except Exception:
            drop_rest(utterance)
            self._report(Unplayed(utterance.request, "output_failed"))
            raise
        self._report(Started(utterance.request))
        ending = Ending.CUT  # unless all of it was written
        self._streaming = utterance if utterance.rest is not None else None
        try:
            rest = await rest_of(utterance) if utterance.rest is not None else np.zeros(0, dtype=np.float32)
            if rest is not None:
                if len(rest):
                    await self.append(utterance, rest)
                ending = Ending.COMPLETE
        finally:
            self._streaming = None
            drop_rest(utterance)  # cancelled here (shutdown): nobody will want it
            self._report(Finished(utterance.request, ending))

    async def write(self, utterance: Utterance) -> None:
        """Where the audio goes (subclasses)."""
        return None

    async def append(self, utterance: Utterance, rest: Pcm) -> None:
        """The rest of a streamed utterance, right after what `write` wrote (subclasses)."""
        return None

    def skip(self, seq: int | None = None) -> bool:
        """Cut the streamed message whose rest is awaited (only if it is request `seq`, when given)."""
        utt = self._streaming
        if utt is None or seq not in (None, utt.request.seq) or utt.rest is None or utt.rest.done():
            return False
        drop_rest(utt)
        return True

    def discard(self, matches: Callable[[SpeechRequest], bool], reason: str) -> int:
        return 0

    def pause(self) -> None:
        return None

    def resume(self) -> None:
        return None
