"""One control path: what moderators, the operator and the platform do to speech, applied in one place.

Chat commands, console lines, the HTTP API and platform actions (a ban, a withdrawn message, a cleared
chat) become typed control messages; the Controller applies each at once — control jumps ahead of data,
as pipecat's control frames do — to every stage that can hold a message, always in the same order:

    1. the speech queue            (waiting to be synthesised)
    2. the batch in synthesis      (its results are discarded when they come back) and results not yet
                                    handed to the output
    3. the output's pending audio  (synthesised, not yet heard)
    4. the one being heard         (cut, with the output's short fade)

Everything it drops is counted once, in the ledger, under the control's reason, and the count it returns
is that same number: a reply can never disagree with the counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.events import ChatEvent, SpeechRequest
from bot.ledger import Ledger
from bot.playback import Hearing
from bot.protocols import AudioSink
from bot.speech_queue import SpeechQueue


@dataclass(frozen=True)
class Withdraw:
    """Nothing matching may be heard any more: clear, a mute's purge, a ban, a recall, a cleared chat."""

    matches: Callable[[ChatEvent], bool]
    reason: str


@dataclass(frozen=True)
class Skip:
    """Cut the one being heard (only if it is request `seq`, when given)."""

    seq: int | None = None


@dataclass(frozen=True)
class Pause:
    """Hold speech after the one being heard; synthesis goes on up to the output's bound."""


@dataclass(frozen=True)
class Resume:
    pass


Control = Withdraw | Skip | Pause | Resume


@dataclass(frozen=True)
class Applied:
    dropped: int = 0
    """Messages that were not heard yet and now never will be."""
    cut: bool = False
    """The one being heard was cut."""


class InFlight:
    """Requests that left the queue and have not reached the output: the batch the GPU worker is
    synthesising and results not yet handed over. A withdrawn one is settled at once and its result
    thrown away when it comes back."""

    def __init__(self) -> None:
        self._held: dict[int, SpeechRequest] = {}

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, requests: Iterable[SpeechRequest]) -> None:
        self._held.update((r.seq, r) for r in requests)

    def release(self, request: SpeechRequest) -> bool:
        """Take it out to hand it on; False if it was withdrawn meanwhile (discard its result)."""
        return self._held.pop(request.seq, None) is not None

    def withdraw(self, matches: Callable[[SpeechRequest], bool]) -> list[SpeechRequest]:
        gone = [r for r in self._held.values() if matches(r)]
        for r in gone:
            del self._held[r.seq]
        return gone


class Controller:
    def __init__(
        self, queue: SpeechQueue, in_flight: InFlight, sink: AudioSink, hearing: Hearing, ledger: Ledger
    ) -> None:
        self.queue = queue
        self.in_flight = in_flight
        self.sink = sink
        self.hearing = hearing
        self.ledger = ledger
        self.paused = False

    def apply(self, control: Control) -> Applied:
        match control:
            case Withdraw(matches, reason):
                return self._withdraw(lambda r: matches(r.event), reason)
            case Skip(seq):
                return Applied(cut=self.sink.skip(seq))
            case Pause():
                self.paused = True
                self.sink.pause()
            case Resume():
                self.paused = False
                self.sink.resume()
        return Applied()

    def _withdraw(self, matches: Callable[[SpeechRequest], bool], reason: str) -> Applied:
        dropped = self.queue.remove(matches, reason)
        for request in self.in_flight.withdraw(matches):
            self.ledger.record_dropped(request, reason)
            dropped += 1
        dropped += self.sink.discard(matches, reason)
        current = self.hearing.current
        cut = current is not None and matches(current) and self.sink.skip(current.seq)
        return Applied(dropped, cut)
