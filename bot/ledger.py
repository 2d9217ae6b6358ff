"""One ledger: every message the bot takes in ends in exactly one of spoken, failed or dropped(reason).

Stages do not keep their own tallies of what became of a message; they tell the ledger, which knows each
request still open by its sequence number, so a message can neither be counted twice (a withdrawn batch
whose results come back anyway) nor vanish (a sink that drops audio at shutdown). At any moment

    received = spoken + failed + Σ dropped + open

and once the pipeline is idle `open` is 0. Spoken means the listener began hearing it (the output's
`Started`); how it ended (complete or cut) is the output's report, counted apart as `cut`.
"""

from __future__ import annotations

import logging
from collections import Counter

from bot.events import SpeechRequest

log = logging.getLogger(__name__)


class Ledger:
    def __init__(self) -> None:
        self.received = 0
        self.spoken = 0
        self.failed = 0
        self.cut = 0
        self.drops: Counter[str] = Counter()
        self._open: set[int] = set()

    @property
    def open(self) -> int:
        """Messages taken in and not yet settled: waiting, being synthesised, or held by the output."""
        return len(self._open)

    def take(self, request: SpeechRequest) -> None:
        """A message enters the pipeline (it passed the filter)."""
        self.received += 1
        self._open.add(request.seq)

    def turn_away(self, reason: str) -> None:
        """A message the filter did not let in: received and dropped at once."""
        self.received += 1
        self.drops[reason] += 1

    def record_dropped(self, request: SpeechRequest, reason: str) -> bool:
        if not self._settle(request, f"dropped ({reason})"):
            return False
        self.drops[reason] += 1
        return True

    def record_spoken(self, request: SpeechRequest) -> bool:
        if not self._settle(request, "spoken"):
            return False
        self.spoken += 1
        return True

    def record_failed(self, request: SpeechRequest) -> bool:
        if not self._settle(request, "failed"):
            return False
        self.failed += 1
        return True

    def is_open(self, request: SpeechRequest) -> bool:
        return request.seq in self._open

    def _settle(self, request: SpeechRequest, outcome: str) -> bool:
        if request.seq not in self._open:
            log.error("message #%d was settled twice (now %s); counted once", request.seq, outcome)
            return False
        self._open.discard(request.seq)
        return True
