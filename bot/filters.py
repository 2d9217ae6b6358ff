"""From a chat event to what will be spoken, or a counted reason not to speak it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import TextConfig
from bot.events import ChatEvent, EventKind, SpeechRequest
from bot.text import clean_text, is_speakable


@dataclass(frozen=True)
class Dropped:
    reason: str


class MessageFilter:
    def __init__(self, cfg: TextConfig, default_voice: str) -> None:
        self.cfg = cfg
        self.default_voice = default_voice
        self._seq = 0
        self.banned: set[int] = set()
        """Viewers the room banned this run (uid 0, an anonymous viewer, is never a key)."""

    def apply(self, event: ChatEvent) -> SpeechRequest | Dropped:
        if event.kind in (EventKind.BAN, EventKind.RECALL):
            return Dropped("control")
        if event.uid and event.uid in self.banned:
            return Dropped("banned")
        text = clean_text(event.text, self.cfg.max_chars)
        if not is_speakable(text):
            return Dropped("unspeakable")
        if len(text) < self.cfg.min_chars:
            return Dropped("too_short")
        spoken = self.cfg.template.format(uname=clean_text(event.uname, 32), text=text)
        self._seq += 1
        return SpeechRequest(text=spoken, voice=self.default_voice, event=event, seq=self._seq)
