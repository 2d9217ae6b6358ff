"""What the audio output reports back: the single truth of what is being heard.

An output holds several utterances (the card's buffer, a bounded pending queue), so "handed to the
output" is not "heard". Each output therefore reports, in order and on the event loop:

    Started(request)            the listener began hearing it
    Finished(request, ending)   it ended: COMPLETE, or CUT (skip, clear, mute of the one being heard)
    Unplayed(request, reason)   it will never be heard (cleared, a muted viewer's, withdrawn, stale...)

Every utterance handed over gets exactly one of Finished (after its Started) or Unplayed. `mute last`,
`skip`, "now speaking", the captions overlay and chat-to-sound latency read these, never a guess.
(livekit-agents' audio output reports playback started/finished back to the agent the same way.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from bot.events import SpeechRequest

log = logging.getLogger(__name__)


class Ending(str, Enum):
    COMPLETE = "complete"
    CUT = "cut"


@dataclass(frozen=True)
class Started:
    request: SpeechRequest
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Finished:
    request: SpeechRequest
    ending: Ending = Ending.COMPLETE
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Unplayed:
    request: SpeechRequest
    reason: str
    at: float = field(default_factory=time.monotonic)


PlaybackEvent = Started | Finished | Unplayed
PlaybackListener = Callable[[PlaybackEvent], None]


class PlaybackReporter:
    """What every output shares: one listener (the daemon's), told synchronously on the event loop, so
    events arrive in the order they happened. A listener that raises is logged, never the output's
    problem."""

    on_playback: PlaybackListener | None = None

    def _report(self, event: PlaybackEvent) -> None:
        if self.on_playback is None:
            return
        try:
            self.on_playback(event)
        except Exception:
            log.exception("playback listener failed on %s", type(event).__name__)


class Hearing:
    """Who is being heard now and who was heard last, from the playback events alone."""

    def __init__(self) -> None:
        self.current: SpeechRequest | None = None
        self.last: SpeechRequest | None = None

    def update(self, event: PlaybackEvent) -> None:
        if isinstance(event, Started):
            self.current = self.last = event.request
        elif isinstance(event, Finished) and self.current is not None and self.current.seq == event.request.seq:
            self.current = None
